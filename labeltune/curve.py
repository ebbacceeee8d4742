"""`labeltune curve`: learning curves -- the test score at growing label budgets, over seeds, per recipe.

How it runs, top to bottom:
1. read --train and --test (or carve a seeded, grouped, stratified test split with --test-fraction, recorded
   in split.json, as `train` does); the label set comes from all of --train, so a small sample never
   changes it;
2. for each recipe (--compare: overrides of the training options, e.g. `lora:peft=lora,lr=5e-4`), each
   seed and each size: a stratified subsample (`data.split.stratified_subsample`: k per class with
   --per-class, else k in all by largest remainder; nested across sizes for one seed), trained by
   `run.train` with no validation split (with 8 labels there is none to spare: the last model is scored,
   as in `labeltune tune`'s folds) and no saved model; its metrics.json, config.yaml and the chosen rows
   (curve_run.json) stay in runs/<curve>/<size>/seed-<seed>/;
3. with --strategy: a simulated active-learning loop instead of fixed subsamples (`_active_runs`): the first
   size is a stratified seed set, each later size one round in which the strategy (labeltune/active.py)
   picks the rows to add from the rest of --train using the previous round's model, which is then
   retrained from the pretrained weights on all labels so far (--warm-start: fine-tuned further from the
   previous round's model instead, as a labelling team's model would be); random picks are the baseline;
4. curve.csv (per curve and size: mean +- sd over seeds and each seed's score), curve.json (that plus every
   run's headline metrics) and curve.png (one line per curve, error bars one sd).

A rerun with the same --output reuses every finished run whose settings and rows are unchanged, so an
interrupted curve continues where it stopped (fixed subsamples and random picks; a strategy's rounds are
retrained, since each needs the previous round's model, which is not kept).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import re
import shutil
import statistics
import time
import typing
from dataclasses import dataclass

from .config import TrainConfig, opt, option_defaults, read_yaml, split_options, to_dict
from .data.split import stratified_subsample
from .cli_help import Parser
from .errors import UserError, flag
from .files import atomic_open, atomic_write_text
from .html import plain_text_figures

CSV_FILE, JSON_FILE, PLOT_FILE = "curve.csv", "curve.json", "curve.png"
DATA_FILE = "curve_data.json"  # fingerprints of the training and test rows the runs in --output used
RUN_FILE = "curve_run.json"  # in each run directory: the settings and rows it was trained with


@dataclass
class CurveOptions:
    """The flags of `labeltune curve` (the data, model and training flags are those of `train`)."""

    sizes: str = opt("8,16,32,64,128,all", "label budgets, comma-separated; 'all' is the whole training set")
    per_class: bool = opt(False, "sizes count examples per class (per stratum of the task) instead of in total")
    seeds: int = opt(3, "samples (and training seeds) per size: --seed, --seed + 1, ...")
    compare: str = opt("", "recipes on one plot: 'name:key=value,key=value;name2:...' (overrides of the training "
                           "options; quote a value holding commas: key='a,b'); empty: one recipe 'default'")
    strategy: str = opt("", "simulate active learning with these comma-separated strategies (random, entropy, "
                            "margin, bald, badge, kmeans, diverse, typiclust, cal): the first size is the seed set, each "
                            "later one a round; random is added as the baseline")
    mc_passes: int = opt(10, "for --strategy bald: forward passes with dropout on")
    candidates: int = opt(10, "for --strategy diverse: cluster the round's size x this many closest calls")
    baseline: bool = opt(True, "with --strategy: also run random picks, the baseline (--no-baseline: only the "
                               "strategies given, e.g. to run them in another process)")
    warm_start: bool = opt(False, "with --strategy: each round fine-tunes the previous round's model on all labels so "
                                  "far (random picks too), instead of retraining from the pretrained weights")

    def __post_init__(self):
        if self.seeds < 1:
            raise UserError(f"{flag('seeds')} must be at least 1")
        if self.mc_passes < 2:
            raise UserError(f"{flag('mc_passes')} must be at least 2")
        if self.candidates < 1:
            raise UserError(f"{flag('candidates')} must be at least 1")
        parse_sizes(self.sizes)
        names = parse_strategies(self.strategy, self.baseline)
        if not self.baseline and not names:
            raise UserError(f"{flag('baseline')}: --no-baseline is for --strategy runs")
        if self.warm_start and not names:
            raise UserError(f"{flag('warm_start')}: only with --strategy (it changes how the rounds of a simulated "
                            "active-learning loop train); add --strategy, or remove it")


def parse_sizes(text) -> list:
    """'8,16,all' -> [8, 16, 'all'] (ascending, 'all' last)."""
    items = text if isinstance(text, (list, tuple)) else [s.strip() for s in str(text).split(",") if s.strip()]
    sizes = []
    for s in items:
        if str(s).lower() == "all":
            sizes.append("all")
            continue
        try:
            value = int(s)
        except ValueError:
            raise UserError(f"--sizes {text!r}: '{s}' is neither a whole number nor 'all'") from None
        if value < 1:
            raise UserError(f"--sizes {text!r}: every size must be at least 1")
        sizes.append(value)
    if not sizes:
        raise UserError("--sizes is empty; give label budgets such as 8,16,32,all")
    numbers = sorted(set(s for s in sizes if s != "all"))
    return numbers + (["all"] if "all" in sizes else [])


def parse_strategies(text: str, baseline: bool = True) -> list[str]:
    from .active import STRATEGIES

    names = [s.strip() for s in str(text or "").split(",") if s.strip()]
    for name in names:
        if name not in STRATEGIES:
            raise UserError(f"--strategy {name}: unknown; choose from {', '.join(STRATEGIES)}")
    if names and baseline and "random" not in names:
        names.insert(0, "random")  # the baseline every strategy is measured against
    return list(dict.fromkeys(names))


CURVE_SETS = {"task", "train", "validation", "test", "output", "validation_fraction", "test_fraction", "seed",
              "overwrite", "resume", "save_adapter"}
_RECIPE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
_PAIR = re.compile(r"\s*([A-Za-z_][\w-]*)\s*=\s*('[^']*'|\"[^\"]*\"|[^,]*)\s*(?:,|$)")


def parse_recipes(compare, classes: list[type]) -> list[tuple[str, dict]]:
    """'full:;lora:peft=lora,lr=5e-4' (or {"full": {}, "lora": {"peft": "lora"}}) -> [(name, overrides)]."""
    if not compare:
        return [("default", {})]
    if isinstance(compare, dict):
        items = [(str(k), dict(v or {})) for k, v in compare.items()]
    else:
        items = []
        for part in [p for p in str(compare).split(";") if p.strip()]:
            name, sep, rest = part.partition(":")
            name = name.strip()
            overrides, pos = {}, 0
            while rest[pos:].strip():
                m = _PAIR.match(rest, pos)
                if not m or m.end() == pos:
                    raise UserError(f"--compare recipe '{name}': cannot read '{rest[pos:].strip()}'; write "
                                    "key=value pairs separated by commas, e.g. lora:peft=lora,lr=5e-4")
                overrides[m.group(1).replace("-", "_")] = m.group(2).strip("'\"")
                pos = m.end()
            items.append((name, overrides))
    hints = {}
    for cls in classes:
        hints.update(typing.get_type_hints(cls))
    recipes = []
    for name, overrides in items:
        if not _RECIPE_NAME.match(name):
            raise UserError(f"--compare: recipe name '{name}' must be letters, digits and _ . + - (it names a folder)")
        fixed = sorted(k for k in (o.replace("-", "_") for o in overrides) if k in CURVE_SETS)
        if fixed:  # curve sets these itself for every run: a recipe's value would be ignored in silence
            raise UserError(f"--compare recipe '{name}': {', '.join(fixed)} cannot differ between recipes (the data, "
                            "split, seeds and folders are the curve's own: --train, --test, --seed, --output)")
        recipes.append((name, {k.replace("-", "_"): _coerce(v, hints.get(k.replace("-", "_")), name, k)
                               for k, v in overrides.items()}))
    names = [n for n, _ in recipes]
    if len(set(names)) != len(names):
        raise UserError(f"--compare: recipe names repeat ({', '.join(names)}); give each its own name")
    return recipes


def _coerce(value, kind, recipe: str, key: str):
    """A recipe's text value as its option's type (unknown keys are left to split_options' suggestion)."""
    if not isinstance(value, str) or kind is None:
        return value
    kinds = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]
    if value.lower() in ("none", "null") and type(None) in typing.get_args(kind):
        return None
    for t in kinds:
        if t is bool:
            if value.lower() in ("true", "yes", "1", "on"):
                return True
            if value.lower() in ("false", "no", "0", "off"):
                return False
        elif t in (int, float):
            try:
                return t(value)
            except ValueError:
                continue
        elif t is str:
            return value
    raise UserError(f"--compare recipe '{recipe}': {key}={value!r} is not a valid {' or '.join(t.__name__ for t in kinds)}")


# --- one run ------------------------------------------------------------------------------------------
def _train_one(cfg, opts, setup, train_ex, rows: list[int], test_ex, run_dir: str, seed: int, metric: str,
               keep_model: bool = False) -> dict:
    """Train on train_ex[rows], score test_ex; reuse the run in run_dir if it has the same settings and rows.

    keep_model: the active-learning loop needs the model to pick the next round; it is saved under
    run_dir/model, which the caller removes after use."""
    from . import run

    run_cfg = dataclasses.replace(cfg, output=os.path.join(run_dir, "model") if keep_model else run_dir,
                                  overwrite=True, resume=False, validation=None, validation_fraction=0.0, test=None,
                                  test_fraction=0.0, seed=seed)
    defaults = option_defaults(run_cfg, opts)
    spec = {"settings": _changed(to_dict(run_cfg, opts), defaults), "rows": rows}
    record_path, metrics_path = os.path.join(run_dir, RUN_FILE), os.path.join(run_dir, "metrics.json")
    if not keep_model and os.path.exists(record_path) and os.path.exists(metrics_path):
        try:  # a record that does not read (a run killed while writing it, before writes were atomic) is redone
            with open(record_path) as f, open(metrics_path) as g:
                stored, stored_metrics = json.load(f), json.load(g)
        except ValueError:
            stored, stored_metrics = {}, None
        if stored.get("rows") == rows and _changed(stored.get("settings", {}), defaults) == spec["settings"]:
            return _record(stored_metrics, rows, run_dir, metric, reused=True)
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    metrics = run.train(run_cfg, opts, examples=([train_ex[i] for i in rows], None, test_ex), setup=setup,
                        save_model=keep_model)
    if keep_model:  # the record files live beside the model, which goes once the next round is picked
        for name in ("metrics.json", "config.yaml", "train_log.jsonl"):
            if os.path.exists(os.path.join(run_cfg.output, name)):
                shutil.copy(os.path.join(run_cfg.output, name), os.path.join(run_dir, name))
    atomic_write_text(record_path, json.dumps(spec))
    return _record(metrics, rows, run_dir, metric, seconds=time.perf_counter() - start)


def _changed(settings: dict, defaults: dict) -> dict:
    """The settings that differ from the defaults: a run stays reusable when a new option (at its default) is
    added to labeltune."""
    from .checkpoint import NOT_IN_RECIPE  # how a run is logged or stored, not what it learns

    return {k: v for k, v in settings.items() if k not in NOT_IN_RECIPE and not (k in defaults and defaults[k] == v)}


def _record(metrics: dict, rows, run_dir: str, metric: str, reused: bool = False, seconds: float | None = None) -> dict:
    scores = metrics["test"]
    if metric not in scores:
        raise UserError(f"--metric {metric}: not among the task's metrics {sorted(k for k in scores if k != 'n')}")
    return {"score": float(scores[metric]), "n_labels": len(rows), "run_dir": run_dir,
            "metrics": {k: v for k, v in scores.items() if isinstance(v, (int, float))},
            **({"reused": True} if reused else {"seconds": round(seconds or 0.0, 1)})}


# --- the curves -----------------------------------------------------------------------------------------
def _budget(size, strata: list, per_class: bool) -> int:
    if size == "all":
        return len(strata)
    return size * len(set(strata)) if per_class else size


def _check_sizes(sizes: list, strata: list, per_class: bool, train_path) -> None:
    counts = {}
    for s in strata:
        counts[s] = counts.get(s, 0) + 1
    for size in sizes:
        if size == "all":
            continue
        if per_class and size > min(counts.values()):
            small = min(counts, key=counts.get)
            raise UserError(f"--sizes {size} --per-class: class '{small}' has only {counts[small]} rows in {train_path}; "
                            "use smaller sizes or 'all'")
        if not per_class and size > len(strata):
            raise UserError(f"--sizes {size}: {train_path} has only {len(strata)} training rows; use 'all' for all of them")
        if not per_class and size < len(counts) and len(counts) > 1:
            raise UserError(f"--sizes {size}: fewer labels than the {len(counts)} classes, so some class would have no "
                            "example; use at least that many (or --per-class)")


def _fixed_runs(cfg, opts, setup, train_ex, strata, test_ex, sizes, per_class, seed, line_dir, metric) -> list[dict]:
    out = []
    for size in sizes:
        rows = list(range(len(train_ex))) if size == "all" else stratified_subsample(strata, size, seed, per_class)
        run_dir = os.path.join(line_dir, str(size), f"seed-{seed}")
        print(f"[curve] {os.path.basename(line_dir)} size {size} seed {seed}: {len(rows)} labels ...", flush=True)
        rec = _train_one(cfg, opts, setup, train_ex, rows, test_ex, run_dir, seed, metric)
        out.append({"size": size, "seed": seed, **rec})
        print(f"[curve]   {metric}={rec['score']:.4f}", flush=True)
    return out


def _active_runs(cfg, opts, setup, train_ex, strata, test_ex, sizes, per_class, seed, line_dir, metric, strategy,
                 copts) -> list[dict]:
    """One simulated active-learning loop: seed set, then rounds of picks by `strategy`, each round retrained from
    the pretrained weights, or with copts.warm_start fine-tuned further from the previous round's model."""
    from . import active, run

    labelled = stratified_subsample(strata, sizes[0], seed, per_class) if sizes[0] != "all" else list(range(len(strata)))
    out, previous = [], None
    for r, size in enumerate(sizes):
        budget = _budget(size, strata, per_class)
        if r > 0:
            pool = sorted(set(range(len(train_ex))) - set(labelled))
            n = min(budget - len(labelled), len(pool))
            if strategy == "random":
                picks = random.Random(seed * 1000 + r).sample(pool, n)
            else:
                predictor = run.load(previous, batch_size=cfg.eval_batch_size)
                ranked = active.rank(predictor.rt, predictor.task, [train_ex[i] for i in pool], n, strategy,
                                     seed=seed * 1000 + r, mc_passes=copts.mc_passes,
                                     candidates=copts.candidates, labelled=[train_ex[i] for i in labelled])
                picks = [pool[i] for i, _ in ranked]
                del predictor
            labelled = sorted(labelled + picks)
        run_dir = os.path.join(line_dir, str(size), f"seed-{seed}")
        keep = (strategy != "random" or copts.warm_start) and r + 1 < len(sizes)
        round_cfg = dataclasses.replace(cfg, model=previous) if copts.warm_start and previous else cfg
        warm = " (from the previous round's model)" if round_cfg is not cfg else ""
        print(f"[curve] {os.path.basename(line_dir)} round {r} seed {seed}: {len(labelled)} labels{warm} ...", flush=True)
        rec = _train_one(round_cfg, opts, setup, train_ex, labelled, test_ex, run_dir, seed, metric, keep_model=keep)
        if previous:  # made by _train_one for this round's picks (and start); its records were copied up
            shutil.rmtree(previous)
        previous = os.path.join(run_dir, "model") if keep else None
        out.append({"size": size, "seed": seed, "round": r, **rec})
        print(f"[curve]   {metric}={rec['score']:.4f}", flush=True)
    return out


def summarize(runs: list[dict], lines: list[str], sizes: list) -> list[dict]:
    """Per curve and size: mean and sample sd over seeds, and each seed's score."""
    rows = []
    for line in lines:
        for size in sizes:
            rs = sorted((r for r in runs if r["curve"] == line and r["size"] == size), key=lambda r: r["seed"])
            if not rs:
                continue
            scores = [r["score"] for r in rs]
            rows.append({"curve": line, "size": size, "labels": round(statistics.fmean(r["n_labels"] for r in rs), 1),
                         "mean": statistics.fmean(scores), "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                         "seeds": [r["seed"] for r in rs], "scores": scores})
    return rows


def write_csv(rows: list[dict], seeds: list[int], path: str) -> None:
    with atomic_open(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(["curve", "size", "labels", "mean", "sd", "runs"] + [f"seed_{s}" for s in seeds])
        for r in rows:
            by_seed = dict(zip(r["seeds"], r["scores"]))
            w.writerow([r["curve"], r["size"], r["labels"], f"{r['mean']:.6f}", f"{r['sd']:.6f}", len(r["scores"])]
                       + [f"{by_seed[s]:.6f}" if s in by_seed else "" for s in seeds])


def plot(rows: list[dict], lines: list[str], metric: str, title: str, path: str) -> None:
    with plain_text_figures() as plt:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for line in lines:
            rs = [r for r in rows if r["curve"] == line]
            ax.errorbar([r["labels"] for r in rs], [r["mean"] for r in rs], yerr=[r["sd"] for r in rs], marker="o",
                        capsize=3, label=line)
        ax.set_xscale("log", base=2)
        ticks = sorted({r["labels"] for r in rows})
        ax.minorticks_off()
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
        ax.set_xlabel("labelled training examples")
        ax.set_ylabel(f"test {metric} (mean +- sd over seeds)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _check_same_data(out: str, train_ex: list, test_ex: list) -> None:
    """Runs in --output are reused by their settings and row numbers, so they must come from the same data."""
    from .checkpoint import fingerprint

    path = os.path.join(out, DATA_FILE)
    prints = {"train": fingerprint(train_ex), "test": fingerprint(test_ex)}
    if os.path.exists(path):
        with open(path) as f:
            if json.load(f) != prints:
                raise UserError(f"--output {out} holds curve runs on other training or test data; choose another "
                                "--output (its runs would be mistaken for runs on this data)")
        return
    atomic_write_text(path, json.dumps(prints))


def curve(cfg: TrainConfig, opts, copts: CurveOptions) -> dict:
    """Train at each label budget, recipe and seed; write curve.csv, curve.json, curve.png; return the report."""
    from . import active
    from .run import prepare_data
    from .tasks import get_task

    task = get_task(cfg.task)
    if not cfg.output:
        raise UserError("--output is required: the directory for curve.csv, curve.png and the runs")
    if cfg.train is None:
        raise UserError("--train is required: the labelled data to sample from")
    if cfg.test is None and not cfg.test_fraction:
        raise UserError("--test is required (the fixed set every run is scored on); or carve one from --train with "
                        "--test-fraction, e.g. 0.2 (recorded in split.json)")
    if cfg.validation:
        raise UserError("--validation: curve runs use no validation set (a few labels leave none to spare; each "
                        "run's last model is scored on --test); remove --validation")
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise UserError(f"--output {cfg.output} is a file, expected a directory")
    os.makedirs(cfg.output, exist_ok=True)
    data_cfg = dataclasses.replace(cfg, validation=None, validation_fraction=0.0)
    train_ex, _, test_ex = prepare_data(data_cfg, task, opts, cfg.output)
    _check_same_data(cfg.output, train_ex, test_ex)
    setup = task.setup(train_ex, opts)
    task.check(test_ex, setup, opts)
    _, strata = task.split_keys(train_ex)
    sizes = parse_sizes(copts.sizes)
    _check_sizes(sizes, strata, copts.per_class, cfg.train)
    strategies = parse_strategies(copts.strategy, copts.baseline)
    if strategies and len(sizes) < 2:
        raise UserError("--strategy needs at least two --sizes: the seed set and one round")
    active.check_strategies(task, strategies)  # before any run, not after
    recipes = parse_recipes(copts.compare, [TrainConfig, task.Options])
    seeds = [cfg.seed + i for i in range(copts.seeds)]
    metric = cfg.metric or task.default_metric(opts)

    runs, lines = [], []
    for name, overrides in recipes:
        values = {**to_dict(cfg, opts), **overrides}
        rcfg, ropts = split_options(values, [TrainConfig, task.Options], f"--compare recipe '{name}'")
        for strategy in strategies or [None]:
            line = name if strategy is None else (strategy if len(recipes) == 1 else f"{name}/{strategy}")
            lines.append(line)
            line_dir = os.path.join(cfg.output, "runs", line.replace("/", "-"))
            for seed in seeds:
                if strategy is None:
                    got = _fixed_runs(rcfg, ropts, setup, train_ex, strata, test_ex, sizes, copts.per_class, seed,
                                      line_dir, metric)
                else:
                    got = _active_runs(rcfg, ropts, setup, train_ex, strata, test_ex, sizes, copts.per_class, seed,
                                       line_dir, metric, strategy, copts)
                runs += [{"curve": line, "recipe": name, "overrides": overrides, "strategy": strategy, **r} for r in got]

    rows = summarize(runs, lines, sizes)
    for r in runs:
        r["run_dir"] = os.path.relpath(r["run_dir"], cfg.output)
    report = {"task": cfg.task, "model": cfg.model, "train_file": cfg.train, "test_file": cfg.test,
              "test_examples": len(test_ex), "train_rows": len(train_ex), "metric": metric, "per_class": copts.per_class,
              "sizes": sizes, "seeds": seeds, "recipes": {n: o for n, o in recipes}, "strategies": strategies,
              "summary": rows, "runs": runs}
    write_csv(rows, seeds, os.path.join(cfg.output, CSV_FILE))
    atomic_write_text(os.path.join(cfg.output, JSON_FILE), json.dumps(report, indent=1))
    title = f"{cfg.task} on {os.path.basename(cfg.train)}: {len(seeds)} seed(s)" + (", per class" if copts.per_class else "")
    plot(rows, lines, metric, title, os.path.join(cfg.output, PLOT_FILE))
    for r in rows:
        print(f"[curve] {r['curve']:>12} {str(r['size']):>5} ({r['labels']:g} labels): "
              f"{metric} {r['mean']:.4f} +- {r['sd']:.4f}", flush=True)
    print(f"[curve] wrote {CSV_FILE}, {JSON_FILE}, {PLOT_FILE} to {cfg.output}", flush=True)
    return report


def parse_args(argv: list[str]):
    """(TrainConfig, task options, CurveOptions) from the command line (defaults < YAML file < flags)."""
    from .cli import _add_dataclass_flags, _config_file, _flags_given, _task_name
    from .tasks import get_task

    config_file = _config_file(argv)
    task = get_task(_task_name(argv, config_file))
    parser = Parser(prog="labeltune curve", description=__doc__.split("\n")[0])
    if config_file:
        parser.add_argument("config", help="YAML file with the same option names as the flags")
    classes = [TrainConfig, task.Options, CurveOptions]
    for cls in classes:
        _add_dataclass_flags(parser, cls)
    ns = parser.parse_args(argv)
    values = read_yaml(config_file) if config_file else {}
    for cls in classes:
        values.update(_flags_given(ns, cls))
    # a YAML mapping `compare: {full: {}, fast: {lr: 3e-4}}` (as the Python API takes) is kept as it is: the option
    # is typed as the flag's string, which parse_recipes reads as well
    compare = values.pop("compare") if isinstance(values.get("compare"), dict) else None
    # every run gets no validation split, a fresh start and no saved weights: these would be ignored in silence
    unused = [k for k in ("validation_fraction", "resume", "save_adapter", "overwrite") if values.get(k) not in (None, False)]
    if unused:
        raise UserError(f"{', '.join('--' + k.replace('_', '-') for k in unused)}: curve does not use "
                        f"{'this flag' if len(unused) == 1 else 'these flags'} (each run trains afresh with no "
                        "validation split and keeps no weights; a rerun reuses finished runs); leave "
                        f"{'it' if len(unused) == 1 else 'them'} out")
    cfg, opts, copts = split_options(values, classes, config_file or "command line")
    if compare is not None:
        copts.compare = compare
    return cfg, opts, copts


def main(argv: list[str]) -> int:
    curve(*parse_args(argv))
    return 0
