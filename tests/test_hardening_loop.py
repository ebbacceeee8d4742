"""The training loop's arithmetic and resume, audited: token-budget epochs of varying length, gradient
accumulation, a run stopped mid-way and resumed (with validation and best weights), the checkpoint's recipe."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import stat
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import labeltune
from labeltune import checkpoint
from labeltune.batching import pad
from labeltune.config import TrainConfig
from labeltune.errors import UserError
from labeltune.loop import fit, global_batches, plan_epochs


# --- --max-tokens: every epoch planned from its own batches ------------------------------------------
class Recorder(torch.nn.Module):
    """One weight; its loss depends on the batch; it records which examples it was trained on."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.seen: list[int] = []

    def forward(self, input_ids, ids):
        self.seen.extend(ids.tolist())
        return SimpleNamespace(loss=(self.w * input_ids.float().mean() - 1) ** 2)


def _fit(cfg, features, out, stop_after=None, model=None):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    model = model or Recorder()

    def collate(batch):
        return {"input_ids": pad([f["input_ids"] for f in batch], 0), "ids": torch.tensor([f["id"] for f in batch])}

    infos = []
    for info in fit(cfg, model, features, collate, None, "accuracy", Accelerator(cpu=True), out):
        infos.append(info)
        if stop_after is not None and info["step"] == stop_after:
            break  # the generator is dropped here, as a killed process would stop
    return model, infos


# seed 0: epoch 1 has fewer steps than epoch 0 (dividing by epoch 0's count looped forever there);
# seed 1: epoch 2 has more (its last step was skipped)
@pytest.mark.parametrize("seed", [0, 1])
def test_token_budget_epochs_of_varying_length_each_example_once_and_resume(tmp_path, seed):
    rng = random.Random(seed)
    n = 60
    lengths = [rng.randint(3, 60) for _ in range(n)]
    features = [{"input_ids": [1] * length, "id": i} for i, length in enumerate(lengths)]
    cfg = TrainConfig(max_tokens=150, epochs=4, grad_accum=2, batch_size=8, group_by_length=False, seed=seed,
                      lr=1e-2, warmup_ratio=0.0, save_every=1, quiet=True, validation_fraction=0.0)
    steps_per_epoch = [-(-len(global_batches(lengths, cfg, e, 1)) // 2) for e in range(4)]
    assert len(set(steps_per_epoch)) > 1, "the epochs must differ for this test to mean anything"
    plan = plan_epochs(lengths, cfg, 1)
    total = sum(plan)
    assert plan == steps_per_epoch

    full, infos = _fit(cfg, features, str(tmp_path / "full"))
    assert [i["step"] for i in infos] == list(range(1, total + 1))
    assert len(full.seen) == 4 * n
    for e in range(4):  # every example exactly once per epoch, in the planned order
        assert sorted(full.seen[e * n : (e + 1) * n]) == list(range(n)), f"epoch {e}"
    assert [round(i["epoch"], 6) for i in infos][-1] == 4.0

    # stopped in the middle of epoch 2, then resumed: the same steps, the same examples, the same weight
    middle = sum(steps_per_epoch[:2]) + 2
    first, _ = _fit(cfg, features, str(tmp_path / "cut"), stop_after=middle)
    second, rest = _fit(dataclasses.replace(cfg, resume=True), features, str(tmp_path / "cut"))
    assert [i["step"] for i in rest] == list(range(middle + 1, total + 1))
    assert first.seen + second.seen == full.seen
    assert torch.equal(second.w, full.w)


def test_fractional_epochs_and_max_steps_plan():
    lengths = [10] * 40
    cfg = TrainConfig(batch_size=8, epochs=2.5, group_by_length=False)
    assert plan_epochs(lengths, cfg, 1) == [5, 5, 3]  # half of the third epoch, rounded up
    # --max-steps runs through as many epochs as it needs
    assert plan_epochs(lengths, TrainConfig(batch_size=8, max_steps=10, grad_accum=2), 1) == [3, 3, 3, 1]


# --- gradient accumulation ---------------------------------------------------------------------------
def _rows(rt_csv, tmp_path, n: int) -> str:
    import csv

    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))[: n + 1]
    path = tmp_path / f"train{n}.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def test_grad_accum_matches_the_larger_batch(tmp_path, tiny_bert_dir, rt_csv):
    """2 x 8 accumulated == one batch of 16 (dropout 0; in-order batches, so the 16 are the same examples)."""
    train = _rows(rt_csv, tmp_path, 160)
    common = dict(model=tiny_bert_dir, train=train, epochs=1, lr=1e-3, precision="fp32", quiet=True, threads=1,
                  validation_fraction=0.0, group_by_length=False, max_length=32)
    labeltune.train(**common, output=str(tmp_path / "big"), batch_size=16)
    labeltune.train(**common, output=str(tmp_path / "accum"), batch_size=8, grad_accum=2)
    labeltune.train(**common, output=str(tmp_path / "small"), batch_size=8)
    big, accum, small = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("big", "accum", "small"))
    worst = max((big[k] - accum[k]).abs().max().item() for k in big)
    other = max((big[k] - small[k]).abs().max().item() for k in big)
    assert worst < 1e-5, f"accumulated weights differ by {worst:.2e}"
    assert other > 100 * max(worst, 1e-7), "batch 8 without accumulation should differ clearly (test too weak)"


# --- resume with validation, best weights, the log and the recipe -----------------------------------
def _metrics(out: str) -> dict:
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return {k: v for k, v in m.items() if k not in ("wall_seconds", "train_samples_per_s")}


def _log(out: str) -> list[dict]:
    with open(os.path.join(out, "train_log.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "samples_per_s"} for line in f]


def test_stopped_run_resumes_to_the_same_weights_metrics_and_log(tmp_path, tiny_dropout_bert, rt_csv, monkeypatch):
    import labeltune.loop as loop_mod

    train = _rows(rt_csv, tmp_path, 200)
    old_umask = os.umask(0o022)
    try:
        common = dict(model=tiny_dropout_bert, train=train, epochs=3, lr=2e-3, batch_size=8, precision="fp32",
                      quiet=True, threads=1, validation_fraction=0.2, test_fraction=0.1, eval_every=7, save_every=7,
                      log_every=1, max_length=32)
        full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
        labeltune.train(**common, output=full, keep_checkpoint=True)

        real_fit = loop_mod.fit

        def stops_after_30_steps(*args, **kwargs):
            for info in real_fit(*args, **kwargs):
                yield info
                if info["step"] == 30:
                    raise KeyboardInterrupt  # as Ctrl-C or a pre-emption would, between two checkpoints
        monkeypatch.setattr(loop_mod, "fit", stops_after_30_steps)
        with pytest.raises(KeyboardInterrupt):
            labeltune.train(**common, output=cut)
        monkeypatch.setattr(loop_mod, "fit", real_fit)
        assert checkpoint.existing(os.path.join(cut, "checkpoint")), "the stopped run's checkpoint must stay"
        assert max(r["step"] for r in _log(cut)) == 30  # logged beyond the checkpoint (step 28)

        # another recipe is refused, naming what differs
        with pytest.raises(UserError, match=r"lr: 0\.002 then, 0\.001 now") as e:
            labeltune.train(**{**common, "lr": 1e-3}, output=cut, resume=True)
        assert "batch_size" not in str(e.value)
        # a checkpoint written before an option existed (its recipe lacks rdrop and lora_init) resumes while the
        # option keeps its default, which is what the older run did (it was refused: "None then, 0.0 now")
        state_file = os.path.join(checkpoint.existing(os.path.join(cut, "checkpoint")), "state.json")
        with open(state_file) as f:
            state = json.load(f)
        for key in ("rdrop", "lora_init"):
            del state["recipe"][key]
        with open(state_file, "w") as f:
            json.dump(state, f)
        with pytest.raises(UserError, match=r"rdrop: 0\.0 then, 1\.0 now"):
            labeltune.train(**{**common, "rdrop": 1.0}, output=cut, resume=True)
        os.makedirs(os.path.join(cut, "checkpoint.tmp-999999"))  # what a save killed half-way leaves
        labeltune.train(**common, output=cut, resume=True, keep_checkpoint=True)
    finally:
        os.umask(old_umask)

    assert _metrics(cut) == _metrics(full)
    m = _metrics(full)
    assert m["best_step"] is not None and m["validation"]["n"] == 40 and m["test"]["n"] == 20
    a, b = load_file(os.path.join(full, "model.safetensors")), load_file(os.path.join(cut, "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"
    assert _log(cut) == _log(full), "the resumed log has missing or repeated lines"
    assert len({r["step"] for r in _log(cut) if "loss" in r}) == len([r for r in _log(cut) if "loss" in r])
    assert not [n for n in os.listdir(cut) if ".tmp-" in n]
    for name in ("model.safetensors", "config.json", "checkpoint/model.safetensors", "checkpoint/state.json"):
        mode = stat.S_IMODE(os.stat(os.path.join(cut, name)).st_mode)
        assert mode == 0o644, f"{name}: mode {mode:o}"


def test_recipe_names_the_differing_keys(tmp_path):
    state = {"step": 3, "recipe": checkpoint.recipe({"lr": 1e-3, "seed": 1, "output": "a"}, [{"text": "x"}], None, 1)}
    os.makedirs(tmp_path / "checkpoint")
    with open(tmp_path / "checkpoint" / "state.json", "w") as f:
        json.dump(state, f)
    same = checkpoint.recipe({"lr": 1e-3, "seed": 1, "output": "b"}, [{"text": "x", "_where": "moved.csv"}], None, 1)
    checkpoint.refuse_other_recipe(str(tmp_path / "checkpoint"), same)  # output and file location do not count
    other = checkpoint.recipe({"lr": 1e-3, "seed": 2, "output": "a"}, [{"text": "y"}], None, 2)
    with pytest.raises(UserError) as e:
        checkpoint.refuse_other_recipe(str(tmp_path / "checkpoint"), other)
    assert all(k in str(e.value) for k in ("seed", "train_data", "processes")) and "'lr'" not in str(e.value)


class Diverging(Recorder):
    """Its loss is finite for `finite` steps, then NaN (as when a too-large learning rate blows up the weights)."""

    def __init__(self, finite: int, blips=()):
        super().__init__()
        self.calls, self.finite, self.blips = 0, finite, set(blips)

    def forward(self, input_ids, ids):
        self.calls += 1
        loss = (self.w * input_ids.float().mean() - 1) ** 2
        bad = self.calls > self.finite or self.calls in self.blips
        # + a NaN constant: the loss reads NaN, the gradients stay finite (as when fp16's scaler skips a step)
        return SimpleNamespace(loss=loss + float("nan") if bad else loss)


def test_a_diverged_run_stops_naming_the_lr_and_one_bad_step_is_tolerated(tmp_path):
    features = [{"input_ids": [1] * (i + 1), "id": i} for i in range(8)]
    cfg = TrainConfig(batch_size=2, epochs=4, lr=1e-3, warmup_ratio=0.0, max_grad_norm=0, quiet=True,
                      group_by_length=False, log_every=1)
    model = Diverging(finite=3)
    os.makedirs(tmp_path / "a"), os.makedirs(tmp_path / "b")
    with pytest.raises(UserError, match=r"training diverged: the loss is nan at 3 steps in a row \(step (\d+)\); "
                                        r"lower --lr \(now 0.001\)") as stopped:
        _fit(cfg, features, str(tmp_path / "a"), model=model)
    log = [json.loads(line) for line in open(tmp_path / "a" / "train_log.jsonl")]  # strict JSON: NaN is null
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) >= 3 and all(x is not None for x in losses[:-2]) and losses[-2:] == [None, None]
    assert f"(step {log[-1]['step'] + 1})" in str(stopped.value)  # stopped at the third, before logging it
    # a single non-finite step (fp16's loss scaling skips one) does not stop the run
    _fit(cfg, features, str(tmp_path / "b"), model=Diverging(finite=10**6, blips=(5,)))
