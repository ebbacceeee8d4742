"""Batched inference shared by every task's evaluate and predict.

Features are sorted by length so each batch pads little, run under inference mode in the chosen
precision, and handed back in their original order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .batching import sorted_batches
from .models import autocast

# The fixed price of one forward pass, in padded tokens: a MiniLM forward on 2 CPU cores costs about 10 ms plus
# 0.07 ms per padded token (measured in bf16), so a lone example costs as much as ~135 tokens of padding. Batches
# of mixed lengths (a server's gathered requests) are cut where a second pass is cheaper than the padding.
FORWARD_OVERHEAD_TOKENS = 128


@torch.inference_mode()
def run_batches(rt, features: list[dict], collate: Callable, outputs: Callable) -> list:
    """`outputs(model_output, batch) -> list` (one item per feature), in the order of `features`."""
    was_training = rt.model.training
    rt.model.eval()
    results = [None] * len(features)
    lengths = [len(f["input_ids"]) for f in features]
    try:
        for idx in sorted_batches(lengths, rt.batch_size, FORWARD_OVERHEAD_TOKENS):
            batch = collate([features[i] for i in idx])
            batch = {k: v.to(rt.device) for k, v in batch.items() if k != "labels"}
            with autocast(rt.device, rt.precision):
                out = rt.model(**batch)
            for i, item in zip(idx, outputs(out, batch)):
                results[i] = item
    finally:
        rt.model.train(was_training)
    return results
