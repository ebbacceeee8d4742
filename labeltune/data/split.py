"""Seeded, stratified, grouped splits of one data set.

Rows that share a group (the same text, the same document, the same QA context) always land in the same
part, so no test example has a twin in training. Stratification keeps each label's share in every part.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict

from ..errors import UserError


def grouped_stratified_split(
    groups: list, strata: list, fractions: list[float], seed: int
) -> list[list[int]]:
    """Split row indices into len(fractions) + 1 parts: one per fraction, then the rest.

    `groups[i]` is row i's group key and `strata[i]` its stratum (its label; rows of one group take the
    stratum of the group's first row). Returns sorted index lists, e.g. [validation, test, train].

    Part p gets round(fractions[p] x number of groups) groups in all (halves round up), shared out among
    the strata by largest remainder (Hamilton's method): each stratum first gets the whole part of its
    exact share, and the groups still missing go to the strata with the largest fractional shares. So a
    10% validation split of 30 groups in 7 labels has 3 groups, where rounding per label would give none.
    A remainder never takes a stratum's last group: every label keeps at least one group in the last part.
    """
    members = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_stratum = defaultdict(list)
    for g, idx in members.items():
        by_stratum[strata[idx[0]]].append(g)
    rng = random.Random(seed)
    order = sorted(by_stratum, key=str)
    shuffled = {}
    for stratum in order:
        gs = sorted(by_stratum[stratum], key=str)
        rng.shuffle(gs)
        shuffled[stratum] = gs
    taken = {stratum: 0 for stratum in order}  # groups of each stratum given to earlier parts
    parts = [[] for _ in range(len(fractions) + 1)]
    for p, frac in enumerate(fractions):
        exact = {s: frac * len(shuffled[s]) for s in order}
        count = {s: min(math.floor(exact[s]), len(shuffled[s]) - taken[s]) for s in order}
        missing = math.floor(frac * len(members) + 0.5) - sum(count.values())
        for s in sorted(order, key=lambda s: exact[s] - math.floor(exact[s]), reverse=True):  # stable: ties by name
            if missing <= 0:
                break
            if taken[s] + count[s] < len(shuffled[s]) - 1:  # a stratum's last group stays in training: else
                count[s] += 1  # a label seen once would be held out and training would refuse its own data
                missing -= 1
        for s in order:
            for g in shuffled[s][taken[s] : taken[s] + count[s]]:
                parts[p].extend(members[g])
            taken[s] += count[s]
    for s in order:
        for g in shuffled[s][taken[s] :]:
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


def stratified_subsample(strata: list, size: int, seed: int, per_stratum: bool = False) -> list[int]:
    """`size` row indices drawn without replacement, in proportion to the strata (learning curves).

    per_stratum: `size` rows of every stratum. Otherwise `size` rows in all, shared out by largest remainder
    (Hamilton's method, as in grouped_stratified_split): each stratum gets the whole part of its exact share,
    the rows still missing go to the largest fractional shares (ties: the larger stratum, then by name).
    Each stratum's rows are shuffled once per seed and taken from the front, so for one seed a smaller
    sample lies inside a larger one (nested curves) wherever the quotas grow with `size` -- always for
    per_stratum and for two strata. Returns sorted indices; the caller checks that `size` fits.
    """
    members = defaultdict(list)
    for i, s in enumerate(strata):
        members[s].append(i)
    order = sorted(members, key=str)
    rng = random.Random(seed)
    shuffled = {}
    for s in order:
        rows = list(members[s])
        rng.shuffle(rows)
        shuffled[s] = rows
    if per_stratum:
        count = {s: min(size, len(members[s])) for s in order}
    else:
        size = min(size, len(strata))
        exact = {s: size * len(members[s]) / len(strata) for s in order}
        count = {s: math.floor(exact[s]) for s in order}
        missing = size - sum(count.values())
        by_remainder = sorted(order, key=lambda s: (-(exact[s] - count[s]), -len(members[s]), str(s)))
        for s in by_remainder[:missing]:
            count[s] += 1
    return sorted(i for s in order for i in shuffled[s][: count[s]])
