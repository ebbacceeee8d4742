"""Word attributions for a probe's targets: integrated gradients, gradient x input, leave-one-word-out.

* `ig`: captum's LayerIntegratedGradients on the input embedding layer, from the baseline input (every word's
  sub-words replaced by the baseline token; special tokens kept) to the real one. Completeness says the
  attributions sum to F(x) - F(baseline); the relative gap is reported per target, and with n_steps "auto" the
  steps double from 16 until it is under 5% (or 512 steps). The steps run `internal_batch_size` at a time, so
  memory is bounded whatever the step count.
* `gxi`: gradient x (input - baseline) on the same layer: one forward and one backward pass per target.
* `occlusion`: leave one word out (replaced by the baseline token) and take the drop of each target score.
  Written here rather than with captum's FeatureAblation because one batch of n_words erased inputs scores
  every target at once (translation has one target per output token; FeatureAblation redoes them per target).

Sub-word attributions are summed into words: a word's score is the sum over its sub-words.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .probe import Probe

METHODS = ("ig", "gxi", "occlusion")
IG_STEPS = (16, 32, 64, 128, 256, 512)
IG_TOLERANCE = 0.05


@dataclass
class Attribution:
    method: str
    scores: np.ndarray  # targets x words
    completeness_error: list = field(default_factory=list)  # IG: per target |sum - change| / |change|
    n_steps: list = field(default_factory=list)  # IG: per target
    score_change: list = field(default_factory=list)  # IG: per target F(x) - F(baseline)


def word_scores(token_scores: torch.Tensor, probe: Probe) -> np.ndarray:
    """Per-word sums of per-token scores (a 1-D tensor over the probe's positions)."""
    t = token_scores.detach().float().cpu().numpy()
    return np.array([t[w.positions].sum() for w in probe.words], dtype=np.float64)


def _layer(model):
    """The embedding layer the words go in through. An encoder-decoder's is its encoder's: in transformers 5
    T5 and BART give the encoder and the decoder embedding modules of their own (weights tied), and the top-level
    one get_input_embeddings() returns is never called in forward, so a hook on it saw nothing."""
    if getattr(model.config, "is_encoder_decoder", False):
        return model.get_encoder().get_input_embeddings()
    return model.get_input_embeddings()


def _paths(probe: Probe, model) -> list[tuple[torch.nn.Module, int, torch.Tensor | None]]:
    """(embedding layer, shift, its outputs on [input, baseline] or None) for every way the probe's input ids
    enter the model; the layer's position p + shift re-reads input position p. One path (`_layer`) except where
    an encoder-decoder's decoder also reads the input: T5/BART classifiers and QA heads feed it the text shifted
    right by one, and crediting only the encoder left IG's completeness error at 40-100%. Found by running the
    model on the input and on the baseline: a decoder whose ids change with the input reads the input
    (translation's reads the fixed output, and keeps one path). That run's decoder embeddings are kept for
    gradient x input, which would otherwise run the model again to see them."""
    first = _layer(model)
    if not getattr(model.config, "is_encoder_decoder", False):
        return [(first, 0, None)]
    decoder = model.get_decoder().get_input_embeddings()
    if decoder is first:  # one module on both paths: a layer hook cannot tell the two calls apart
        return [(first, 0, None)]
    seen = []
    hook = decoder.register_forward_hook(lambda module, args, output: seen.append((args[0], output.detach())))
    try:
        probe.scores(torch.cat([probe.input_ids, probe.baseline_ids()]))
    finally:
        hook.remove()
    if len(seen) != 1 or torch.equal(seen[0][0][0], seen[0][0][1]):
        return [(first, 0, None)]
    (ids, embedded), x = seen[0], probe.input_ids[0]
    for shift in (1, 0):
        if len(ids[0]) == len(x) and torch.equal(ids[0][shift:], x[:len(x) - shift]):
            return [(first, 0, None), (decoder, shift, embedded)]
    return [(first, 0, None)]


def _token_scores(per_layer, paths) -> torch.Tensor:
    """Per input position: each path's per-position sums, moved back by the path's shift, added."""
    total = None
    for a, (_, shift, _) in zip(per_layer, paths):
        a = a[0].sum(-1)
        moved = torch.zeros_like(a)
        moved[:len(a) - shift] = a[shift:]
        total = moved if total is None else total + moved
    return total


def integrated_gradients(probe: Probe, model, n_steps="auto", internal_batch_size: int = 16) -> Attribution:
    from captum.attr import LayerIntegratedGradients

    paths = _paths(probe, model)
    with warnings.catch_warnings():  # "ensure that each layer is not solely dependent on another": both
        warnings.filterwarnings("ignore", message="Multiple layers provided")  # embed the ids, neither feeds the other
        lig = LayerIntegratedGradients(probe.forward, [layer for layer, _, _ in paths])
    base = probe.baseline_ids()
    ends = probe.scores(torch.cat([probe.input_ids, base]))  # F(x), F(baseline)
    schedule = IG_STEPS if n_steps == "auto" else (int(n_steps),)
    rows, errors, steps, changes = [], [], [], []
    for t in range(len(probe.targets)):
        change = float(ends[0, t] - ends[1, t])
        for n in schedule:
            attr, delta = lig.attribute(probe.input_ids, baselines=base, target=t, n_steps=n,
                                        internal_batch_size=min(internal_batch_size, n),
                                        return_convergence_delta=True)
            delta = abs(float(delta.sum()))
            # relative to the change being explained; an absolute floor where the change itself is ~0
            error = delta / abs(change) if abs(change) > 1e-6 else (0.0 if delta < 1e-6 else float("inf"))
            if error < IG_TOLERANCE or delta < 1e-4:
                break
        rows.append(word_scores(_token_scores(attr, paths), probe))
        errors.append(error)
        steps.append(n)
        changes.append(change)
    return Attribution("ig", _stack(rows, probe), errors, steps, changes)


def gradient_x_input(probe: Probe, model) -> Attribution:
    """The gradient at the input times (input embedding - baseline embedding): the first-order estimate of
    what erasing a word costs, with the same baseline as IG and occlusion. Hand-written because captum's
    LayerGradientXActivation multiplies by the raw embedding (an all-zero baseline: the same where the baseline
    token's embedding is zero, as BERT's [PAD] is, but not for e.g. a causal LM's EOS) and captum's IG refuses a
    single step. One forward pass, one backward pass per target. Like every gradient method it is local: on a
    saturated model (p ~ 1) the gradient is ~0 and its direction says little; IG and occlusion are not."""
    paths = _paths(probe, model)
    base = probe.baseline_ids()
    leaves, diffs, hooks = [], [], []
    for layer, _, embedded in paths:
        with torch.no_grad():  # a decoder's path embeds its own, shifted, ids: `_paths` saw them
            e_x, e_b = (layer(probe.input_ids), layer(base)) if embedded is None else (embedded[0:1], embedded[1:2])
        leaf = e_x.detach().clone().requires_grad_(True)
        leaves.append(leaf)
        diffs.append(e_x - e_b)
        hooks.append(layer.register_forward_hook(lambda module, args, output, leaf=leaf: leaf))  # use our leaf
    try:
        out = probe.forward(probe.input_ids)
        rows = []
        for t in range(len(probe.targets)):
            grads = torch.autograd.grad(out[0, t], leaves, retain_graph=t + 1 < len(probe.targets))
            rows.append(word_scores(_token_scores([d * g for d, g in zip(diffs, grads)], paths), probe))
    finally:
        for hook in hooks:
            hook.remove()
    return Attribution("gxi", _stack(rows, probe))


def occlusion(probe: Probe, model=None, batch_size: int = 32) -> Attribution:
    full = probe.scores(probe.input_ids)[0]
    erased = probe.scores(probe.erase([[w] for w in range(len(probe.words))]), batch_size)  # words x targets
    return Attribution("occlusion", (full[None, :] - erased).T.cpu().numpy().astype(np.float64))


def random_scores(probe: Probe, seed: int) -> np.ndarray:
    """The random-attribution baseline of the faithfulness table (seeded per example)."""
    return np.random.default_rng(seed).standard_normal((len(probe.targets), len(probe.words)))


def attribute(probe: Probe, model, method: str, n_steps="auto", internal_batch_size: int = 16) -> Attribution:
    if method == "ig":
        return integrated_gradients(probe, model, n_steps, internal_batch_size)
    if method == "gxi":
        return gradient_x_input(probe, model)
    return occlusion(probe, model, internal_batch_size)


def _stack(rows, probe: Probe) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, len(probe.words)))
