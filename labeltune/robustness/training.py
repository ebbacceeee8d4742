"""Robust training for `labeltune train` (every task): --augment, --augment-consistency, --rdrop, --adv-eps.

- `AugmentedFeatures` (--augment typo,case --augment-prob P): each epoch a seeded share P of the training examples
  is perturbed through the task's `perturb` hook (labels move with the words) and re-encoded; the loop reads
  features from it as from a list. The choice depends only on (seed, epoch, example), so a resumed run sees the
  same data. A perturbed example whose encoding has another number of windows than the clean one keeps the clean
  features (the loop's batches are planned from the clean lengths). --augment-target salient / attack edit the
  words the model being trained leans on instead of random ones (salient.py; `bind(rt)` hands over the model).
- `paired_batch` (--augment-consistency ALPHA): each row served perturbed is trained beside its clean original in
  the same batch, and ALPHA x the symmetric KL between the two predictions is added (`_pair_kl`), so that the
  model learns to give a perturbed input the answer of the clean one, not only the gold label.
- `robust_step` (--rdrop ALPHA, --adv-eps EPS, --augment-consistency): one micro-batch's forward and backward passes.
  R-Drop (Liang et al. 2021): two forward passes with different dropout masks (the batch stacked twice), the mean
  of their losses plus ALPHA x
  the symmetric KL between their output distributions (every `*logits` output of the model, over its last axis;
  sigmoid outputs of multi-label models as Bernoulli distributions), so it is task-agnostic.
  FGM (Miyato et al. 2017): after the clean backward pass, the input embedding matrix is moved by EPS along its
  gradient (L2-normalised), the loss of that adversarial pass is back-propagated too, and the matrix is restored.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from .perturb import PERTURBATIONS, Editor, example_rng, parse_names, random_plan
from .salient import check_task, salient_plan


class AugmentedFeatures:
    """A list-like view of the training features in which this epoch's chosen examples are perturbed."""

    def __init__(self, task, examples, features, encode, cfg):
        hook = getattr(task, "perturb", None)
        if hook is None:
            from ..errors import UserError

            raise UserError(f"--augment: the task '{task.name}' has no perturb hook")
        self.hook, self.examples, self.features, self.encode = hook, examples, features, encode
        self.perturbations = [PERTURBATIONS[n] for n in parse_names(cfg.augment, "--augment")]
        self.prob, self.severity, self.seed = cfg.augment_prob, cfg.augment_severity, cfg.seed
        self.target, self.task, self.rt = getattr(cfg, "augment_target", "random"), task, None
        check_task(task, self.target)
        # which example each feature came from: the encoders keep example order, one or more features each
        if len(features) == len(examples):
            counts = [1] * len(examples)
        else:
            counts = [len(encode([e])) for e in examples]
        self.counts, self.owner, self.window = counts, [], []
        for i, n in enumerate(counts):
            self.owner += [i] * n
            self.window += list(range(n))
        if len(self.owner) != len(features):
            raise RuntimeError("--augment: the features do not follow the examples' order")
        self.set_epoch(0)

    def bind(self, rt) -> None:
        """The Runtime whose model ranks the words for --augment-target salient / attack (the model in training:
        an example is ranked when the loop first asks for it in an epoch, so by the model of that step)."""
        self.rt = rt

    def set_epoch(self, epoch: int) -> None:
        rng = random.Random(f"{self.seed}|augment|{epoch}")
        self.epoch = epoch
        self.chosen = {i for i in range(len(self.examples)) if rng.random() < self.prob}
        self.cache: dict[int, list[dict]] = {}

    def _perturbed(self, i: int) -> list[dict]:
        if i not in self.cache:
            rng = example_rng(self.seed, "augment", self.epoch, i)
            pert = self.perturbations[rng.randrange(len(self.perturbations))]
            hook_rng = rng
            if self.target == "random":
                plan = random_plan(pert, self.severity)
            else:
                if self.rt is None:
                    raise RuntimeError("--augment-target: AugmentedFeatures.bind(rt) was not called")
                fresh = lambda: example_rng(self.seed, "augment-words", self.epoch, i)  # noqa: E731
                plan = salient_plan(self.task, self.rt, self.examples[i], pert, self.severity, self.target, rng, fresh)
                hook_rng = fresh()  # the word numbers the plan refers to
            example = self.hook(self.examples[i], Editor(plan), hook_rng)
            self.cache[i] = self.encode([example])
        return self.cache[i]

    def twin(self, k: int) -> dict | None:
        """Row k's clean feature when this epoch serves the row perturbed (for --augment-consistency), else None."""
        i = self.owner[k]
        if i not in self.chosen:
            return None
        return self.features[k] if len(self._perturbed(i)) == self.counts[i] else None

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, k: int) -> dict:
        i = self.owner[k]
        if i not in self.chosen:
            return self.features[k]
        feats = self._perturbed(i)
        return feats[self.window[k]] if len(feats) == self.counts[i] else self.features[k]


def _logits(out) -> list[torch.Tensor]:
    return [v for k, v in out.items() if k.endswith("logits") and isinstance(v, torch.Tensor)]


def _sym_kl(a: torch.Tensor, b: torch.Tensor, batch: dict, sigmoid: bool) -> torch.Tensor:
    a, b = a.float(), b.float()
    if sigmoid:  # independent Bernoulli per label
        pa, pb = torch.sigmoid(a), torch.sigmoid(b)
        la, lb = torch.stack([F.logsigmoid(-a), F.logsigmoid(a)]), torch.stack([F.logsigmoid(-b), F.logsigmoid(b)])
        pa, pb = torch.stack([1 - pa, pa]), torch.stack([1 - pb, pb])
        kl = ((pa * (la - lb)) + (pb * (lb - la))).sum(0)
        return 0.5 * kl.mean()
    la, lb = F.log_softmax(a, -1), F.log_softmax(b, -1)
    kl = 0.5 * ((la.exp() * (la - lb)).sum(-1) + (lb.exp() * (lb - la)).sum(-1))
    # token-level outputs: only positions that count (labels set, else real tokens)
    labels, mask = batch.get("labels"), batch.get("attention_mask")
    if labels is not None and labels.shape == kl.shape:
        weights = (labels != -100).float()
    elif mask is not None and mask.shape == kl.shape:
        weights = mask.float()
    else:
        return kl.mean()
    return (kl * weights).sum() / weights.sum().clamp(min=1)


def paired_batch(features: AugmentedFeatures, rows: list[int], collate) -> tuple[dict, tuple[torch.Tensor, ...]]:
    """--augment-consistency: one batch of the rows as this epoch serves them, then the clean twin of each row
    served perturbed; with (positions of the perturbed rows, positions of their twins) as index tensors."""
    served = [features[i] for i in rows]
    twins = [(j, t) for j, i in enumerate(rows) if (t := features.twin(i)) is not None]
    batch = collate(served + [t for _, t in twins])
    return batch, (torch.tensor([j for j, _ in twins], dtype=torch.long),
                   torch.arange(len(served), len(served) + len(twins)))


def _pair_kl(x: torch.Tensor, batch: dict, a: torch.Tensor, b: torch.Tensor, sigmoid: bool) -> torch.Tensor:
    """Symmetric KL between the outputs of rows a (perturbed) and b (their clean twins).

    One distribution per row (sequence classification: [rows, labels]) is compared as it is. Token outputs
    ([rows, tokens, classes] with per-token labels: NER tags, translation targets) are compared at the labelled
    positions, in order, for pairs with as many of them in both views (a word drop shifts NER words; such a pair
    is left out). Outputs over the positions of one input (QA's start/end logits) have no common support between
    two different inputs: no term, the pair is then only trained on twice."""
    seq = batch["input_ids"].shape[1]
    if x.dim() == 2 and x.shape[1] != seq:
        return _sym_kl(x[a], x[b], {}, sigmoid)
    labels = batch.get("labels")
    if x.dim() == 3 and labels is not None and labels.shape == x.shape[:2]:
        xa, xb = [], []
        for i, j in zip(a.tolist(), b.tolist()):
            ma, mb = labels[i] != -100, labels[j] != -100
            if int(ma.sum()) == int(mb.sum()) > 0:
                xa.append(x[i][ma])
                xb.append(x[j][mb])
        if xa:
            return _sym_kl(torch.cat(xa), torch.cat(xb), {}, sigmoid)
    return x.new_zeros(()).float()


def robust_step(model, batch: dict, cfg, backward, pairs: tuple[torch.Tensor, ...] | None = None) -> float:
    """Forward and backward for one micro-batch with R-Drop and/or FGM and/or the consistency term of
    --augment-consistency (`pairs` from `paired_batch`); `backward(loss)` back-propagates (the caller scales by
    gradient accumulation). Returns the loss value (the task loss, as logged without)."""
    raw = getattr(model, "module", model)
    sigmoid = getattr(raw.config, "problem_type", None) == "multi_label_classification"
    n = batch["input_ids"].shape[0]
    if cfg.rdrop:
        # both dropout passes in one forward of the batch stacked twice (one pass for DDP, and faster); the
        # stacked batch's mean loss is the mean of the two passes' losses
        out = model(**{k: torch.cat([v, v]) if torch.is_tensor(v) and v.shape[:1] == (n,) else v
                       for k, v in batch.items()})
        kl = sum(_sym_kl(x[:n], x[n:], batch, sigmoid) for x in _logits(out))
        loss = out.loss + cfg.rdrop * kl
    else:
        out = model(**batch)
        loss = out.loss
    alpha = getattr(cfg, "augment_consistency", 0.0)
    if alpha and pairs is not None and len(pairs[0]):
        # TRADES-style (Zhang et al. 2019) with the perturbed view: the prediction on a perturbed example is
        # pulled toward the one on its clean original (both views also carry the task loss)
        loss = loss + alpha * sum(_pair_kl(x[:n], batch, *pairs, sigmoid) for x in _logits(out))
    backward(loss)
    if cfg.adv_eps:
        weight = getattr(model, "module", model).get_input_embeddings().weight
        grad = weight.grad
        if grad is not None:
            norm = grad.norm()
            if torch.isfinite(norm) and norm > 0:
                delta = cfg.adv_eps * grad / norm
                with torch.no_grad():
                    weight.add_(delta)
                backward(model(**batch).loss)
                with torch.no_grad():
                    weight.sub_(delta)
    return float(out.loss.detach())
