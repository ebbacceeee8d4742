"""--augment-target salient / attack: augmentation aimed at the words the model being trained leans on.

Random typos (--augment-target random) rarely hit the one or two words the greedy attack edits (attack.py), so
they barely lower its success rate. Here, for each example chosen for augmentation, the words are ranked the way
the attack ranks them, with the model as it is at that training step: by how much deleting each word lowers the
score of the task's `attack_scores` hook (the gold label's probability for classification, the gold tags' mean
probability for NER, the answer's F1 for QA). Then the --augment perturbation edits the top ceil(severity x words)
words (the attack's budget rule):

- `salient`: one random edit of the perturbation per top word (adversarial data augmentation with the attack's
  perturbation family, as in Pruthi et al. 2019 and DeepWordBug's adversarial training);
- `attack`: per top word, most important first, the candidate edit (up to `CANDIDATES` draws of the perturbation)
  that lowers the score most, given the edits already made; it stops once the prediction is wrong. A one-step
  version of the attack's greedy search run inside the training loop (its successes and near-misses are what the
  model then learns from).

Cost: one forward pass per word of each augmented example (the deletions, batched), plus one per candidate for
`attack`. Labels stay aligned as for every --augment: the edits go through the task's `perturb` hook. A task
without an `attack_scores` hook is refused (UserError naming the flag). Hand-written: TextAttack's augmenters pick
words at random or by a fixed word list, not by the model being trained, and cannot move NER/QA labels.
"""

from __future__ import annotations

import math

from .perturb import FREE, LABELLED, Editor, Perturbation, identity_plan, targeted_plan

TARGETS = ("random", "salient", "attack")
CANDIDATES = 8  # edits tried per word by `attack` (the attack itself tries 2 of each of its 4 character edits)


def check_task(task, target: str) -> None:
    """Refuse a task that cannot rank its words (no attack_scores hook) before any training."""
    if target != "random" and getattr(task, "attack_scores", None) is None:
        from ..errors import UserError

        raise UserError(f"--augment-target {target}: the task '{task.name}' has no attack_scores hook to rank its "
                        "words by; use --augment-target random")


def _words(task, example, perturbation: Perturbation, fresh_rng) -> tuple[int, list[tuple[int, str]]]:
    """(number of words the example has, [(word number, word)] that the perturbation may edit)."""
    recorder = Editor(identity_plan)
    task.perturb(example, recorder, fresh_rng())
    allowed = {FREE, LABELLED} if perturbation.touches_labels else {FREE}
    return len(recorder.seen), [(k, w) for k, (w, kind) in enumerate(recorder.seen) if kind in allowed]


def salient_edits(task, rt, example: dict, perturbation: Perturbation, severity: float, target: str, rng,
                  fresh_rng) -> dict[int, str]:
    """{word number: replacement} for `example`: the perturbation applied to its most important words.

    `rng` draws the edits; `fresh_rng()` gives the generator handed to the task's `perturb` hook, the same one at
    every call, so that word numbers stay the same across calls (as the attack does)."""

    def variant(edits: dict[int, str]) -> dict:
        return task.perturb(example, Editor(targeted_plan(edits)), fresh_rng())

    n_words, words = _words(task, example, perturbation, fresh_rng)
    want = min(len(words), math.ceil(severity * n_words - 1e-9))
    if want <= 0:
        return {}
    scores = task.attack_scores(rt, [example] + [variant({k: ""}) for k, _ in words])
    s0 = scores[0][0]
    order = sorted(range(len(words)), key=lambda j: (-(s0 - scores[j + 1][0]), j))
    edits: dict[int, str] = {}
    for j in order:
        if len(edits) >= want:
            break
        k, w = words[j]
        if target == "salient":
            rep = perturbation.edit(w, rng)
            if rep is not None and rep != w:
                edits[k] = rep
            continue
        cands = []
        for _ in range(CANDIDATES):
            c = perturbation.edit(w, rng)
            if c is not None and c != w and c not in cands:
                cands.append(c)
        if not cands:
            continue
        results = task.attack_scores(rt, [variant({**edits, k: c}) for c in cands])
        best = min(range(len(cands)), key=lambda c: (results[c][1], results[c][0], c))
        edits[k] = cands[best]
        if not results[best][1]:  # the prediction is wrong: the attack would stop here
            break
    return edits


def salient_plan(task, rt, example, perturbation, severity, target, rng, fresh_rng):
    """An Editor plan with the salient edits of `example` (computed once, now, with the model as it is)."""
    return targeted_plan(salient_edits(task, rt, example, perturbation, severity, target, rng, fresh_rng))
