"""`labeltune suggest`: which unlabelled rows to label next (active learning), and the ranking curve.py uses.

Strategies (`rank`):
- random: a seeded shuffle (the baseline);
- entropy: the predictive entropy, highest first;
- margin: 1 - (top probability - second probability), so the closest calls come first;
- bald: MC-dropout BALD (Houlsby et al. 2011; Gal et al. 2017): `mc_passes` forward passes with the dropout
  layers on, score = entropy of the mean prediction - mean entropy of each pass (the disagreement between
  passes, i.e. what the weights do not know). Dropout on the hidden states; attention dropout stays off;
- badge: BADGE (Ash et al. 2020): each row's gradient embedding (p - onehot(argmax p)) x h of the layer
  that yields the logits (h: its input), then k-means++ seeding on those embeddings, so the picks are both
  uncertain (long embeddings) and different from one another;
- kmeans: k-means with n clusters on the rows' mean-pooled, L2-normalised last hidden states; the row
  nearest each centroid, largest clusters first (pure diversity, uncertainty ignored);
- diverse: diverse mini-batch active learning (Zhdanov 2019, "weighted k-means"): the `candidates` x n rows with
  the closest calls (margin), clustered into n groups by k-means on their mean-pooled embeddings weighted by the
  margin score; the candidate nearest each centre, closest call first. Uncertain, but neither n near-copies of
  one hard case (top-n uncertainty does that within a round) nor a lone outlier (a centre lies where candidates
  are dense).
- typiclust: TypiClust (Hacohen, Dekel and Weinshall 2022, "Active learning on a budget"), made for small
  budgets, where uncertainty picks lose to random ones: k-means with (labelled + n) clusters (at most 500) on the
  L2-normalised mean-pooled embeddings of the pool and the rows already labelled (`--labelled`), then, round-robin
  over the clusters holding the fewest labelled rows, largest first, the most typical unlabelled row of each: the
  one whose 20 nearest neighbours in its cluster are closest (typicality = 1 / mean distance). So a round covers
  the regions no label covers yet, with rows that stand for many others rather than outliers.
- cal: contrastive active learning (Margatina et al. 2021, "Active learning by acquiring contrastive examples"):
  each pool row's 10 nearest labelled rows (`--labelled`) in the model's own L2-normalised feature space (the
  classifier's input), and the mean KL divergence KL(p(neighbour) || p(row)) of the model's predictions: rows that
  look like labelled ones but are predicted differently, i.e. near the decision boundary and among data the model
  has seen, not in empty regions.

What a row's prediction is comes from the task's optional hook `active_outputs(rt, examples, embed)`:
per example "probs", an array (units x classes) -- one unit for a classified text, one binary unit per
label when multi-label, one per word for NER -- and "embedding" (the dict `embed(model_output, batch)` gives
for its row; NER gives each word's head input). Scores over several units are averaged (a sentence's mean
word uncertainty). A task without the hook supports only `random`.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .config import changed, opt
from .cli_help import Parser
from .errors import UserError, check, flag

STRATEGIES = ("random", "entropy", "margin", "bald", "badge", "kmeans", "diverse", "typiclust", "cal")
LABELLED_STRATEGIES = ("typiclust", "cal")  # the strategies that read the rows already labelled


@dataclass
class SuggestOptions:
    """The flags of `labeltune suggest`."""

    model: str = opt(None, "a directory written by `labeltune train`")
    pool: str = opt(None, "unlabelled rows to choose from (the model's input columns; labels not needed)")
    output: str = opt(None, "file for the chosen rows with their rank and score (.csv, .tsv, .jsonl, .json or "
                            ".parquet by the name; - for standard output, JSON Lines)")
    n: int = opt(100, "how many rows to suggest")
    strategy: str = opt("entropy", " | ".join(STRATEGIES))
    mc_passes: int = opt(10, "for bald: forward passes with dropout on")
    candidates: int = opt(10, "for diverse: cluster the n x this many closest calls (Zhdanov 2019: 10)")
    labelled: str = opt(None, "for typiclust and cal: the rows already labelled (e.g. the model's training file): "
                        "typiclust picks where no label is yet (without it every region counts as unlabelled); "
                        "cal compares each pool row with its nearest labelled rows (required)")
    seed: int = opt(0, "seed for random, bald's dropout masks and the k-means of badge, kmeans, diverse, typiclust")
    batch_size: int = opt(64, "examples per batch when scoring the pool")
    precision: str = opt("auto", "auto | bf16 | fp16 | fp32")

    def __post_init__(self):
        checks = [
            (self.n >= 1, f"{flag('n')} must be at least 1"),
            (self.strategy in STRATEGIES, f"{flag('strategy')} {self.strategy}: choose from {', '.join(STRATEGIES)}"),
            (self.mc_passes >= 2, f"{flag('mc_passes')} must be at least 2"),
            (self.candidates >= 1, f"{flag('candidates')} must be at least 1"),
            # a strategy's own setting under another strategy would be ignored in silence
            (self.strategy == "bald" or not changed(self, ("mc_passes",)), f"{flag('mc_passes')} is for --strategy bald"),
            (self.strategy == "diverse" or not changed(self, ("candidates",)),
             f"{flag('candidates')} is for --strategy diverse"),
            (self.strategy in LABELLED_STRATEGIES or not self.labelled,
             f"{flag('labelled')} is for --strategy {' and '.join(LABELLED_STRATEGIES)}"),
            (self.strategy != "cal" or bool(self.labelled),
             f"--strategy cal compares each pool row with its nearest labelled rows: give the file of rows already "
             f"labelled (e.g. the model's training file) with {flag('labelled')}"),
        ]
        check(checks)


# --- model outputs ----------------------------------------------------------------------------------
def logits_layer(model) -> torch.nn.Module | None:
    """The last Linear layer whose width is the number of labels: the one that yields the logits (BERT's
    `classifier`, RoBERTa's `classifier.out_proj`); its input is BADGE's h."""
    n = getattr(model.config, "num_labels", None)
    found = None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == n:
            found = module
    return found


class _Probe(torch.nn.Module):
    """The model for one scoring pass: asks for hidden states, records the logits layer's input and, for
    MC dropout, keeps the dropout layers on (inference.run_batches puts the model in eval mode)."""

    def __init__(self, model, dropout: bool):
        super().__init__()
        self.inner, self.dropout, self.head_input = model, dropout, None
        layer = logits_layer(model)
        self._hook = layer.register_forward_pre_hook(self._keep) if layer is not None else None

    def _keep(self, module, args):
        self.head_input = args[0]

    def forward(self, **batch):
        self.head_input = None
        return self.inner(**batch, output_hidden_states=True)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.dropout:
            for m in self.inner.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.train(True)
        return self

    def close(self):
        if self._hook is not None:
            self._hook.remove()


def check_strategies(task, strategies) -> None:
    """Every strategy but random reads the task's `active_outputs` hook: refused, named, for a task without it."""
    if getattr(task, "active_outputs", None) is None and (other := [s for s in strategies if s != "random"]):
        raise UserError(f"--strategy {','.join(other)}: the {task.name} task has no per-row model outputs "
                        f"(probabilities, embeddings) to rank by; use --strategy random for {task.name} (every "
                        "strategy works for classification and NER)")


def outputs(rt, task, examples: list[dict], dropout: bool = False) -> list[dict]:
    """Per example: "probs" (units x classes), "head_input" (h of the logits layer), "pooled" (mean of
    the last hidden states over the real tokens), from the task's `active_outputs` hook."""
    hook = getattr(task, "active_outputs", None)
    if hook is None:
        check_strategies(task, ["entropy"])
    probe = _Probe(rt.model, dropout)
    model = rt.model
    rt.model = probe
    try:
        def embed(out, batch):
            mask = batch["attention_mask"].unsqueeze(-1).float()
            # an encoder-decoder classifier (BART, T5) has no `hidden_states`: the encoder's are the text's
            states = out.hidden_states if hasattr(out, "hidden_states") else out.encoder_hidden_states
            last = states[-1].float()
            pooled = (last * mask).sum(1) / mask.sum(1).clamp(min=1)
            head = probe.head_input.float() if probe.head_input is not None else pooled
            if head.dim() == 3 and out.logits.dim() == 2:
                # a head run on every position and read at one (a causal LM's *ForSequenceClassification reads
                # the last token that is not padding): h is that position's, found as the model finds it
                pad_id = getattr(model.config, "pad_token_id", None)
                ids = batch["input_ids"]
                real = ids != pad_id if pad_id is not None else batch["attention_mask"].bool()
                read_at = (torch.arange(ids.shape[-1], device=ids.device) * real.int()).argmax(-1)
                head = head[torch.arange(len(head), device=head.device), read_at]
            return [{"head_input": h.cpu().numpy(), "pooled": p.cpu().numpy()} for h, p in zip(head, pooled)]

        return hook(rt, examples, embed)
    finally:
        rt.model = model
        probe.close()


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(-1)


def uncertainty(strategy: str, probs: list[np.ndarray]) -> np.ndarray:
    """entropy / margin scores per example (higher: more uncertain), averaged over its units."""
    if strategy == "entropy":
        return np.array([_entropy(p).mean() for p in probs])
    top2 = [np.sort(p, -1)[..., -2:] for p in probs]
    return np.array([(1.0 - (t[..., 1] - t[..., 0])).mean() for t in top2])


def bald(rt, task, examples, passes: int, seed: int) -> np.ndarray:
    if not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in rt.model.modules()):
        raise UserError("--strategy bald samples with dropout, and this model has none (every dropout rate is 0); "
                        "use entropy, margin or badge")
    torch.manual_seed(seed)
    runs = [[o["probs"] for o in outputs(rt, task, examples, dropout=True)] for _ in range(passes)]
    scores = []
    for i in range(len(examples)):
        stack = np.stack([r[i] for r in runs])  # passes x units x classes
        scores.append((_entropy(stack.mean(0)) - _entropy(stack).mean(0)).mean())
    return np.array(scores)


def gradient_embeddings(outs: list[dict]) -> np.ndarray:
    """BADGE: the gradient of the example's cross-entropy at the predicted labels w.r.t. the logits layer's
    weights, (p - onehot(argmax p)) outer h. Units sharing one h (the labels of a multi-label text, each its
    own row of weights) are concatenated; units with their own h (the words of a sentence, one shared weight
    matrix) are averaged, the gradient of the mean word loss: as the sentence's uncertainty is its words' mean,
    so a 700-word row does not outrank every short one by its length alone (the sum did: 1027 against 3-7)."""
    rows = []
    for o in outs:
        p, h = o["probs"], np.asarray(o["embedding"]["head_input"])
        residual = p - np.eye(p.shape[-1])[p.argmax(-1)]  # units x classes
        if h.ndim == 2:
            rows.append((residual.T @ h).ravel() / max(len(h), 1))
        else:
            rows.append(np.concatenate([np.outer(r, h).ravel() for r in residual]))
    return np.stack(rows)


def kmeans_pp(x: np.ndarray, n: int, seed: int) -> list[int]:
    """BADGE's seeding: the row with the longest embedding first, then each next row drawn with probability
    proportional to its squared distance to the nearest row chosen so far. Hand-written because scikit-learn's
    `kmeans_plusplus` is the greedy variant with a uniformly drawn first centre, not BADGE's procedure."""
    rng = np.random.default_rng(seed)
    chosen = [int(np.argmax((x * x).sum(1)))]
    dist = ((x - x[chosen[0]]) ** 2).sum(1)
    while len(chosen) < n:
        total = dist.sum()
        if total <= 0:  # every remaining row duplicates a chosen one: fill up by embedding length
            rest = [i for i in np.argsort(-(x * x).sum(1), kind="stable") if i not in set(chosen)]
            chosen += [int(i) for i in rest[: n - len(chosen)]]
            break
        i = int(rng.choice(len(x), p=dist / total))
        chosen.append(i)
        dist = np.minimum(dist, ((x - x[i]) ** 2).sum(1))
    return chosen


def kmeans_picks(x: np.ndarray, n: int, seed: int) -> list[tuple[int, float]]:
    from sklearn.cluster import KMeans

    from sklearn.exceptions import ConvergenceWarning

    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    with warnings.catch_warnings():  # duplicate rows leave fewer distinct clusters than n: filled up below
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(x)
    sizes = np.bincount(km.labels_, minlength=n)
    picks = []
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            d = ((x[members] - km.cluster_centers_[c]) ** 2).sum(1)
            picks.append((int(members[np.argmin(d)]), float(sizes[c])))
    if len(picks) < n:  # the n rows asked for: the rest by their cluster's size, nearest its centre first
        taken = {i for i, _ in picks}
        d = ((x - km.cluster_centers_[km.labels_]) ** 2).sum(1)
        rest = sorted((i for i in range(len(x)) if i not in taken), key=lambda i: (-sizes[km.labels_[i]], d[i], i))
        picks += [(i, float(sizes[km.labels_[i]])) for i in rest[: n - len(picks)]]
    return picks


def diverse_picks(scores: np.ndarray, x: np.ndarray, n: int, seed: int, candidates: int) -> list[tuple[int, float]]:
    """Zhdanov 2019's weighted k-means: the `candidates` x n highest `scores`, n clusters of their L2-normalised
    embeddings `x` weighted by the score, the candidate nearest each centre (highest score first). A cluster
    left empty, or two centres sharing a nearest row, are filled up by the next highest scores."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    top = np.argsort(-scores, kind="stable")[: max(n, candidates * n)]
    if len(top) <= n:
        return [(int(i), float(scores[i])) for i in top]
    x = x[top] / np.clip(np.linalg.norm(x[top], axis=1, keepdims=True), 1e-12, None)
    weights = np.clip(scores[top], 1e-6, None)  # sklearn needs positive weights; a sure call weighs ~nothing
    with warnings.catch_warnings():  # duplicate rows leave fewer distinct clusters than n: filled up below
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(x, sample_weight=weights)
    chosen = set()
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            chosen.add(int(members[np.argmin(((x[members] - km.cluster_centers_[c]) ** 2).sum(1))]))
    chosen = [int(top[j]) for j in sorted(chosen)]
    taken = set(chosen)
    chosen += [int(i) for i in top if int(i) not in taken][: n - len(chosen)]
    return sorted(((i, float(scores[i])) for i in chosen), key=lambda t: -t[1])


TYPICLUST_MAX_CLUSTERS, TYPICLUST_NEIGHBOURS, TYPICLUST_MIN_CLUSTER = 500, 20, 5  # the paper's code's values


def typiclust_picks(x: np.ndarray, labelled: np.ndarray, n: int, seed: int) -> list[tuple[int, float]]:
    """TypiClust's picks (module docstring) from the rows of `x` (pool rows first, then `labelled` ones: a
    boolean mask over x) as [(row, typicality)]. Hand-written: no maintained library ships it (the authors' code
    is a research repository); scikit-learn gives the k-means and the neighbours."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neighbors import NearestNeighbors

    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    k = max(1, min(int(labelled.sum()) + n, TYPICLUST_MAX_CLUSTERS, len(x)))
    with warnings.catch_warnings():  # duplicate rows leave fewer distinct clusters than k
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        clusters = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x).labels_
    sizes = np.bincount(clusters, minlength=k)
    covered = np.bincount(clusters[labelled], minlength=k)
    free = clusters.copy()
    free[labelled] = -1
    # the paper skips clusters of 5 rows or fewer (outliers), with ~100 rows a cluster; where there are few rows
    # a cluster (a small pool, or a model that spreads unfamiliar rows thin), half the mean size is the bar
    min_size = min(TYPICLUST_MIN_CLUSTER, len(x) / k / 2)
    open_clusters = [c for c in np.lexsort((-sizes, covered)) if (free == c).any()]  # fewest labels, largest first
    order = [c for c in open_clusters if sizes[c] > min_size] or open_clusters
    picks: list[tuple[int, float]] = []
    while len(picks) < n and order:
        for c in list(order):
            members = np.flatnonzero(free == c)
            if not len(members):
                order.remove(c)
                continue
            neighbours = min(TYPICLUST_NEIGHBOURS, max(1, len(members) // 2))
            if len(members) == 1:
                best, typ = int(members[0]), 0.0
            else:
                dist, _ = NearestNeighbors(n_neighbors=neighbours + 1).fit(x[members]).kneighbors(x[members])
                typicality = 1.0 / (dist[:, 1:].mean(1) + 1e-5)  # column 0 is the row itself
                j = int(np.argmax(typicality))
                best, typ = int(members[j]), float(typicality[j])
            picks.append((best, typ))
            free[best] = -1
            if len(picks) == n:
                break
    return picks


CAL_NEIGHBOURS = 10  # the paper's k


def _features(outs: list[dict]) -> np.ndarray:
    """One vector per row, L2-normalised: the classifier's input where the row has one (a text), else the
    mean-pooled last hidden states (a sentence of NER words, each with its own head input)."""
    x = np.stack([o["embedding"]["head_input"] if np.ndim(o["embedding"]["head_input"]) == 1
                  else o["embedding"]["pooled"] for o in outs]).astype(np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _unit_probs(outs: list[dict]) -> list[np.ndarray]:
    """Each row's prediction as comparable units: a text's units (its classes, or one binary unit per label when
    multi-label) as they are; words with their own head input (NER: sentences differ in length) averaged into
    one distribution over the tags."""
    return [o["probs"] if np.ndim(o["embedding"]["head_input"]) == 1 else o["probs"].mean(0, keepdims=True)
            for o in outs]


def cal_picks(pool: list[dict], labelled: list[dict], n: int) -> list[tuple[int, float]]:
    """CAL (module docstring) from the `outputs` of the pool and of the labelled rows: [(row, mean KL)].
    Hand-written: no maintained library ships it for transformers (the authors' code is a research repository;
    scikit-activeml's `Cal` wraps scikit-learn classifiers); scikit-learn gives the neighbours."""
    from sklearn.neighbors import NearestNeighbors

    if not labelled:
        raise UserError("--strategy cal compares each pool row with its nearest labelled rows, and none were given "
                        "(--labelled FILE: the rows already labelled)")
    k = min(CAL_NEIGHBOURS, len(labelled))
    _, near = NearestNeighbors(n_neighbors=k).fit(_features(labelled)).kneighbors(_features(pool))
    mine, theirs = _unit_probs(pool), _unit_probs(labelled)
    eps = 1e-12
    scores = np.empty(len(pool))
    for i, row in enumerate(near):
        q = np.clip(mine[i], eps, 1.0)
        kl = [(np.clip(theirs[j], eps, 1.0) * (np.log(np.clip(theirs[j], eps, 1.0)) - np.log(q))).sum(-1).mean()
              for j in row]
        scores[i] = float(np.mean(kl))
    return [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:n]]


def rank(rt, task, examples: list[dict], n: int, strategy: str, seed: int = 0, mc_passes: int = 10,
         candidates: int = 10, labelled: list[dict] | None = None) -> list[tuple[int, float]]:
    """The `n` examples to label next, in order: [(index into examples, score)]. Scores: the strategy's
    uncertainty (entropy, margin, bald; diverse: its margin), the gradient-embedding length (badge), the cluster
    size (kmeans), the typicality (typiclust), the mean KL divergence from the labelled neighbours (cal), a uniform
    draw (random). `labelled`: the rows already labelled, which typiclust and cal read (the others ignore them)."""
    if strategy not in STRATEGIES:
        raise UserError(f"--strategy {strategy}: choose from {', '.join(STRATEGIES)}")
    n = min(n, len(examples))
    if n == 0:
        return []
    if strategy == "random":
        draws = np.random.default_rng(seed).random(len(examples))
        return [(int(i), float(draws[i])) for i in np.argsort(-draws, kind="stable")[:n]]
    if strategy == "bald":
        scores = bald(rt, task, examples, mc_passes, seed)
        return [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:n]]
    if strategy == "typiclust":
        outs = outputs(rt, task, examples + list(labelled or []))
        mask = np.arange(len(outs)) >= len(examples)
        return typiclust_picks(np.stack([o["embedding"]["pooled"] for o in outs]), mask, n, seed)  # pool rows only
    if strategy == "cal":
        outs = outputs(rt, task, examples + list(labelled or []))
        return cal_picks(outs[:len(examples)], outs[len(examples):], n)
    outs = outputs(rt, task, examples)
    if strategy in ("entropy", "margin"):
        scores = uncertainty(strategy, [o["probs"] for o in outs])
        return [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:n]]
    if strategy == "diverse":
        scores = uncertainty("margin", [o["probs"] for o in outs])
        return diverse_picks(scores, np.stack([o["embedding"]["pooled"] for o in outs]), n, seed, candidates)
    if strategy == "badge":
        g = gradient_embeddings(outs)
        norms = np.linalg.norm(g, axis=1)
        return [(i, float(norms[i])) for i in kmeans_pp(g, n, seed)]
    return kmeans_picks(np.stack([o["embedding"]["pooled"] for o in outs]), n, seed)


# --- labeltune suggest ----------------------------------------------------------------------------------
def suggest(sopts: SuggestOptions, option_overrides: dict | None = None) -> list[dict]:
    """Rank the pool, write the chosen rows (all their columns, plus rank and score); returns those rows."""
    from .data.readers import TABLE_FORMATS, read_table
    from .outputs import check_records_name, write_records
    from .run import load

    for name in ("model", "pool", "output"):
        if not getattr(sopts, name):
            raise UserError(f"--{name} is required")
    check_records_name(sopts.output)  # the type follows the name, as predict's --output
    for name in ("pool", "labelled"):  # named by its flag before the model loads (the reader names only the path)
        path = getattr(sopts, name)
        if path and not os.path.exists(path):
            raise UserError(f"--{name} {path}: no such file or directory")
    if os.path.exists(sopts.pool) and os.path.exists(sopts.output) and os.path.samefile(sopts.pool, sopts.output):
        raise UserError(f"--output {sopts.output} is the --pool file; choose another name (the pool would be lost)")
    predictor = load(sopts.model, precision=sopts.precision, batch_size=sopts.batch_size, **(option_overrides or {}))
    check_strategies(predictor.task, [sopts.strategy])
    if sopts.strategy != "random":  # (random picks read no layer: an export makes them too)
        predictor.require_torch(f"--model {sopts.model}", f"has no layers for --strategy {sopts.strategy} to read "
                                "(--strategy random works); suggest from")
    examples = predictor.task.read(sopts.pool, predictor.opts, labelled=False)
    if not examples:
        raise UserError(f"--pool {sopts.pool}: no rows")
    labelled = None
    if sopts.labelled:
        labelled = predictor.task.read(sopts.labelled, predictor.opts, labelled=False)
    ranked = rank(predictor.rt, predictor.task, examples, sopts.n, sopts.strategy, sopts.seed, sopts.mc_passes,
                  sopts.candidates, labelled)
    # the pool's own rows, found by the location every example keeps; tasks that read non-tabular files
    # (CoNLL) give the example's fields instead
    rows, columns = None, None
    if os.path.splitext(sopts.pool)[1].lower() in TABLE_FORMATS or os.path.isdir(sopts.pool):
        table = read_table(sopts.pool)
        at = {table.where(i): row for i, row in enumerate(table.rows)}
        if all(e["_where"] in at for e in examples):
            rows, columns = [at[e["_where"]] for e in examples], table.columns
    if rows is None:
        rows = [{"where": e["_where"], **{k: v for k, v in e.items() if not k.startswith("_")}} for e in examples]
        columns = list(dict.fromkeys(k for r in rows for k in r))
    # a pool column named like ours is kept as input_<name> (as predict does), not overwritten by it
    own = {c: f"input_{c}" if c in ("rank", "score") else c for c in columns}
    chosen = [{"rank": r + 1, "score": round(score, 6), **{own.get(k, k): v for k, v in rows[i].items()}}
              for r, (i, score) in enumerate(ranked)]
    went = write_records(sopts.output, chosen)  # columns: rank, score, then the pool's in its order
    print(f"wrote {len(chosen)} of {len(examples)} pool rows ({sopts.strategy}) to {went}",
          file=sys.stderr if sopts.output == "-" else sys.stdout)  # (standard output holds the rows)
    return chosen


def main(argv: list[str]) -> int:
    from .cli import _add_dataclass_flags, _flags_given, saved_task
    from .config import split_options

    task = saved_task(argv)
    parser = Parser(prog="labeltune suggest", description=__doc__.split("\n")[0])
    _add_dataclass_flags(parser, SuggestOptions)
    if task is not None:  # the task's options, to override what was saved (e.g. another --text-column)
        _add_dataclass_flags(parser, task.Options)
    ns = parser.parse_args(argv)
    (sopts,) = split_options(_flags_given(ns, SuggestOptions), [SuggestOptions], "command line")
    suggest(sopts, _flags_given(ns, task.Options) if task is not None else {})
    return 0
