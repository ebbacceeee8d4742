"""CLI: ``python -m labeltune.corpora <translation|ner|qa> --out DIR [--seed N]``."""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m labeltune.corpora",
                                description="Build real-text data sets from public-domain Bibles.")
    p.add_argument("corpus", choices=["translation", "ner", "qa"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="book", choices=["book", "random"],
                   help="translation only: hold out whole books or random verses")
    p.add_argument("--with-impossible", action="store_true",
                   help="qa only: add SQuAD v2.0 unanswerable questions")
    args = p.parse_args(argv)

    start = time.perf_counter()
    try:
        if args.corpus == "translation":
            from .bible import build_translation
            stats = build_translation(args.out, split=args.split, seed=args.seed)
        elif args.corpus == "ner":
            from .ner_silver import build_ner
            stats = build_ner(args.out, seed=args.seed)
        else:
            from .qa_bible import build_qa
            stats = build_qa(args.out, seed=args.seed, with_impossible=args.with_impossible)
    except RuntimeError as e:  # missing diatheke / spaCy model: say what to install
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(stats, indent=2))
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
