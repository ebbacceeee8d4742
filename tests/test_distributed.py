"""Scale-out: the same loop under torchrun with 2 CPU processes (gloo) matches 1 process at the same global
batch size and seed. Each process takes its slice of every global batch; DDP averages the gradients."""

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file


def test_two_processes_match_one(tmp_path, tiny_bert_dir, rt_csv):
    import csv

    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))[:181]
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    common = ["train", "--model", tiny_bert_dir, "--train", str(train), "--epochs", "2", "--lr", "1e-3",
              "--precision", "fp32", "--threads", "1", "--quiet", "--seed", "3"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "labeltune", *common, "--batch-size", "16", "--output", one],
                   check=True, capture_output=True, env=env)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    res = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", "29517", "-m", "labeltune", *common,
                          "--batch-size", "8", "--output", two], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    m1, m2 = (json.load(open(os.path.join(d, "metrics.json"))) for d in (one, two))
    assert m1["steps"] == m2["steps"]
    assert abs(m1["validation"]["accuracy"] - m2["validation"]["accuracy"]) <= 0.05
    w1, w2 = load_file(os.path.join(one, "model.safetensors")), load_file(os.path.join(two, "model.safetensors"))
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-4), f"{k}: max diff {(w1[k] - w2[k]).abs().max():.2e}"
