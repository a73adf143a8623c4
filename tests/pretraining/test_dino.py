"""The DINO objective: multi-crop views, an EMA teacher, a finite loss that trains the student only."""

from __future__ import annotations

import pytest
import torch

from real3d.errors import Real3DError
from real3d.pretraining.dino import DINO, DINOSettings, sinkhorn_knopp
from real3d.pretraining.encoder import read_vit_config


@pytest.fixture
def dino() -> DINO:
    torch.manual_seed(0)
    return DINO(read_vit_config(), DINOSettings(out_dim=32, local_crops=2)).train()


def test_views_are_two_global_and_the_local_crops(dino: DINO) -> None:
    globals_, locals_ = dino.views(torch.rand(3, 3, 64, 64))
    assert globals_.shape == (6, 3, 64, 64)
    assert locals_.shape == (6, 3, 32, 32)


def test_loss_trains_the_student_and_updates_the_center_not_the_teacher(dino: DINO) -> None:
    loss = dino(torch.rand(2, 3, 64, 64))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in dino.teacher.parameters())
    assert dino.student.head.prototypes.grad is not None
    assert bool(dino.center.abs().sum() > 0)


def test_teacher_is_an_exponential_moving_average_of_the_student(dino: DINO) -> None:
    teacher_before = dino.teacher.head.prototypes.detach().clone()
    with torch.no_grad():
        dino.student.head.prototypes.add_(1.0)
    dino.update(step=0, total_steps=10)  # momentum = settings.momentum at the start
    m = dino.settings.momentum
    expected = m * teacher_before + (1 - m) * dino.student.head.prototypes.detach()
    torch.testing.assert_close(dino.teacher.head.prototypes, expected)
    dino.update(step=10, total_steps=10)  # momentum 1 at the end: the teacher stays
    torch.testing.assert_close(dino.teacher.head.prototypes, expected)


def test_encoder_is_a_copy_of_the_teacher_vit(dino: DINO) -> None:
    vit = dino.encoder()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(vit(images).last_hidden_state, dino.teacher.vit(images).last_hidden_state)
    assert vit.embeddings.cls_token is not dino.teacher.vit.embeddings.cls_token


def test_sinkhorn_targets_are_distributions_sharing_the_prototypes_equally() -> None:
    logits = torch.randn(8, 4)
    logits[:, 0] += 3.0  # every sample prefers prototype 0 ...
    targets = sinkhorn_knopp(logits, temperature=0.5, iterations=50)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(8))
    torch.testing.assert_close(targets.sum(dim=0), torch.full((4,), 2.0), atol=1e-3, rtol=0)  # ... but gets 1/4


def test_sinkhorn_centering_gives_a_finite_loss_and_unknown_centering_is_refused() -> None:
    torch.manual_seed(0)
    dino = DINO(read_vit_config(), DINOSettings(out_dim=16, local_crops=1, centering="sinkhorn"))
    assert torch.isfinite(dino(torch.rand(2, 3, 64, 64)))
    with pytest.raises(Real3DError, match="centering"):
        DINO(read_vit_config(), DINOSettings(centering="median"))
