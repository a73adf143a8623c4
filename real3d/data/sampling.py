"""The training loaders' item order: shuffled per (seed, epoch, pass) and sharded across ranks, and
saved in checkpoints through Lightning's stateful-loader interface, so that a run resumed from a
mid-epoch checkpoint goes on with the very items the straight run would have drawn next (Lightning
restarts a plain loader at the start of the epoch, in a new order).

A "pass" is one iteration over the loader: the longest training loader makes one per epoch, a
shorter one is restarted within the epoch by Lightning's "max_size_cycle" combination, and each
restart is a new pass with its own order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

logger = logging.getLogger(__name__)


def pass_seed(seed: int, stream: int, epoch: int, pass_index: int) -> int:
    """A generator seed for one pass, distinct for every (seed, stream, epoch, pass)."""
    state = np.random.SeedSequence([seed, stream, epoch, pass_index]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> 1)


@dataclass(frozen=True)
class LoaderPosition:
    """Where a training loader stands: the epoch, the pass within it and the batches done in that pass."""

    epoch: int
    pass_index: int
    batches: int

    @classmethod
    def after(cls, epoch: int, batches_in_epoch: int, pass_length: int) -> LoaderPosition:
        """The position of a loader of `pass_length` batches after `batches_in_epoch` combined batches."""
        return cls(epoch, batches_in_epoch // pass_length, batches_in_epoch % pass_length)


class ResumableSampler(DistributedSampler):
    """This rank's share of a shuffled order that depends only on (seed, stream, epoch, pass) (one
    stream per training loader, so that their orders are independent); `resume_at` makes the next
    pass the given one, without its first batches.

    A `DistributedSampler`, so Lightning keeps it under DDP instead of injecting its own.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int, stream: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.stream = stream
        self.pass_index = 0  # passes started in this epoch
        self._skip = 0  # samples of this rank to leave out of the next pass

    def set_epoch(self, epoch: int) -> None:
        """A new epoch starts its passes from 0; the current one is left as it is (Lightning calls
        this after the first pass's iterator of a run already exists)."""
        if epoch != self.epoch:
            super().set_epoch(epoch)
            self.pass_index = 0

    def resume_at(self, position: LoaderPosition, batch_size: int) -> None:
        """Start the next pass at `position` (the batches already done are skipped, not loaded)."""
        self.epoch, self.pass_index, self._skip = position.epoch, position.pass_index, position.batches * batch_size

    def pass_order(self, epoch: int, pass_index: int) -> list[int]:
        """This rank's items in one pass (padded like `DistributedSampler` to equal shares)."""
        n = len(self.dataset)  # type: ignore[arg-type]
        generator = torch.Generator().manual_seed(pass_seed(self.seed, self.stream, epoch, pass_index))
        order = torch.randperm(n, generator=generator).tolist()
        if self.total_size > n:
            order += (order * (self.total_size // n + 1))[: self.total_size - n]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        order = self.pass_order(self.epoch, self.pass_index)
        skip, self._skip = self._skip, 0
        self.pass_index += 1
        return iter(order[skip:])


class ResumableLoader(DataLoader):
    """A training `DataLoader` over a `ResumableSampler` whose place in the order Lightning saves
    with the fit loop (`state_dict`) and restores before the first batch (`load_state_dict`).

    `progress()` gives (batches trained so far in the fit, batches per epoch), from the trainer.
    """

    def __init__(self, *args: Any, progress: Callable[[], tuple[int, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, ResumableSampler):
            raise TypeError("ResumableLoader needs a ResumableSampler")
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        """Batches trained, epoch length, this loader's batches per pass and the number of processes."""
        batches, epoch_length = self.progress()
        return {
            "batches": batches,
            "epoch_length": epoch_length,
            "pass_length": len(self),
            "world_size": self.sampler.num_replicas,
        }

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Make the next pass continue where the checkpoint's run was; with other data or another
        number of processes the order restarts instead (warned)."""
        saved = (state_dict["pass_length"], state_dict["world_size"])
        if saved != (len(self), self.sampler.num_replicas):
            logger.warning(
                "resuming with other data or another number of processes than the checkpoint's "
                "(%d batches per pass on %d processes, now %d on %d): the training order restarts",
                *saved,
                len(self),
                self.sampler.num_replicas,
            )
            return
        epoch, done = divmod(state_dict["batches"], state_dict["epoch_length"])
        self.sampler.resume_at(LoaderPosition.after(epoch, done, len(self)), int(self.batch_size))
        logger.info("training order resumed at epoch %d, batch %d of %d", epoch, done, state_dict["epoch_length"])
