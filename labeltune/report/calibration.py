"""Calibration of a classifier's probabilities: reliability bins, expected calibration error, temperature scaling.

ECE (Guo et al., 2017, "On Calibration of Modern Neural Networks"): confidences (the top probability) are
put in equal-width bins; ECE is the mean |accuracy - confidence| over bins, weighted by their share of the
examples. Temperature scaling divides the logits by one T > 0 fitted on validation by minimising the
negative log-likelihood; it changes confidences, never the arg-max. Hand-written because they are a few
lines of numpy/scipy over arrays labeltune already holds (sklearn's calibration_curve bins one class only).
"""

from __future__ import annotations

import numpy as np


def reliability(probs: np.ndarray, gold: np.ndarray, bins: int = 10) -> dict:
    """Per confidence bin: mean confidence, accuracy, count; and the ECE."""
    confidence = probs.max(1)
    correct = (probs.argmax(1) == gold).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        if n:
            acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
            ece += n / len(gold) * abs(acc - conf)
        else:
            acc = conf = None
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": n, "accuracy": acc, "confidence": conf})
    return {"bins": rows, "ece": float(ece), "n": int(len(gold)), "accuracy": float(correct.mean()) if len(gold) else 0.0}


def nll(probs: np.ndarray, gold: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, 1.0)).mean())


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same as softmax(logits / T), since log p is the logits minus a per-row constant."""
    z = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> dict:
    """The NLL-minimising temperature on (probs, gold), searched over log T in [-3, 3] (T in 0.05..20)."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda log_t: nll(scale(probs, float(np.exp(log_t))), gold), bounds=(-3.0, 3.0),
                             method="bounded")
    t = float(np.exp(result.x))
    after = scale(probs, t)
    return {"temperature": round(t, 6), "n": int(len(gold)),
            "nll_before": round(nll(probs, gold), 6), "nll_after": round(nll(after, gold), 6),
            "ece_before": round(reliability(probs, gold)["ece"], 6), "ece_after": round(reliability(after, gold)["ece"], 6)}
