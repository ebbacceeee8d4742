"""Faster CPU versions of two pieces of a transformer that cost more than their math: dropout and attention.

Same math, cheaper execution (measured on the 2-core Sapphire Rapids box, MiniLM at sentence lengths):

* Dropout. `torch.nn.functional.dropout` draws one 32-bit random number per element through `bernoulli_`
  (2.3 ms for a [32, 30, 384] tensor, ~17% of a training step). `fast_dropout` here draws 64 random bits and
  uses them as four 16-bit uniforms, one per element (~1 ms with its backward bookkeeping). The keep probability is 1 - p rounded to
  1/65536; kept values are scaled by 1 / (1 - p), as in PyTorch. The random numbers come from torch's
  default generator, so `torch.manual_seed` and checkpointed RNG state make runs reproducible as before.

* Attention. `attention` is the textbook eager attention (scores, additive mask, softmax, dropout, weighted
  sum) with two changes: the fast dropout, and, under bf16 autocast, scores and probabilities stay in bf16
  (the softmax accumulates in fp32 inside the kernel). HF's eager path adds the fp32 mask and so keeps fp32
  probabilities for the backward pass. Measured on MiniLM, a [16, 384] training step
  (benchmarks/bench_attention.py): 2312 MB peak and 2.7-3.5 s here, 2394 MB and 3.3-4.0 s for HF's eager,
  3704 MB and 5.3-5.9 s for SDPA; at sentence lengths the three are within 10% in speed and 20-40 MB in memory.
  It is registered with transformers' AttentionInterface as "labeltune", and is used only for model types
  whose own eager attention is exactly this formula (checked in tests/test_kernels.py).
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_NAME = "labeltune"
# model types whose eager attention is the plain formula below (no sliding window, soft-capping, sinks, ...)
# and have attention dropout, where the kernel pays. Llama's eager attention is the same formula (the kernel
# handles its grouped-query heads: `--attention labeltune`), but it has no attention dropout, and on SmolLM2
# the kernel measured 12-20% slower than HF's eager there (benchmarks/bench_levers.py), so auto keeps HF's.
PLAIN_ATTENTION_MODELS = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}


class _MaskedScale(torch.autograd.Function):
    """y = x * keep / (1 - p); saves only the boolean mask (1 byte per element) for the backward pass."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0).mul_(ctx.scale), None, None


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    n = x.numel()
    # random_(lo, hi) over the whole int64 range: 64 uniform bits per draw, read as four int16 uniforms
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), 2**63 - 1)
    uniform16 = bits.view(torch.int16)[:n].view(x.shape)
    keep = uniform16 >= round(p * 65536) - 32768  # P(keep) = 1 - p, to 1/65536
    return _MaskedScale.apply(x, keep, 1.0 / (1.0 - p))


class Dropout(nn.Module):
    """Drop-in for nn.Dropout with the cheaper mask (no parameters, so state dicts are unchanged)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def attention(module, query, key, value, attention_mask, scaling=None, dropout: float = 0.0, **kwargs):
    """Eager attention for transformers' AttentionInterface: [batch, heads, len, dim] in, [batch, len, heads, dim] out."""
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        mask = attention_mask[:, :, :, : key.shape[-2]]
        if mask.dtype != scores.dtype:  # fp32's lowest value is -inf in bf16; keep fully masked rows finite
            mask = mask.to(scores.dtype).clamp(min=torch.finfo(scores.dtype).min)
        scores = scores + mask
    with torch.autocast(scores.device.type, enabled=False):
        probs = torch.softmax(scores, dim=-1)  # in the scores' dtype; the kernel accumulates in fp32
    probs = fast_dropout(probs, dropout, module.training)
    out = torch.matmul(probs.to(value.dtype), value)
    return out.transpose(1, 2).contiguous(), probs


def register() -> None:
    """Make "labeltune" a valid attn_implementation (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(ATTENTION_NAME, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, eager_mask)


def use_fast_dropout(model) -> int:
    """Swap every nn.Dropout in `model` for `Dropout`; returns how many were swapped."""
    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, Dropout(child.p).train(child.training))
                swapped += 1
    return swapped
