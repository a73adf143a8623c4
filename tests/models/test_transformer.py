"""The backbone's attention: the blockwise CPU-bf16 path computes what the fused kernel computes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from real3d.models.transformer import Attention, blockwise_attention


def test_blockwise_attention_equals_sdpa_in_fp32() -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 37, 8)  # a length that is not a multiple of the block
    k, v = torch.randn(2, 3, 11, 8), torch.randn(2, 3, 11, 8)
    expected = F.scaled_dot_product_attention(q, k, v)
    assert (blockwise_attention(q, k, v, block=5) - expected).abs().max() < 1e-6


def test_bf16_attention_on_cpu_uses_blocks_and_stays_close() -> None:
    torch.manual_seed(0)
    fused = Attention(32, heads=4, dim_head=8, cross_attention_dim=16).eval()
    blocked = Attention(32, heads=4, dim_head=8, cross_attention_dim=16, cpu_bf16_block=4).eval()
    blocked.load_state_dict(fused.state_dict())
    x, context = torch.randn(1, 13, 32), torch.randn(1, 9, 16)
    with torch.no_grad():
        fp32 = fused(x, context)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fused_bf16, blocked_bf16 = fused(x, context), blocked(x, context)
    assert blocked_bf16.dtype == torch.bfloat16
    assert (blocked_bf16.float() - fp32).abs().max() < 0.05
    assert (blocked_bf16.float() - fused_bf16.float()).abs().max() < 0.05
    assert not torch.equal(blocked_bf16, fused_bf16)  # the blockwise path did run


def test_training_keeps_the_fused_kernel_under_bf16() -> None:
    torch.manual_seed(0)
    blocked = Attention(32, heads=4, dim_head=8, cpu_bf16_block=4)
    fused = Attention(32, heads=4, dim_head=8)
    fused.load_state_dict(blocked.state_dict())
    x = torch.randn(1, 13, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(blocked(x), fused(x))
