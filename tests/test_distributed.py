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


def test_fsdp_checkpoints_gather_shards_and_resume_exactly(tmp_path):
    """checkpoint.py under FSDP2 with 2 CPU processes (tests/fsdp_worker.py): a checkpoint written from shards,
    loaded into a differently initialised sharded model, continues with identical losses and weights; the
    files hold full tensors that a plain, unsharded model loads; a plain run refuses to resume it."""
    import pytest
    from transformers import BertConfig, BertForSequenceClassification

    from labeltune import checkpoint
    from labeltune.errors import UserError

    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    worker = os.path.join(os.path.dirname(__file__), "fsdp_worker.py")
    res = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", "29519", worker, str(tmp_path)],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.load(open(tmp_path / "result.json"))
    assert result["state"] == {"step": 3}
    assert all(a == b for a, b in result["losses"]) and result["same_weights"] and result["restored"]

    torch.manual_seed(5)
    plain = BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64))
    saved = load_file(str(tmp_path / "best" / "model.safetensors"))
    assert {k: tuple(v.shape) for k, v in saved.items()} == {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    checkpoint.load_weights(str(tmp_path / "best"), plain)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in saved.items())
    optimizer = torch.optim.AdamW(plain.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    with pytest.raises(UserError, match="written with FSDP"):
        checkpoint.load(str(tmp_path / "checkpoint"), plain, optimizer, scheduler)
