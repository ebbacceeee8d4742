"""Seeded, stratified, grouped splits of one data set.

Rows that share a group (the same text, the same document, the same QA context) always land in the same
part, so no test example has a twin in training. Stratification keeps each label's share in every part.
"""

from __future__ import annotations

import random
from collections import defaultdict

from ..errors import UserError


def grouped_stratified_split(
    groups: list, strata: list, fractions: list[float], seed: int
) -> list[list[int]]:
    """Split row indices into len(fractions) + 1 parts: one per fraction, then the rest.

    `groups[i]` is row i's group key and `strata[i]` its stratum (its label; rows of one group take the
    stratum of the group's first row). Returns sorted index lists, e.g. [validation, test, train].
    """
    members = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_stratum = defaultdict(list)
    for g, idx in members.items():
        by_stratum[strata[idx[0]]].append(g)
    rng = random.Random(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for stratum in sorted(by_stratum, key=str):
        gs = sorted(by_stratum[stratum], key=str)
        rng.shuffle(gs)
        start = 0
        for p, frac in enumerate(fractions):
            n = round(frac * len(gs))
            for g in gs[start : start + n]:
                parts[p].extend(members[g])
            start += n
        for g in gs[start:]:
            parts[-1].extend(members[g])
    return [sorted(p) for p in parts]


def kfold(groups: list, strata: list | None, k: int, seed: int) -> list[list[int]]:
    """k disjoint folds of row indices; groups never straddle folds; stratified when `strata` is given.

    Groups are dealt round-robin per stratum after a seeded shuffle, which keeps both the fold sizes
    and the label shares even.
    """
    members = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    if k < 2:
        raise UserError(f"--folds {k}: k-fold cross-validation needs at least 2 folds")
    if len(members) < k:  # else some folds would be empty
        raise UserError(f"--folds {k}: the data has only {len(members)} groups (rows that must stay together); "
                        f"use at most {len(members)} folds or more data")
    by_stratum = defaultdict(list)
    for g, idx in members.items():
        by_stratum[strata[idx[0]] if strata is not None else None].append(g)
    rng = random.Random(seed)
    folds = [[] for _ in range(k)]
    for stratum in sorted(by_stratum, key=str):
        gs = sorted(by_stratum[stratum], key=str)
        rng.shuffle(gs)
        gs.sort(key=lambda g: -len(members[g]))  # stable: big groups first, shuffled within a size
        in_stratum = [0] * k
        for g in gs:
            # the fold with the fewest rows of this stratum, then the fewest rows overall
            f = min(range(k), key=lambda x: (in_stratum[x], len(folds[x]), x))
            folds[f].extend(members[g])
            in_stratum[f] += len(members[g])
    return [sorted(f) for f in folds]
