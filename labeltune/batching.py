"""Batches: which examples go together, and how they become padded tensors.

Padding is dynamic (to the longest sequence of the batch, never to a fixed length) and batches are grouped
by length, so little compute is spent on pad tokens. Batch order depends only on (seed, epoch): a resumed
run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import random

import torch


def make_batches(
    lengths: list[int], batch_size: int, seed: int, epoch: int, group_by_length: bool = True, shuffle: bool = True,
    max_tokens: int = 0,
) -> list[list[int]]:
    """Index batches for one epoch.

    With `group_by_length`, a seeded shuffle is cut into windows of 50 batches, each window is sorted by
    length and cut into batches, and the batches are shuffled again: batches hold similar lengths while
    the order stays random (the idea of HF's LengthGroupedSampler).

    With `max_tokens`, a batch holds as many examples as fit in that many padded tokens (examples x the
    longest), instead of `batch_size` examples: many short sentences or a few long ones (fairseq's
    --max-tokens). The window is then about 50 batches of the mean length.
    """
    idx = list(range(len(lengths)))
    rng = random.Random(seed * 100_003 + epoch)
    if shuffle:
        rng.shuffle(idx)
    if group_by_length:
        per_batch = batch_size if not max_tokens else max(1, max_tokens * len(lengths) // max(1, sum(lengths)))
        window = per_batch * 50
        idx = [
            i
            for start in range(0, len(idx), window)
            for i in sorted(idx[start : start + window], key=lambda i: -lengths[i])
        ]
    if max_tokens:
        batches, current, longest = [], [], 0
        for i in idx:
            if current and (len(current) + 1) * max(longest, lengths[i]) > max_tokens:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, lengths[i])
        batches += [current] if current else []
    else:
        batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if shuffle and group_by_length:
        rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int, overhead_tokens: int = 0) -> list[list[int]]:
    """Inference batches: sorted by length (least padding); callers restore the original order.

    With `overhead_tokens`, the sorted list is cut where it costs least instead of every `batch_size`: a batch
    costs `overhead_tokens` (the fixed price of one forward pass, in padded tokens) plus its examples x its
    longest, and a dynamic program picks the cuts (each batch at most `batch_size`). On a few mixed lengths
    (a server's gathered requests) that splits short from long examples; on a long sorted list it changes little.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if not overhead_tokens or len(order) <= 1:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    longest = [lengths[i] for i in order]
    best, cut = [0] + [0] * len(order), [0] * (len(order) + 1)  # best[i]: cost of the first i; cut[i]: its last start
    for i in range(1, len(order) + 1):
        best[i], cut[i] = min(
            (best[k] + overhead_tokens + (i - k) * longest[k], k) for k in range(max(0, i - batch_size), i)
        )
    batches, i = [], len(order)
    while i:
        batches.append(order[cut[i] : i])
        i = cut[i]
    return batches[::-1]


def pad(sequences: list[list[int]], value: int, side: str = "right") -> torch.Tensor:
    """A [batch, longest] LongTensor of `sequences` padded with `value`."""
    longest = max(len(s) for s in sequences)
    out = torch.full((len(sequences), longest), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        if s:
            if side == "right":
                out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
            else:
                out[i, longest - len(s) :] = torch.as_tensor(s, dtype=torch.long)
    return out


def collate_encoder(features: list[dict], pad_id: int, label_key: str | None = "labels", label_pad=None) -> dict:
    """Pad encoder inputs (input_ids, attention_mask, token_type_ids) and stack or pad the labels."""
    batch = {"input_ids": pad([f["input_ids"] for f in features], pad_id)}
    batch["attention_mask"] = pad([[1] * len(f["input_ids"]) for f in features], 0)
    if "token_type_ids" in features[0]:
        batch["token_type_ids"] = pad([f["token_type_ids"] for f in features], 0)
    if label_key and label_key in features[0]:
        labels = [f[label_key] for f in features]
        if label_pad is not None:  # per-token labels
            batch[label_key] = pad(labels, label_pad)
        elif isinstance(labels[0], list):  # multi-label: a float vector per example
            batch[label_key] = torch.tensor(labels, dtype=torch.float)
        else:
            batch[label_key] = torch.tensor(labels, dtype=torch.long)
    return batch
