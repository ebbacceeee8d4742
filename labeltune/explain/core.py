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

from ..config import changed, opt
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
        # settings of a part that does not run would be ignored in silence
        if changed(self, ("n_steps",)) and "ig" not in self.methods:
            raise UserError(f"{flag('n_steps')} is for integrated gradients; add --method ig (or all)")
        if changed(self, ("seed",)) and not self.faithfulness:
            raise UserError(f"{flag('seed')} seeds the random baseline of --faithfulness; add --faithfulness")

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
    predictor.require_torch("--model", "has no gradients to attribute with; explain")
    hook = getattr(task, "explain_probe", None)
    if hook is None:
        raise UserError(f"task '{task.name}' does not support explain")
    if not getattr(rt.tokenizer, "is_fast", False):  # a task that trains with a slow one (translation: Marian)
        raise UserError(f"explain maps sub-words to the words of the input by character offsets, which the model's "
                        f"{type(rt.tokenizer).__name__} (a slow, Python tokenizer) does not give; it needs a model "
                        "with a tokenizer.json")
    if opts.max_examples:
        examples = examples[: opts.max_examples]
    if not examples:
        raise UserError("no inputs to explain")
    rt.model.eval()  # dropout off: attributions of one input are the same every run
    torch.manual_seed(opts.seed)
    predictions = task.predict(rt, examples)
    rows, faith = [], {m: {"comprehensiveness": [], "sufficiency": []} for m in opts.methods + ["random"]}
    for i, (example, prediction) in enumerate(zip(examples, predictions)):
        probes = hook(rt, example, prediction, opts.target)
        probes = probes if isinstance(probes, list) else [probes]  # a long NER input: one probe per window
        if not any(probe.words for probe in probes):  # e.g. only zero-width spaces: nothing to attribute to
            raise UserError(f"{example.get('_where')}: no word of this text is read by the model's tokenizer "
                            f"(only characters it drops, such as zero-width spaces); remove the row or fill in the text")
        row, where = _row(probes, example, prediction)
        per_row = {m: {"comprehensiveness": [], "sufficiency": []} for m in faith}
        for p, probe in enumerate(probes):
            results = {m: attribute(probe, rt.model, m, opts.n_steps, opts.internal_batch_size) for m in opts.methods}
            with torch.no_grad():
                values = probe.scores(probe.input_ids)[0].tolist() if probe.targets else []
            for t, (target, value) in enumerate(zip(probe.targets, values)):
                target = dict(target, score=round(value, 6))
                if len(probes) > 1:
                    target["window"] = p
                target["attributions"] = {m: _spread(r.scores[t], where[p], len(row["words"]))
                                          for m, r in results.items()}
                if "ig" in results:
                    ig = results["ig"]
                    target["completeness_error"] = round(float(ig.completeness_error[t]), 6)
                    target["n_steps"] = ig.n_steps[t]
                    target["score_change"] = round(ig.score_change[t], 6)
                row["targets"].append(target)
            if opts.faithfulness and probe.targets:
                scores = {m: r.scores for m, r in results.items()}
                scores["random"] = random_scores(probe, opts.seed * 100_003 + i + 1_000_003 * p)
                for m, sc in scores.items():
                    comp, suff = aopc(probe, sc, batch_size=opts.internal_batch_size)
                    per_row[m]["comprehensiveness"] += comp.tolist()
                    per_row[m]["sufficiency"] += suff.tolist()
        if len(row["targets"]) > 1:  # e.g. translation: each source word's total over all output tokens
            row["word_totals"] = {m: _totals([t["attributions"][m] for t in row["targets"]]) for m in opts.methods}
        if opts.faithfulness and row["targets"]:
            row["faithfulness"] = {m: {k: round(float(np.mean(v)), 6) for k, v in d.items()} for m, d in per_row.items()}
            for m, d in per_row.items():
                for k, v in d.items():
                    faith[m][k] += v
        if not row["targets"]:
            row["note"] = "nothing to explain: no target (e.g. no entity predicted)"
        rows.append(row)
    summary = {"task": task.name, "inputs": len(rows), "targets": sum(len(r["targets"]) for r in rows),
               "methods": opts.methods, "precision": rt.precision,
               "inputs_with_words_outside_the_window": sum(any(w.get("outside") for w in r["words"]) for r in rows)}
    errors = [t["completeness_error"] for r in rows for t in r["targets"] if "completeness_error" in t]
    if errors:
        summary["ig_completeness_error_mean"] = float(np.mean(errors))
        summary["ig_completeness_error_max"] = float(np.max(errors))
        summary["ig_over_5_percent"] = int(sum(e >= 0.05 for e in errors))
    if opts.faithfulness:
        summary["faithfulness"] = summarize(faith)
    return rows, summary


def _row(probes, example: dict, prediction: dict) -> tuple[dict, list[list[int]]]:
    """The row without targets, and per probe the row index of each of its words. The row lists every word
    of the input once (in text order, part by part); a word that no probe's window holds is "outside"."""
    keys, order = {}, {}  # (part, start, end) -> (text, in a window)
    for probe in probes:
        for w in probe.words:
            order.setdefault(w.part, len(order))
            keys[(w.part, w.start, w.end)] = (w.text, True)
        for w in probe.outside:
            order.setdefault(w.part, len(order))
            keys.setdefault((w.part, w.start, w.end), (w.text, False))
    ranked = sorted(keys, key=lambda k: (order[k[0]], k[1], k[2]))
    index = {k: n for n, k in enumerate(ranked)}
    words = []
    for part, start, end in ranked:
        text, inside = keys[(part, start, end)]
        words.append({"text": text, "start": start, "end": end, "part": part} | ({} if inside else {"outside": True}))
    where = [[index[(w.part, w.start, w.end)] for w in probe.words] for probe in probes]
    row = {"where": example.get("_where"), "prediction": prediction, "words": words, "targets": []}
    extra = {k: v for k, v in probes[0].info.items() if k != "prediction"}
    if extra:
        row["info"] = extra
    outside = sum("outside" in w for w in words)
    if outside:
        row["outside_window"] = outside  # their attributions are null (see targets.py: long inputs)
    return row, where


def _spread(scores, where: list[int], n: int) -> list[float | None]:
    """A probe's word scores placed at the row's word indices; None for the row's words it did not see."""
    out: list[float | None] = [None] * n
    for k, s in zip(where, _round(scores)):
        out[k] = s
    return out


def _totals(rows: list[list]) -> list[float | None]:
    """Per word, the sum over targets of its attributions (None where no target's window holds it)."""
    out = []
    for column in zip(*rows):
        seen = [s for s in column if s is not None]
        out.append(float(f"{sum(seen):.6g}") if seen else None)
    return out


def _round(a) -> list[float]:
    # significant digits, not decimals: a saturated model's gradients are tiny but still rank the words
    return [float(f"{float(x):.6g}") for x in a]


def explain_file(model: str, input_path: str, output: str, opts: ExplainOptions, precision: str = "fp32",
                 threads: int = 0, batch_size: int = 64, **option_overrides) -> dict:
    """`labeltune explain`: read inputs, explain, write attributions.jsonl, explain.html, global-view PNGs."""
    import json
    import os

    from ..data.readers import write_jsonl
    from ..files import atomic_write_text
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
    atomic_write_text(os.path.join(output, "summary.json"), json.dumps(summary, indent=1))
    write_explain_page(os.path.join(output, "explain.html"), rows, summary, pngs, model)
    if "faithfulness" in summary:
        print(summary["faithfulness"].get("verdict", ""), file=sys.stderr)
    return summary
