"""`explain`: attributions for every input, optionally ERASER faithfulness; the CLI and the Python API call it.

Flow per input: the task predicts -> its `explain_probe` hook builds a Probe (model input, words, target
scores; see probe.py) -> each method attributes every target to the words -> (with faithfulness) ERASER's
comprehensiveness and sufficiency for each method and a random attribution.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from ..config import opt
from ..errors import UserError, flag
from .attribution import METHODS, attribute, random_scores
from .faithfulness import aopc, summarize


@dataclass
class ExplainOptions:
    method: str = opt("ig", "ig (integrated gradients) | gxi (gradient x input) | occlusion | all")
    target: str | None = opt(None, "explain this label (classification) or entity type (NER) instead of the prediction")
    faithfulness: bool = opt(False, "also measure ERASER comprehensiveness/sufficiency (AOPC) per method and random")
    n_steps: str = opt("auto", "integrated-gradients steps: auto (16, 32, ... until completeness error < 5%) or N")
    internal_batch_size: int = opt(16, "integrated-gradients steps run per forward pass (bounds memory)")
    max_examples: int = opt(0, "explain only the first N inputs (0: all)")
    seed: int = opt(0, "seed of the random-attribution baseline (attributions themselves are deterministic)")
    min_count: int = opt(3, "global view: a word must occur this often in a class to be listed")
    top_words: int = opt(15, "global view: words listed per class / entity type")

    def __post_init__(self):
        if self.method != "all" and self.method not in METHODS:
            raise UserError(f"{flag('method')} {self.method}: choose one of {', '.join(METHODS)} or all")
        if self.n_steps != "auto" and not (str(self.n_steps).isdigit() and int(self.n_steps) >= 2):
            raise UserError(f"{flag('n_steps')} {self.n_steps}: give auto or an integer >= 2")
        for name in ("internal_batch_size", "min_count", "top_words"):
            if getattr(self, name) < 1:
                raise UserError(f"{flag(name)} must be at least 1")
        if self.max_examples < 0:
            raise UserError(f"{flag('max_examples')} must be >= 0")

    @property
    def methods(self) -> list[str]:
        return list(METHODS) if self.method == "all" else [self.method]


def explain_options(**options) -> ExplainOptions:
    """ExplainOptions from keyword arguments; an unknown name is a UserError that lists the known ones."""
    import dataclasses

    known = [f.name for f in dataclasses.fields(ExplainOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UserError(f"explain: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return ExplainOptions(**options)


def explain(predictor, examples: list[dict], opts: ExplainOptions | None = None) -> tuple[list[dict], dict]:
    """(one row per example, summary). `examples` come from the task's `read` or `as_examples`."""
    opts = opts or ExplainOptions()
    task, rt = predictor.task, predictor.rt
    hook = getattr(task, "explain_probe", None)
    if hook is None:
        raise UserError(f"task '{task.name}' does not support explain")
    if opts.max_examples:
        examples = examples[: opts.max_examples]
    if not examples:
        raise UserError("no inputs to explain")
    rt.model.eval()  # dropout off: attributions of one input are the same every run
    torch.manual_seed(opts.seed)
    predictions = task.predict(rt, examples)
    rows, faith = [], {m: {"comprehensiveness": [], "sufficiency": []} for m in opts.methods + ["random"]}
    for i, (example, prediction) in enumerate(zip(examples, predictions)):
        probe = hook(rt, example, prediction, opts.target)
        row = _row(probe, example, prediction)
        results = {m: attribute(probe, rt.model, m, opts.n_steps, opts.internal_batch_size) for m in opts.methods}
        for t, target in enumerate(row["targets"]):
            target["attributions"] = {m: _round(r.scores[t]) for m, r in results.items()}
            if "ig" in results:
                ig = results["ig"]
                target["completeness_error"] = round(float(ig.completeness_error[t]), 6)
                target["n_steps"] = ig.n_steps[t]
                target["score_change"] = round(ig.score_change[t], 6)
        if len(row["targets"]) > 1:  # e.g. translation: each source word's total over all output tokens
            row["word_totals"] = {m: _round(r.scores.sum(0)) for m, r in results.items()}
        if opts.faithfulness and row["targets"]:
            scores = {m: r.scores for m, r in results.items()}
            scores["random"] = random_scores(probe, opts.seed * 100_003 + i)
            row["faithfulness"] = {}
            for m, s in scores.items():
                comp, suff = aopc(probe, s, batch_size=opts.internal_batch_size)
                faith[m]["comprehensiveness"] += comp.tolist()
                faith[m]["sufficiency"] += suff.tolist()
                row["faithfulness"][m] = {"comprehensiveness": round(float(comp.mean()), 6),
                                          "sufficiency": round(float(suff.mean()), 6)}
        rows.append(row)
    summary = {"task": task.name, "inputs": len(rows), "targets": sum(len(r["targets"]) for r in rows),
               "methods": opts.methods, "precision": rt.precision}
    errors = [t["completeness_error"] for r in rows for t in r["targets"] if "completeness_error" in t]
    if errors:
        summary["ig_completeness_error_mean"] = float(np.mean(errors))
        summary["ig_completeness_error_max"] = float(np.max(errors))
        summary["ig_over_5_percent"] = int(sum(e >= 0.05 for e in errors))
    if opts.faithfulness:
        summary["faithfulness"] = summarize(faith)
    return rows, summary


def _row(probe, example: dict, prediction: dict) -> dict:
    with torch.no_grad():
        scores = probe.scores(probe.input_ids)[0].tolist() if probe.targets else []
    targets = [dict(t, score=round(s, 6)) for t, s in zip(probe.targets, scores)]
    row = {"where": example.get("_where"), "prediction": prediction,
           "words": [{"text": w.text, "start": w.start, "end": w.end, "part": w.part} for w in probe.words],
           "targets": targets}
    extra = {k: v for k, v in probe.info.items() if k != "prediction"}
    if extra:
        row["info"] = extra
    if not targets:
        row["note"] = "nothing to explain: no target (e.g. no entity predicted)"
    return row


def _round(a) -> list[float]:
    # significant digits, not decimals: a saturated model's gradients are tiny but still rank the words
    return [float(f"{float(x):.6g}") for x in a]


def explain_file(model: str, input_path: str, output: str, opts: ExplainOptions, precision: str = "fp32",
                 threads: int = 0, batch_size: int = 64, **option_overrides) -> dict:
    """`labeltune explain`: read inputs, explain, write attributions.jsonl, explain.html, global-view PNGs."""
    import json
    import os

    from ..data.readers import write_jsonl
    from ..run import load
    from .globalview import global_view, plot_global_view
    from .page import write_explain_page

    if threads:
        torch.set_num_threads(threads)
    if os.path.exists(output) and not os.path.isdir(output):
        raise UserError(f"--output {output} is a file, expected a directory")
    predictor = load(model, precision=precision, batch_size=batch_size, **option_overrides)
    examples = predictor.task.read(input_path, predictor.opts, labelled=False)
    rows, summary = explain(predictor, examples, opts)
    os.makedirs(output, exist_ok=True)
    write_jsonl(os.path.join(output, "attributions.jsonl"), rows)
    views = {m: global_view(rows, m, opts.min_count, opts.top_words) for m in opts.methods}
    pngs = {m: plot_global_view(v, os.path.join(output, f"global_{m}.png"), m) for m, v in views.items() if v}
    summary["global_view"] = views
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    write_explain_page(os.path.join(output, "explain.html"), rows, summary, pngs, model)
    if "faithfulness" in summary:
        print(summary["faithfulness"].get("verdict", ""), file=sys.stderr)
    return summary
