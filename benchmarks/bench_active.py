"""Active learning on Rotten Tomatoes: labels a strategy needs to reach the accuracy random sampling reaches
with 1,000 labels (issue 15's target: at most 60% of them, i.e. 600).

Protocol (a simulated loop, `labeltune curve --strategy`): a balanced --rows slice of the bundled Rotten
Tomatoes sentences (--rows 0: all 8,530); --test-fraction of it carved off once as the fixed test set (grouped by
text, stratified, seed 0: test.csv), the rest is the pool (pool.csv) whose labels are revealed only when
picked. Every arm and seed is scored on that same test.csv. Round 0 labels a stratified seed set (the first
size, the same rows for every arm of one seed); each later round picks up to the next budget with the previous
round's model and retrains from the pretrained weights on every label so far, with no validation split and
labeltune's default settings for its size (at least ~300 optimizer steps, at most 20 epochs: labeltune/defaults.py)
unless --epochs/--batch-size/--lr fix them, for random and the strategies alike. Random picks (unstratified,
seeded) are the baseline, trained at --random-sizes up to the largest budget (a random model depends only on its
rows, not on the rounds before it, so it needs no intermediate rounds); each strategy runs --sizes, up to 60% of
it. "Labels needed" is the smallest budget whose mean test accuracy (over the seeds) reaches random's mean at
its largest budget, interpolated linearly between measured budgets; not reached within the strategy's sizes:
reported as null (above its largest size). Each (arm, seed) is one `labeltune curve --seed S --seeds 1` process
(seeds --seed .. --seed + --seeds - 1), --processes of them at a time, each into --output/<arm>/seed-<S>; a job
whose folder holds a finished curve run by the same command is not run again (delete the folder to redo it).

--warm-start: the strategies fine-tune each round further from the previous round's model (`curve --warm-start`),
as arms `<strategy>-warm`, beside `random-warm` (random picks at the strategies' sizes, warm-started alike, so the
gain of the picks is told apart from the gain of the longer training). The target stays random's accuracy at its
largest budget retrained from the pretrained weights: the plain baseline, reused from the same --output.

    python benchmarks/bench_active.py --strategy diverse,entropy --seeds 3 --rows 8000 --output runs/bench_active

Metric only (accuracy and label counts, no timings), so it may run on a busy machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from labeltune.curve import plot, summarize  # noqa: E402
from labeltune.data.bundled import rotten_tomatoes  # noqa: E402
from labeltune.data.split import grouped_stratified_split  # noqa: E402

SIZES = "100,200,400,600"
RANDOM_SIZES = "100,600,1000"


def labels_needed(rows: list[dict], line: str, target: float) -> float | None:
    """The budget where `line`'s mean first reaches `target`, interpolated between measured budgets."""
    points = sorted((r["labels"], r["mean"]) for r in rows if r["curve"] == line)
    for (x0, y0), (x1, y1) in zip([(0, 0.0)] + points, points):
        if y1 >= target:
            return x1 if y1 == y0 or x0 == 0 else x0 + (target - y0) / (y1 - y0) * (x1 - x0)
    return None


def split(data: str, out_dir: str, test_fraction: float) -> tuple[str, str]:
    """pool.csv and test.csv: one grouped (identical texts together), stratified split with seed 0."""
    with open(data, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    test_idx, pool_idx = grouped_stratified_split([r["text"] for r in rows], [r["label"] for r in rows],
                                                  [test_fraction], 0)
    paths = []
    for name, idx in (("pool", pool_idx), ("test", test_idx)):
        paths.append(os.path.join(out_dir, f"{name}.csv"))
        with open(paths[-1], "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([rows[i]["text"], rows[i]["label"]] for i in idx)
    return paths[0], paths[1]


def run_jobs(jobs: dict, processes: int, out_dir: str) -> None:
    """Run the `labeltune curve` commands, `processes` at a time; skip those already finished by the same command."""
    todo = []
    for (arm, seed), args in jobs.items():
        folder = os.path.join(out_dir, arm, f"seed-{seed}")
        record = os.path.join(folder, "bench_job.json")
        if os.path.exists(os.path.join(folder, "curve.json")) and os.path.exists(record):
            with open(record) as f:
                if json.load(f) == args:
                    print(f"[bench] {arm} seed {seed}: finished before, reused", flush=True)
                    continue
        todo.append((arm, seed, folder, args))
    running, failed = [], []
    while todo or running:
        while todo and len(running) < processes:
            arm, seed, folder, args = todo.pop(0)
            os.makedirs(folder, exist_ok=True)
            if os.path.exists(os.path.join(folder, "curve.json")):
                os.remove(os.path.join(folder, "curve.json"))  # from another command: not this job's result
            log = open(os.path.join(out_dir, f"{arm}-seed-{seed}.log"), "w")
            print(f"[bench] start {arm} seed {seed}", flush=True)
            proc = subprocess.Popen([sys.executable, "-m", "labeltune", "curve", *args, "--output", folder],
                                    stdout=log, stderr=subprocess.STDOUT)
            running.append((arm, seed, folder, args, proc, log))
        time.sleep(2)
        for job in list(running):
            arm, seed, folder, args, proc, log = job
            if proc.poll() is None:
                continue
            running.remove(job)
            log.close()
            if proc.returncode:
                failed.append(f"{arm} seed {seed}")
            else:
                with open(os.path.join(folder, "bench_job.json"), "w") as f:
                    json.dump(args, f)
            print(f"[bench] done {arm} seed {seed} (exit {proc.returncode})", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}; see {out_dir}/<arm>-seed-<seed>.log")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategy", default="diverse", help="comma-separated strategies (random is always run)")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed", type=int, default=42, help="the first seed")
    p.add_argument("--rows", type=int, default=8000, help="balanced slice of Rotten Tomatoes (pool + test; 0: all)")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--sizes", default=SIZES, help="the strategies' label budgets; the first is the stratified seed set")
    p.add_argument("--random-sizes", default=RANDOM_SIZES, help="random's budgets; its largest is the target's")
    p.add_argument("--candidates", type=int, help="for diverse: the round's size x this many closest calls (default 10)")
    p.add_argument("--epochs", type=float, help="per round (default: labeltune's auto rule for each round's size)")
    p.add_argument("--batch-size", type=int, help="(default: auto)")
    p.add_argument("--lr", type=float, help="(default: auto)")
    p.add_argument("--max-steps", type=int, help="optimizer steps per round, at every size (default: auto)")
    p.add_argument("--warm-start", action="store_true", help="strategy arms (and random-warm) fine-tune each round "
                                                              "from the previous round's model")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--threads", type=int, default=1, help="per process")
    p.add_argument("--processes", type=int, default=2, help="curve processes at a time")
    p.add_argument("--output", default="runs/bench_active")
    a = p.parse_args()
    os.makedirs(a.output, exist_ok=True)
    data = rotten_tomatoes(os.path.join(a.output, "rt.csv"), limit=a.rows, seed=0)
    pool, test = split(data, a.output, a.test_fraction)
    sizes, random_sizes = [int(s) for s in a.sizes.split(",")], [int(s) for s in a.random_sizes.split(",")]
    if sizes[0] != random_sizes[0]:
        sys.exit("--sizes and --random-sizes must start with the same seed set")
    top = max(random_sizes)
    strategies = [s for s in a.strategy.split(",") if s and s != "random"]
    seeds = [a.seed + i for i in range(a.seeds)]
    common = ["--train", pool, "--test", test, "--model", a.model, "--seeds", "1", "--threads", str(a.threads),
              "--quiet"]
    for name, value in (("--epochs", a.epochs), ("--batch-size", a.batch_size), ("--lr", a.lr),
                        ("--max-steps", a.max_steps), ("--candidates", a.candidates)):
        if value is not None:
            common += [name, str(value)]
    if a.warm_start:  # arm name -> the curve strategy it runs
        strategies = [f"{s}-warm" for s in ["random"] + strategies]
    jobs = {}  # seed by seed (an early paired result), the strategies' longer rounds first
    for seed in seeds:
        for arm in strategies + ["random"]:
            extra = (["--sizes", a.random_sizes, "--strategy", "random"] if arm == "random"
                     else ["--sizes", a.sizes, "--strategy", arm.removesuffix("-warm"), "--no-baseline"]
                     + (["--warm-start"] if arm.endswith("-warm") else []))
            jobs[(arm, seed)] = common + ["--seed", str(seed)] + extra
    run_jobs(jobs, a.processes, a.output)

    runs = []
    for arm, seed in jobs:
        with open(os.path.join(a.output, arm, f"seed-{seed}", "curve.json")) as f:
            runs += [{**r, "curve": arm} for r in json.load(f)["runs"]]
    arms = ["random"] + strategies
    rows = summarize(runs, arms, sorted(set(sizes) | set(random_sizes)))
    target = next(r["mean"] for r in rows if r["curve"] == "random" and r["labels"] == top)
    result = {"random_labels": top, "random_accuracy": target, "seeds": seeds, "test_rows": _count(test),
              "pool_rows": _count(pool), "protocol": vars(a), "curves": rows, "strategies": {}}
    random_top = {r["seed"]: r["score"] for r in runs if r["curve"] == "random" and r["size"] == top}
    for s in strategies:
        need = labels_needed(rows, s, target)
        last = {r["seed"]: r["score"] for r in runs if r["curve"] == s and r["size"] == max(sizes)}
        gaps = [last[seed] - random_top[seed] for seed in seeds]
        result["strategies"][s] = {
            "labels_needed": need, "share_of_random": None if need is None else need / top,
            "target_met": need is not None and need <= 0.6 * top,
            f"accuracy_minus_random_{top}_at_{max(sizes)}_per_seed": [round(g, 4) for g in gaps],
            "mean_gap": statistics.fmean(gaps), "sd_gap": statistics.stdev(gaps) if len(gaps) > 1 else 0.0}
    plot(rows, arms, "accuracy", f"active learning, Rotten Tomatoes ({len(seeds)} seed(s))",
         os.path.join(a.output, "bench_active.png"))
    for r in rows:
        print(f"{r['curve']:>10} {r['labels']:>6g} labels: {r['mean']:.4f} +- {r['sd']:.4f}  "
              f"({', '.join(f'{x:.4f}' for x in r['scores'])})")
    print(json.dumps({k: v for k, v in result.items() if k not in ("curves", "protocol")}, indent=1))
    with open(os.path.join(a.output, "bench_active.json"), "w") as f:
        json.dump(result, f, indent=1)


def _count(path: str) -> int:
    with open(path, encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


if __name__ == "__main__":
    main()
