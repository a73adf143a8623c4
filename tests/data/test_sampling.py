"""The training order: a function of (seed, stream, epoch, pass), shared out across ranks, resumable."""

from __future__ import annotations

from real3d.data.sampling import LoaderPosition, ResumableSampler

ITEMS = list(range(10))


def test_every_epoch_pass_and_stream_has_its_own_order():
    sampler = ResumableSampler(ITEMS, num_replicas=1, rank=0, seed=5)
    first, second = list(sampler), list(sampler)  # two passes of epoch 0
    assert sorted(first) == sorted(second) == ITEMS and first != second
    sampler.set_epoch(1)
    assert list(sampler) not in (first, second)
    assert list(ResumableSampler(ITEMS, 1, 0, seed=5)) == first  # a function of its arguments only
    assert list(ResumableSampler(ITEMS, 1, 0, seed=5, stream=1)) != first


def test_ranks_share_out_each_pass():
    shares = [list(ResumableSampler(ITEMS, num_replicas=3, rank=r, seed=0)) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]  # padded to equal shares, like DistributedSampler
    assert set(shares[0] + shares[1] + shares[2]) == set(ITEMS)


def test_resume_at_skips_the_batches_done_and_then_goes_on():
    straight = ResumableSampler(ITEMS, 1, 0, seed=2)
    straight.set_epoch(3)
    passes = [list(straight), list(straight)]
    resumed = ResumableSampler(ITEMS, 1, 0, seed=2)
    resumed.resume_at(LoaderPosition.after(epoch=3, batches_in_epoch=7, pass_length=5), batch_size=2)
    assert list(resumed) == passes[1][4:]  # pass 1 of epoch 3, after its 2 batches of 2
    resumed.set_epoch(3)  # Lightning's call at the epoch's start leaves the epoch's passes alone
    assert resumed.pass_index == 2
    resumed.set_epoch(4)
    assert resumed.pass_index == 0
