"""`labeltune robustness`: how a fine-tuned model holds up under perturbed and adversarial input.

The clean metric, then the metric under each perturbation (labeltune/robustness/perturb.py) at each severity
(the share of words touched), plus the task's own perturbations (NER entity swap, QA distractor); optionally a
greedy black-box attack (attack.py) and CheckList-style behavioural tests (behaviour.py). Every edit comes from a
generator seeded by --seed and the example's position, so the same seed gives the same perturbed data and the same
report; nothing reaches the network. Labels stay aligned through the task's `perturb` hook. With --compare the
same perturbed data is scored by a second model (e.g. one trained with --augment), side by side.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from ..config import changed, opt
from ..errors import UserError, flag
from .perturb import PERTURBATIONS, Editor, example_rng, parse_names, random_plan


@dataclass
class RobustnessOptions:
    severities: str = opt("0.05,0.1,0.2", "comma-separated shares of words each perturbation touches")
    perturbations: str = opt("", "comma-separated perturbations to run (default: all; see labeltune/robustness/perturb.py)")
    attack: bool = opt(False, "also run the greedy black-box attack (classification, NER, QA)")
    budget: float = opt(0.1, "attack: the largest share of an example's words the attack may edit")
    attack_edits: str = opt("char,word", "attack: char (typos), word (embedding neighbours) or both")
    neighbours: int = opt(8, "attack: nearest embedding neighbours tried per word")
    tests: str | None = opt(None, "YAML file of behavioural tests (e.g. configs/behaviour_sentiment.yaml)")
    compare: str | None = opt(None, "a second model directory scored on the same perturbed data")
    max_examples: int = opt(0, "score a seeded sample of this many examples (0: all)")
    seed: int = opt(0, "seed of the perturbations, the sample and the attack")
    metric: str | None = opt(None, "the metric reported (default: the task's selection metric)")

    def __post_init__(self):
        try:
            sev = [float(s) for s in self.severities.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"{flag('severities')} {self.severities}: expected numbers, e.g. 0.05,0.1,0.2") from None
        if not sev or not all(0 < s <= 1 for s in sev):
            raise UserError(f"{flag('severities')} {self.severities}: each must be in (0, 1], the share of words touched")
        if not 0 <= self.budget <= 1:
            raise UserError(f"{flag('budget')} {self.budget}: must be in [0, 1], a share of the words")
        edits = [e.strip() for e in self.attack_edits.split(",") if e.strip()]
        if not edits or set(edits) - {"char", "word"}:
            raise UserError(f"{flag('attack_edits')} {self.attack_edits}: choose char, word or char,word")
        if self.neighbours < 1:
            raise UserError(f"{flag('neighbours')} must be at least 1")
        if self.max_examples < 0:
            raise UserError(f"{flag('max_examples')} must be 0 (all) or a number of examples")
        if not self.attack:  # the attack's settings without --attack would be ignored in silence
            given = [flag(k) for k in changed(self, ("budget", "attack_edits", "neighbours"))]
            if given:
                raise UserError(f"{', '.join(given)}: {'an attack setting' if len(given) == 1 else 'attack settings'};"
                                " add --attack")

    @property
    def severity_list(self) -> list[float]:
        return [float(s) for s in self.severities.split(",") if s.strip()]


def perturbed_sets(task, examples: list[dict], opts: RobustnessOptions) -> list[dict]:
    """Every (perturbation, severity) with its perturbed copy of `examples` and the share of words it changed."""
    hook = getattr(task, "perturb", None)
    specials = {s.name: s for s in (getattr(task, "extra_perturbations", lambda: [])())}
    names = parse_names(opts.perturbations, "--perturbations", tuple(specials)) if opts.perturbations else \
        list(PERTURBATIONS) + list(specials)
    if hook is None and any(n in PERTURBATIONS for n in names):
        raise UserError(f"--perturbations: the task '{task.name}' has no perturb hook; it supports only "
                        f"{', '.join(specials) or 'none'}")
    out = []
    for name in names:
        if name in specials:
            special = specials[name]
            for sev in (opts.severity_list if special.graded else [None]):
                out.append({"perturbation": name, "severity": sev, "words_changed": None,
                            "examples": special.fn(examples, 1.0 if sev is None else sev, opts.seed)})
            continue
        for sev in opts.severity_list:
            editor = Editor(random_plan(PERTURBATIONS[name], sev))
            pert = [hook(e, editor, example_rng(opts.seed, name, sev, i)) for i, e in enumerate(examples)]
            share = editor.changed / max(len(editor.seen), 1)
            out.append({"perturbation": name, "severity": sev, "words_changed": share, "examples": pert})
    return out


def _score(task, rt, examples, metric: str) -> float:
    metrics = task.evaluate(rt, examples)[0]
    if metric not in metrics:
        numeric = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))
        raise UserError(f"--metric {metric}: not among the task's metrics ({', '.join(numeric)})")
    return float(metrics[metric])


def robustness(model: str, data: str, output: str, opts: RobustnessOptions | None = None, precision: str = "fp32",
               batch_size: int = 64, **option_overrides) -> dict:
    """Measure, write robustness.json / robustness.html / robustness.png (and adversarial.jsonl, behaviour.json)
    into `output`, and return the report."""
    from ..run import load
    from . import report as report_mod

    opts = opts or RobustnessOptions()
    if opts.tests:  # a mistake in the file is reported now, not after the perturbations and the attack have run
        from .behaviour import load_tests

        load_tests(opts.tests)
    predictor = load(model, precision=precision, batch_size=batch_size, **option_overrides)
    task, rt = predictor.task, predictor.rt
    examples = task.read(data, predictor.opts)
    task.check(examples, rt.setup, predictor.opts)
    if opts.max_examples and len(examples) > opts.max_examples:
        keep = sorted(random.Random(opts.seed).sample(range(len(examples)), opts.max_examples))
        examples = [examples[i] for i in keep]
    metric = opts.metric or task.default_metric(predictor.opts)
    models = {"model": predictor}
    if opts.compare:
        try:
            other = load(opts.compare, precision=precision, batch_size=batch_size, **option_overrides)
        except UserError as e:  # load names the directory as --model; here it came from --compare
            msg = str(e)
            raise UserError("--compare" + msg[len("--model"):] if msg.startswith("--model ") else msg) from None
        if other.task.name != task.name:
            raise UserError(f"--compare {opts.compare}: a {other.task.name} model; --model is a {task.name} model")
        try:  # e.g. another label set: scoring would fail deep inside (a KeyError on the first unknown label)
            other.task.check(examples, other.rt.setup, other.opts)
        except UserError as e:
            raise UserError(f"--compare {opts.compare}: {e}") from None
        models["compare"] = other
    if opts.attack:  # the attack's word substitutions read the PyTorch model's input embeddings
        for key, p in models.items():
            p.require_torch(f"--{key} {model if key == 'model' else opts.compare}", "cannot be attacked; use")
    sets = perturbed_sets(task, examples, opts)
    rows = []
    clean = {key: _score(task, p.rt, examples, metric) for key, p in models.items()}
    rows.append({"perturbation": "none", "severity": 0.0, "words_changed": 0.0, **clean})
    for s in sets:
        scores = {key: _score(task, p.rt, s["examples"], metric) for key, p in models.items()}
        rows.append({k: v for k, v in s.items() if k != "examples"} | scores)
    result = {
        "task": task.name, "model": model, "compare": opts.compare, "data": data, "examples": len(examples),
        "metric": metric, "seed": opts.seed, "severities": opts.severity_list, "rows": rows,
        "samples": report_mod.samples(examples, sets),
    }
    adversarial = {}
    if opts.attack:
        from .attack import attack

        if not hasattr(task, "attack_scores"):
            raise UserError(f"--attack: the task '{task.name}' has no attack_scores hook "
                            "(classification, NER and QA have)")
        edits = [e.strip() for e in opts.attack_edits.split(",") if e.strip()]
        result["attack"] = {}
        for key, p in models.items():
            result["attack"][key], adversarial[key] = attack(task, p.rt, examples, opts.budget, edits, opts.neighbours,
                                                             opts.seed)
    if opts.tests:
        from .behaviour import run_tests

        result["behaviour"] = {key: run_tests(opts.tests, p, opts.seed) for key, p in models.items()}
    os.makedirs(output, exist_ok=True)
    report_mod.write(output, result, adversarial)
    return result
