"""Behavioural tests in the style of CheckList (Ribeiro et al. 2020), from a YAML file.

Three kinds of test, each over inputs written out (`texts`) or generated from a template and its fillers
(`template: "The {thing} was {adj}."`, `fill: {thing: [...], adj: [...]}`: every combination, up to `max_cases`):
- mft (minimum functionality): every prediction must be `expect` (a label; multi-label: among the labels);
- inv (invariance): the prediction must not change under `perturbation` (one of perturb.py's) at `severity`;
- dir (directional): appending (or prepending) each of `append` (`prepend`) must move the score of
  `expect.label` in `expect.direction` (up or down; `tolerance` allows a small move the other way).
A test passes when its failure rate is at most `max_failure_rate` (default 0). `labels` maps names used in the
file to the model's label names (a model trained on 0/1 labels: {negative: "0", positive: "1"}).
CheckList itself is unmaintained and pins old libraries; this is the part of it labeltune needs.
"""

from __future__ import annotations

import itertools
import random

import yaml

from ..errors import UserError
from .perturb import PERTURBATIONS, Editor, example_rng, random_plan

TYPES = ("mft", "inv", "dir")
KEYS = {"name", "type", "texts", "template", "fill", "expect", "perturbation", "severity", "append", "prepend",
        "max_failure_rate", "max_cases", "tolerance"}


def load_tests(path: str) -> dict:
    """The file, checked: every problem names the file and the test."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except OSError as e:
        raise UserError(f"--tests {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"--tests {path}: byte {e.object[e.start]:#x} at offset {e.start} is not valid UTF-8; "
                        "re-save the file as UTF-8") from None
    except yaml.YAMLError as e:
        raise UserError(f"--tests {path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tests"), list) or not spec["tests"]:
        raise UserError(f"--tests {path}: expected a mapping with a non-empty list 'tests'")
    unknown = set(spec) - {"tests", "labels"}
    if unknown:  # e.g. 'lables:': its mapping would be ignored in silence
        raise UserError(f"--tests {path}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}; "
                        "known: labels, tests")
    labels = spec.get("labels") or {}
    if not isinstance(labels, dict):
        raise UserError(f"--tests {path}: 'labels' must map names to the model's label names")
    for k, t in enumerate(spec["tests"]):
        label = t.get("name", "unnamed") if isinstance(t, dict) else repr(t)
        at = f"{path}, test {k + 1} ({label})"
        if not isinstance(t, dict):
            raise UserError(f"{at}: expected a mapping")
        if not isinstance(t.get("name", ""), (str, int)):
            raise UserError(f"{at}: 'name' must be a text")
        unknown = set(t) - KEYS
        if unknown:
            raise UserError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
        if t.get("type") not in TYPES:
            raise UserError(f"{at}: type must be one of {', '.join(TYPES)}")
        if ("texts" in t) == ("template" in t):
            raise UserError(f"{at}: give either 'texts' (a list) or 'template' with 'fill'")
        if "texts" in t:
            _text_list(t, "texts", at)
        if "template" in t:
            fill = t.get("fill") or {}
            if not isinstance(t["template"], str) or not t["template"].strip():
                raise UserError(f"{at}: 'template' must be a non-empty text with {{slot}}s")
            if not isinstance(fill, dict) or not all(isinstance(v, list) and v for v in fill.values()):
                raise UserError(f"{at}: 'fill' must map each {{slot}} to a non-empty list")
            try:
                t["template"].format(**{s: "x" for s in fill})
            except (KeyError, IndexError) as e:
                raise UserError(f"{at}: the template uses {e} but 'fill' has no such slot") from None
            except ValueError as e:  # an unbalanced brace: a literal one is written {{ or }}
                raise UserError(f"{at}: the template does not parse ({e}); write a literal brace as {{{{ or }}}}") from None
        for key in ("append", "prepend"):
            if key in t:
                _text_list(t, key, at)
        _number(t, "max_failure_rate", at, float, 0.0, 1.0)
        _number(t, "tolerance", at, float, 0.0, None)
        _number(t, "severity", at, float, 0.0, 1.0, low_open=True)
        _number(t, "max_cases", at, int, 1, None)
        if t["type"] == "mft" and not isinstance(t.get("expect"), (str, int)):
            raise UserError(f"{at}: an mft test needs 'expect: LABEL'")
        if t["type"] == "inv" and t.get("perturbation") not in PERTURBATIONS:
            raise UserError(f"{at}: an inv test needs 'perturbation', one of {', '.join(PERTURBATIONS)}")
        if t["type"] == "dir":
            exp = t.get("expect")
            if not (isinstance(exp, dict) and "label" in exp and exp.get("direction") in ("up", "down")):
                raise UserError(f"{at}: a dir test needs 'expect: {{label: LABEL, direction: up|down}}'")
            if not (t.get("append") or t.get("prepend")):
                raise UserError(f"{at}: a dir test needs 'append' or 'prepend', a list of texts")
    return spec


def _text_list(t: dict, key: str, at: str) -> None:
    """`key` must be a non-empty list of non-empty texts (a bare string would be read letter by letter)."""
    v = t[key]
    if not isinstance(v, list) or not v:
        raise UserError(f"{at}: '{key}' must be a non-empty list of texts, e.g. {key}: [\"a text\"]")
    for i, x in enumerate(v):
        if not isinstance(x, (str, int, float)) or isinstance(x, bool) or not str(x).strip():
            raise UserError(f"{at}: '{key}' item {i + 1} ({x!r}) must be a non-empty text")


def _number(t: dict, key: str, at: str, kind, low, high, low_open: bool = False) -> None:
    """An optional numeric key: the right type and in range, checked before any model runs."""
    if key not in t:
        return
    v = t[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or isinstance(v, int))
    ok = ok and v == v and (v > low if low_open else v >= low) and (high is None or v <= high)
    if not ok:
        span = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}{']' if high is not None else ')'}"
        raise UserError(f"{at}: '{key}' is {v!r}; expected {'an integer' if kind is int else 'a number'} in {span}")


def expand(t: dict, seed: int) -> list[str]:
    if "texts" in t:
        texts = [str(x) for x in t["texts"]]
    else:
        slots = list(t["fill"])
        texts = [t["template"].format(**dict(zip(slots, combo)))
                 for combo in itertools.product(*(t["fill"][s] for s in slots))]
    cap = int(t.get("max_cases", 200))
    if len(texts) > cap:
        texts = random.Random(f"{seed}|{t['name']}").sample(texts, cap)
    return texts


def _canonical(pred):
    """A prediction without its scores: what must stay the same under an invariance test."""
    if isinstance(pred, dict):
        if "label" in pred:
            return pred["label"]
        return {k: _canonical(v) for k, v in pred.items() if "score" not in k}
    if isinstance(pred, list):
        return [_canonical(v) for v in pred]
    return pred


def run_tests(path: str, predictor, seed: int) -> list[dict]:
    spec = load_tests(path)
    names = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
    task, opts = predictor.task, predictor.opts
    out = []
    for k, t in enumerate(spec["tests"]):
        name = t.get("name", f"test {k + 1}")
        texts = expand({**t, "name": name}, seed)
        at = f"{path}, test {k + 1} ({name})"
        try:
            preds = predictor.predict(texts)
        except UserError as e:  # e.g. QA reads a question and a context, not one text: name the test, not "input 0"
            raise UserError(f"{at}: {e}") from None
        if t["type"] in ("mft", "dir") and not all(isinstance(p, dict) and "scores" in p for p in preds):
            raise UserError(f"{at}: {t['type']} tests check a predicted label and its score, which this "
                            f"{getattr(task, 'name', '')} model does not give; use an inv test")
        failures = []
        if t["type"] == "mft":
            want = names.get(str(t["expect"]), str(t["expect"]))
            known = predictor.rt.setup.get("labels") or []
            if known and want not in known:  # it would fail every case, not test anything
                raise UserError(f"{path}: test '{name}': label '{want}' is not one of the model's labels "
                                f"({', '.join(map(str, known))}); map it under 'labels:'")
            # multi-label predictions carry "labels": the test asks that `expect` be among them
            failures = [{"input": x, "got": p["labels"] if "labels" in p else p.get("label"), "expected": want}
                        for x, p in zip(texts, preds) if want not in (p["labels"] if "labels" in p else [p.get("label")])]
        elif t["type"] == "inv":
            plan = random_plan(PERTURBATIONS[t["perturbation"]], float(t.get("severity", 0.2)))
            examples = task.as_examples(texts, opts)
            changed = [task.perturb(e, Editor(plan), example_rng(seed, name, i)) for i, e in enumerate(examples)]
            after = task.predict(predictor.rt, changed)
            from .attack import display

            failures = [{"input": f"{x} -> {display(c)}", "got": str(_canonical(b)), "expected": str(_canonical(a))}
                        for x, c, a, b in zip(texts, changed, preds, after) if _canonical(a) != _canonical(b)]
        else:
            label = names.get(str(t["expect"]["label"]), str(t["expect"]["label"]))
            sign = 1 if t["expect"]["direction"] == "up" else -1
            tol = float(t.get("tolerance", 0.0))
            pairs = [(x, x + " " + a) for x in texts for a in t.get("append") or []] + \
                    [(x, p + " " + x) for x in texts for p in t.get("prepend") or []]
            after = predictor.predict([b for _, b in pairs])
            base = dict(zip(texts, preds))
            for (x, changed), p in zip(pairs, after):
                if label not in p.get("scores", {}):
                    raise UserError(f"{path}: test '{name}': label '{label}' is not one of the model's labels "
                                    f"({', '.join(p.get('scores', {}))}); map it under 'labels:'")
                move = sign * (p["scores"][label] - base[x]["scores"][label])
                if move < -tol:
                    failures.append({"input": changed, "got": round(p["scores"][label], 4),
                                     "expected": f"{t['expect']['direction']} from {base[x]['scores'][label]:.4f}"})
        cases = len(texts) if t["type"] != "dir" else len(preds) * (len(t.get("append") or []) + len(t.get("prepend") or []))
        rate = len(failures) / max(cases, 1)
        out.append({"name": name, "type": t["type"], "cases": cases, "failed": len(failures), "failure_rate": rate,
                    "passed": rate <= float(t.get("max_failure_rate", 0.0)), "failures": failures})
    return out
