"""ERASER faithfulness (DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate Rationalized NLP Models").

For one target with probability p(x) and words ranked by attribution (highest first), and the top k% of the
words as the rationale r_k (k in 1, 5, 10, 20, 50; at least one word):

    comprehensiveness = mean_k [ p(x) - p(x without r_k) ]   higher: the words the method ranks first matter
    sufficiency       = mean_k [ p(x) - p(r_k only) ]          lower: those words alone keep the prediction

(the AOPC form of section 4 of the paper). This is what `ferret` computes; ferret cannot install beside
transformers 5, so the two formulas are written here. "Without" replaces a word's sub-words by the baseline
token, keeping every position, so token-level targets (an entity, an answer position, an output token) stay
defined; the probability is exp of the target's log-probability score. A random attribution gives the floor a
method must beat.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .probe import Probe

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def rationale_sizes(n_words: int, bins=BINS) -> list[int]:
    return [min(n_words, max(1, math.ceil(b * n_words))) for b in bins]


def aopc(probe: Probe, scores: np.ndarray, bins=BINS, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(comprehensiveness, sufficiency) per target for attribution `scores` (targets x words)."""
    n_t, n_w = scores.shape
    if n_t == 0 or n_w == 0:
        return np.zeros(n_t), np.zeros(n_t)
    sizes = rationale_sizes(n_w, bins)
    every = set(range(n_w))
    sets = []
    for t in range(n_t):
        order = np.argsort(-scores[t], kind="stable")
        for k in sizes:
            top = [int(w) for w in order[:k]]
            sets.append(top)  # erased: x without the rationale
            sets.append(sorted(every - set(top)))  # erased: everything but the rationale
    p_full = torch.exp(probe.scores(probe.input_ids)[0]).cpu().numpy()
    p = torch.exp(probe.scores(probe.erase(sets), batch_size)).cpu().numpy()  # rows x targets
    p = p.reshape(n_t, len(sizes), 2, n_t)
    comp = np.array([np.mean(p_full[t] - p[t, :, 0, t]) for t in range(n_t)])
    suff = np.array([np.mean(p_full[t] - p[t, :, 1, t]) for t in range(n_t)])
    return comp, suff


def summarize(per_method: dict[str, dict[str, list[float]]]) -> dict:
    """Mean AOPC per method over every (input, target), and which method is most faithful."""
    table = {}
    for method, values in per_method.items():
        comp, suff = np.array(values["comprehensiveness"]), np.array(values["sufficiency"])
        if len(comp):
            table[method] = {"comprehensiveness": float(comp.mean()), "sufficiency": float(suff.mean()),
                             "comprehensiveness_sd": float(comp.std()), "sufficiency_sd": float(suff.std()),
                             "targets": int(len(comp))}
    methods = [m for m in table if m != "random"]
    out = {"aopc_bins": list(BINS), "table": table}
    if methods:
        best = max(methods, key=lambda m: table[m]["comprehensiveness"])
        out["most_faithful"] = best
        rand = table.get("random")
        margin = f", random {rand['comprehensiveness']:.4f}" if rand else ""
        ranked = sorted(methods, key=lambda m: -table[m]["comprehensiveness"])
        out["ranking"] = ranked
        order = " > ".join(f"{m} {table[m]['comprehensiveness']:.4f}" for m in ranked)
        out["verdict"] = (f"{best} is the most faithful method on this model and data: comprehensiveness AOPC "
                          f"{order} (higher is better{margin}); sufficiency of {best} "
                          f"{table[best]['sufficiency']:.4f} (lower is better)")
    return out
