"""A 2-process run (torchrun, gloo) killed mid-way and resumed ends with the weights of an uninterrupted one:
each process gets its own RNG state back (their dropout draws differ once their slices of a batch differ)."""

import csv
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_process_run_resumes_to_identical_weights(tmp_path, tiny_dropout_bert, rt_csv):
    model = tiny_dropout_bert
    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        csv.writer(f).writerows(rows[:100])  # 99 sentences: each epoch ends on a batch of 3, split 2 + 1
    common = ["train", "--model", model, "--train", str(train), "--epochs", "2", "--batch-size", "4", "--lr", "1e-3",
              "--precision", "fp32", "--validation-fraction", "0", "--save-every", "5", "--threads", "1", "--quiet",
              "--max-length", "32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc_per_node", "2",
                "--master_port", "29523"]
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")

    def launch(*args):
        return subprocess.run([*torchrun, *args], capture_output=True, text=True, env=env, timeout=300)

    res = launch("-m", "labeltune", *common, "--output", full)
    assert res.returncode == 0, res.stderr[-3000:]
    # 13 steps per epoch: stop at step 17 (checkpoint at 15, written after epoch 1's uneven last batch)
    res = launch(os.path.join(HERE, "stop_worker.py"), "17", *common, "--output", cut)
    assert res.returncode != 0 and not os.path.exists(os.path.join(cut, "model.safetensors"))
    res = launch("-m", "labeltune", *common, "--output", cut, "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = load_file(os.path.join(full, "model.safetensors")), load_file(os.path.join(cut, "model.safetensors"))
    diff = {k: (a[k] - b[k]).abs().max().item() for k in a if not torch.equal(a[k], b[k])}
    assert not diff, f"resumed 2-process weights differ: {sorted(diff.items(), key=lambda kv: -kv[1])[:3]}"
