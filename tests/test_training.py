"""The training loop: resume after a kill equals an uninterrupted run; splits; batching; debug-data."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from labeltune.batching import make_batches, sorted_batches
from labeltune.cli import main
from labeltune.data.split import grouped_stratified_split, kfold


def _train_cmd(model, train, out, *extra):
    return [sys.executable, "-m", "labeltune", "train", "--model", model, "--train", train, "--output", out,
            "--epochs", "4", "--batch-size", "4", "--lr", "1e-3", "--precision", "fp32", "--validation-fraction", "0",
            "--save-every", "5", "--threads", "1", "--quiet", *extra]


def test_killed_run_resumes_to_identical_weights(tmp_path, tiny_dropout_bert, rt_csv):
    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))[:301]  # header + 300 sentences: 75 steps per epoch
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        csv.writer(f).writerows(rows)

    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    subprocess.run(_train_cmd(tiny_dropout_bert, str(train), full), check=True, capture_output=True)

    proc = subprocess.Popen(_train_cmd(tiny_dropout_bert, str(train), killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = os.path.join(killed, "checkpoint", "state.json")
    deadline = time.time() + 120
    while not (os.path.exists(state) and json.load(open(state))["step"] >= 40) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, as with a crash or a pre-empted machine
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.exists(os.path.join(killed, "model.safetensors"))

    # without --resume the tool refuses to overwrite the unfinished run
    again = subprocess.run(_train_cmd(tiny_dropout_bert, str(train), killed), capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr

    subprocess.run(_train_cmd(tiny_dropout_bert, str(train), killed, "--resume"), check=True, capture_output=True)
    a, b = load_file(os.path.join(full, "model.safetensors")), load_file(os.path.join(killed, "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between the resumed and the uninterrupted run"


def test_split_is_grouped_stratified_and_seeded():
    groups = [f"t{i // 2}" for i in range(200)]  # every text twice
    strata = ["pos" if (i // 2) % 4 else "neg" for i in range(200)]
    val, test, train = grouped_stratified_split(groups, strata, [0.1, 0.2], seed=3)
    assert sorted(val + test + train) == list(range(200))
    for a, b in ((val, test), (val, train), (test, train)):
        assert not {groups[i] for i in a} & {groups[i] for i in b}
    share = lambda part: sum(strata[i] == "neg" for i in part) / len(part)  # noqa: E731
    assert abs(share(test) - 0.25) < 0.06 and abs(share(train) - 0.25) < 0.06
    assert grouped_stratified_split(groups, strata, [0.1, 0.2], seed=3)[0] == val


def test_kfold_groups_and_strata():
    groups = [f"d{i // 3}" for i in range(300)]
    strata = [("a" if (i // 3) % 3 else "b") for i in range(300)]
    folds = kfold(groups, strata, 5, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(300))
    owner = {}
    for k, fold in enumerate(folds):
        for i in fold:
            assert owner.setdefault(groups[i], k) == k, "a group straddles two folds"
    for fold in folds:
        assert abs(sum(strata[i] == "b" for i in fold) / len(fold) - 1 / 3) < 0.06
        assert abs(len(fold) - 60) <= 3


def test_length_grouped_batches_cover_every_example_once():
    lengths = [(i * 37) % 101 + 1 for i in range(1000)]
    batches = make_batches(lengths, 32, seed=1, epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    # grouping: far less padding than a random order
    waste = lambda bs: sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)  # noqa: E731
    random_batches = make_batches(lengths, 32, seed=1, epoch=0, group_by_length=False)
    assert waste(batches) < 0.2 * waste(random_batches)
    assert make_batches(lengths, 32, seed=1, epoch=1) != batches  # a new order each epoch


def test_token_budget_batches():
    lengths = [(i * 37) % 101 + 1 for i in range(1000)]
    batches = make_batches(lengths, 32, seed=1, epoch=0, max_tokens=1000)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 1000
    sizes = {len(b): max(lengths[i] for i in b) for b in batches}
    assert max(sizes) >= 50 and min(sizes) <= 10  # many short examples or a few long ones
    assert make_batches(lengths, 32, seed=1, epoch=0, max_tokens=1000) == batches  # seeded
    # one example longer than the budget still gets a batch of its own
    alone = make_batches([5, 500, 5], 32, seed=0, epoch=0, max_tokens=100, group_by_length=False)
    assert [1] in alone and sorted(i for b in alone for i in b) == [0, 1, 2]


def test_inference_batches_cut_where_padding_costs_more_than_a_pass():
    import itertools

    lengths = [60, 12, 58, 10, 11, 9, 61, 13]  # a server's gathered requests: long and short mixed
    plain = sorted_batches(lengths, 8)
    assert plain == [[6, 0, 2, 7, 1, 4, 3, 5]]  # one batch padded to 61
    cut = sorted_batches(lengths, 8, overhead_tokens=64)
    assert cut == [[6, 0, 2], [7, 1, 4, 3, 5]]  # 64 + 3x61 + 64 + 5x13 = 376 < 64 + 8x61 = 552
    assert sorted(i for b in cut for i in b) == list(range(8))

    def cost(batches):
        return sum(64 + len(b) * max(lengths[i] for i in b) for b in batches)

    order = sorted(range(8), key=lambda i: -lengths[i])  # the cheapest of every way to cut the sorted order
    best = min(cost([order[a:b] for a, b in zip((0, *cuts), (*cuts, 8))])
               for k in range(8) for cuts in itertools.combinations(range(1, 8), k))
    assert cost(cut) == best
    assert all(len(b) <= 2 for b in sorted_batches(lengths, 2, overhead_tokens=64))  # batch_size still caps
    assert sorted_batches(lengths, 8, overhead_tokens=10_000) == plain  # a costly pass: one batch


def test_training_with_a_token_budget(tmp_path, tiny_bert_dir, rt_csv):
    import labeltune

    m = labeltune.train(model=tiny_bert_dir, train=rt_csv, output=str(tmp_path / "o"), max_tokens=600, epochs=1,
                        precision="fp32", quiet=True, validation_fraction=0.1, test_fraction=0.0)
    with open(tmp_path / "o" / "split.json") as f:
        n_train = 1000 - len(json.load(f)["validation"])
    # ~25 tokens per sentence: about 20 sentences per 600-token batch, so far fewer steps than one per 32
    assert m["train_examples"] == n_train and m["steps"] > n_train / 32 and m["steps"] < n_train / 10
    assert m["validation"]["n"] == 1000 - n_train


def test_debug_data_report(tmp_path, capsys, tiny_bert_dir):
    train = tmp_path / "t.csv"
    train.write_text("text,label\ngood film,pos\ngood film,pos\nbad film,neg\n" + "so " * 300 + ",neg\n")
    val = tmp_path / "v.csv"
    val.write_text("text,label\ngood film,pos\nawful,neg\n")
    assert main(["debug-data", "--train", str(train), "--validation", str(val), "--model", tiny_bert_dir,
                 "--max-length", "64", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["train_examples"] == 4 and rep["train_duplicates"] == 1
    assert rep["train_validation_overlap"] == 1
    assert rep["train_label_counts"] == {"neg": 2, "pos": 2}
    assert rep["token_length"]["share_truncated"] == 0.25 and rep["token_length"]["max"] == 302


def test_early_stopping_stops_after_patience(tmp_path, tiny_bert_dir, rt_csv):
    import labeltune

    # a learning rate this small cannot move the validation accuracy, so every evaluation after the first
    # is "no improvement": with patience 2 the run stops after 3 evaluations, long before its 1,000 steps
    m = labeltune.train(model=tiny_bert_dir, train=rt_csv, output=str(tmp_path / "o"), lr=1e-12, batch_size=8,
                        max_steps=1000, eval_every=5, patience=2, precision="fp32", quiet=True, validation_fraction=0.1)
    assert m["steps"] == 15 and m["best_step"] == 5
    with open(tmp_path / "o" / "train_log.jsonl") as f:
        evals = [json.loads(line) for line in f if '"eval"' in line]
    assert [e["step"] for e in evals] == [5, 10, 15]
