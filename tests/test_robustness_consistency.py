"""--augment-consistency: perturbed rows trained beside their clean twins, with a symmetric KL between the two."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from labeltune.errors import UserError
from labeltune.robustness.training import AugmentedFeatures, _pair_kl, paired_batch, robust_step
from labeltune.tasks.classification import ClassificationTask
from test_robustness import _write_csv as _csv
from test_robustness import _zebra_rows as _rows


def _sym_kl_by_hand(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of (KL(p_a || p_b) + KL(p_b || p_a)) / 2, written out."""
    pa, pb = a.softmax(-1), b.softmax(-1)
    kl_ab = (pa * (pa.log() - pb.log())).sum(-1)
    kl_ba = (pb * (pb.log() - pa.log())).sum(-1)
    return float(((kl_ab + kl_ba) / 2).mean())


def _classification_features(tiny_bert_dir, n=12, prob=0.5):
    from labeltune.models import load_tokenizer

    task, tok = ClassificationTask(), load_tokenizer(tiny_bert_dir)
    examples = [{"text": r["text"], "labels": [r["label"]], "_where": f"row {i}"} for i, r in enumerate(_rows(n, 0))]
    setup = {"labels": ["negative", "positive"], "multi_label": False}
    encode = lambda ex: task.encode(ex, tok, setup, task.Options(), 64)  # noqa: E731
    cfg = SimpleNamespace(augment="typo", augment_prob=prob, augment_severity=0.5, seed=0)
    aug = AugmentedFeatures(task, examples, encode(examples), encode, cfg)
    return aug, lambda feats: task.collate(feats, tok)


def test_paired_batch_puts_each_perturbed_row_beside_its_clean_twin(tiny_bert_dir):
    aug, collate = _classification_features(tiny_bert_dir)
    rows = list(range(len(aug)))
    served = [aug[i] for i in rows]
    perturbed = [i for i in rows if aug.twin(i) is not None]
    assert 0 < len(perturbed) < len(rows)  # prob 0.5: some rows perturbed, some served clean
    assert all(served[i]["input_ids"] != aug.features[i]["input_ids"] for i in perturbed)
    assert all(aug.twin(i) is None and served[i] == aug.features[i] for i in rows if i not in perturbed)

    batch, (a, b) = paired_batch(aug, rows, collate)
    assert batch["input_ids"].shape[0] == len(rows) + len(perturbed)
    assert a.tolist() == perturbed and b.tolist() == list(range(len(rows), len(rows) + len(perturbed)))
    for i, j in zip(a.tolist(), b.tolist()):  # the twin is the clean original, with the same label
        clean = aug.features[i]["input_ids"]
        assert batch["input_ids"][j, :len(clean)].tolist() == clean
        assert batch["labels"][j] == batch["labels"][i] == aug.features[i]["labels"]


class _Toy(torch.nn.Module):
    """A bag-of-embeddings classifier: different inputs give clearly different outputs (a tiny random BERT's
    outputs barely depend on its input), and there is no dropout."""

    config = SimpleNamespace(problem_type=None)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 2)

    def forward(self, input_ids, attention_mask=None, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.emb(input_ids).mean(1)
        return SequenceClassifierOutput(loss=torch.nn.functional.cross_entropy(logits, labels), logits=logits)


def test_consistency_term_is_the_symmetric_kl_between_the_views():
    model = _Toy()
    batch = {"input_ids": torch.tensor([[1, 23, 20, 2], [1, 28, 34, 2], [1, 23, 24, 2]]),
             "attention_mask": torch.ones(3, 4, dtype=torch.long), "labels": torch.tensor([0, 1, 0])}
    with torch.no_grad():
        out = model(**batch)
    pairs = (torch.tensor([2]), torch.tensor([0]))  # row 2 is a perturbed copy of row 0
    losses = []
    cfg = SimpleNamespace(rdrop=0.0, adv_eps=0.0, augment_consistency=3.0)
    value = robust_step(model, batch, cfg, lambda x: losses.append(float(x.detach())), pairs)
    assert value == pytest.approx(float(out.loss), rel=1e-5)  # the task loss is what is logged
    kl = _sym_kl_by_hand(out.logits[2:3], out.logits[0:1])
    assert kl > 1e-3 and losses[0] == pytest.approx(float(out.loss) + 3.0 * kl, rel=1e-4)
    # the same input in both views: no term
    robust_step(model, batch, cfg, lambda x: losses.append(float(x.detach())), (torch.tensor([0]), torch.tensor([0])))
    assert losses[1] == pytest.approx(float(out.loss), rel=1e-5)
    # the weight 0 (the option off) adds nothing either
    robust_step(model, batch, SimpleNamespace(rdrop=0.0, adv_eps=0.0, augment_consistency=0.0),
                lambda x: losses.append(float(x.detach())), pairs)
    assert losses[2] == pytest.approx(float(out.loss), rel=1e-5)


def test_token_outputs_are_compared_at_the_labelled_positions_in_order():
    """NER tags / translation targets: the labelled positions of the two views are matched in order; a pair whose
    counts differ (a dropped word) has no term; QA-style outputs over one input's positions have none either."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 3)
    labels = torch.full((4, 6), -100)
    labels[0, [1, 2, 4]] = 1  # row 0: three words, the typo split word 2 into two sub-words
    labels[1, [1, 3, 4]] = 1  # row 1 (its clean twin): the same three words
    labels[2, [1, 2]] = 1     # row 2: a word dropped
    labels[3, [1, 2, 3]] = 1
    batch = {"input_ids": torch.zeros(4, 6, dtype=torch.long), "labels": labels}
    got = _pair_kl(x, batch, torch.tensor([0]), torch.tensor([1]), False)
    assert float(got) == pytest.approx(_sym_kl_by_hand(x[0, [1, 2, 4]], x[1, [1, 3, 4]]), rel=1e-5)
    assert float(_pair_kl(x, batch, torch.tensor([2]), torch.tensor([3]), False)) == 0.0
    both = _pair_kl(x, batch, torch.tensor([0, 2]), torch.tensor([1, 3]), False)  # only the pair that lines up
    assert float(both) == pytest.approx(float(got), rel=1e-5)
    start_logits = torch.randn(4, 6)  # one distribution over the positions of each input
    assert float(_pair_kl(start_logits, batch, torch.tensor([0]), torch.tensor([1]), False)) == 0.0


def test_training_learns_with_the_term_and_the_term_reaches_the_weights(tiny_bert_dir, tmp_path):
    """The zebra rule is learnt with the term on (clean and under typos), and the term's weight changes the trained
    weights (with the same twins in every batch: 1e-9 against 50), so the loop does back-propagate it."""
    import random

    from safetensors.torch import load_file

    import labeltune
    from labeltune import run
    from labeltune.config import TrainConfig
    from labeltune.robustness.perturb import PERTURBATIONS, Editor, random_plan
    from labeltune.tasks.classification import ClassificationOptions

    train = _csv(tmp_path / "t.csv", _rows(240, 0))
    weights = {}
    for alpha in (1e-9, 50.0):
        out = str(tmp_path / f"m{alpha}")
        run.train(TrainConfig(model=tiny_bert_dir, train=train, output=out, epochs=6, batch_size=16, lr=3e-3,
                              precision="fp32", validation_fraction=0.0, quiet=True, threads=1, log_every=1,
                              augment="typo", augment_prob=0.5, augment_severity=0.3, augment_consistency=alpha),
                  ClassificationOptions())
        losses = [json.loads(x)["loss"] for x in open(f"{out}/train_log.jsonl") if '"loss"' in x]
        assert len(losses) == 90 and all(torch.isfinite(torch.tensor(losses)))
        weights[alpha] = load_file(f"{out}/model.safetensors")
    p = labeltune.load(str(tmp_path / "m50.0"), precision="fp32")
    examples = p.task.read(_csv(tmp_path / "h.csv", _rows(40, 1)), p.opts)
    typo = [p.task.perturb(e, Editor(random_plan(PERTURBATIONS["typo"], 0.3)), random.Random(k))
            for k, e in enumerate(examples)]
    assert sum(ok for _, ok in p.task.attack_scores(p.rt, examples)) >= 38  # measured: 40 of 40
    assert sum(ok for _, ok in p.task.attack_scores(p.rt, typo)) >= 36  # measured: 40 of 40
    moved = max(float((weights[1e-9][k] - weights[50.0][k]).abs().max()) for k in weights[50.0])
    assert moved > 1e-3, moved  # measured: 0.0995


def test_ner_and_qa_train_with_the_term(tmp_path, tiny_bert_dir):
    from labeltune import run
    from labeltune.config import TrainConfig

    ner = tmp_path / "ner.conll"
    ner.write_text("".join(f"Anna{i} B-PER\nlives O\nin O\nParis B-LOC\ntoday O\n\n" for i in range(8)))
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": str(i), "question": f"Where did person {i} go ?",
                                      "context": f"Person {i} went to the market. It was in Town{i} on day {i + 3}.",
                                      "answers": {"text": [f"Town{i}"], "answer_start": [39]}}) + "\n"
                          for i in range(8)))
    for task, data in (("ner", ner), ("qa", qa)):
        out = str(tmp_path / task)
        metrics = run.train(TrainConfig(task=task, model=tiny_bert_dir, train=str(data), output=out, epochs=2,
                                        batch_size=4, lr=1e-3, precision="fp32", validation_fraction=0.0, quiet=True,
                                        max_length=64, log_every=1, augment="typo", augment_prob=1.0,
                                        augment_severity=0.5, augment_consistency=1.0),
                            run.get_task(task).Options(**({"doc_stride": 16} if task == "qa" else {})))
        assert metrics["steps"] == 4
        losses = [json.loads(x)["loss"] for x in open(f"{out}/train_log.jsonl") if '"loss"' in x]
        assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))


def test_the_term_needs_augment_and_a_weight_of_at_least_zero():
    from labeltune.config import TrainConfig

    with pytest.raises(UserError, match=r"--augment-consistency \(augment_consistency=\) needs --augment"):
        TrainConfig(augment_consistency=1.0)
    with pytest.raises(UserError, match=r"--augment-consistency \(augment_consistency=\) must be >= 0"):
        TrainConfig(augment="typo", augment_consistency=-1.0)
