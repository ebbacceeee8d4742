"""Run by test_distributed.py under `torchrun --nproc_per_node 2`: checkpoint.py's FSDP path, on CPU (gloo).

Accelerate only shards with FSDP on accelerators, so this drives PyTorch's FSDP2 (`fully_shard`) directly and
hands checkpoint.py an object with the two Accelerator attributes it reads. Checks: a checkpoint written from
shards and loaded into a differently initialised sharded model continues training identically; the best-weights
file round-trips; both files hold full, unsharded tensors under the plain model's names.
"""

import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from transformers import BertConfig, BertForSequenceClassification

from labeltune import checkpoint


class ShardedAccelerator:
    """What checkpoint.py reads from accelerate.Accelerator."""

    distributed_type = "FSDP"

    def __init__(self):
        self.is_main_process = dist.get_rank() == 0
        self.process_index, self.num_processes = dist.get_rank(), dist.get_world_size()


def build(seed: int):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg)
    for layer in model.bert.encoder.layer:
        fully_shard(layer)
    fully_shard(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))
    return model, optimizer, scheduler


def step(model, optimizer, scheduler, seed: int) -> float:
    g = torch.Generator().manual_seed(seed * 10 + dist.get_rank())  # each process its own data
    ids, labels = torch.randint(0, 100, (4, 7), generator=g), torch.randint(0, 2, (4,), generator=g)
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return loss.item()


def full(model) -> dict:
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def main(out: str) -> None:
    dist.init_process_group("gloo")
    acc = ShardedAccelerator()
    a = build(0)
    for s in range(3):
        step(*a, s)
    checkpoint.save(f"{out}/checkpoint", *a, {"step": 3}, acc)
    dist.barrier()
    b = build(1)  # other initial weights: everything must come from the checkpoint
    state = checkpoint.load(f"{out}/checkpoint", *b, acc)
    losses = [(step(*a, s), step(*b, s)) for s in range(3, 6)]
    same_weights = all(torch.equal(x, y) for x, y in zip(full(a[0]).values(), full(b[0]).values()))

    checkpoint.save_weights(f"{out}/best", a[0], acc)
    dist.barrier()
    step(*b, 99)  # move b away, then restore the best weights into it
    checkpoint.load_weights(f"{out}/best", b[0], acc)
    restored = all(torch.equal(x, y) for x, y in zip(full(a[0]).values(), full(b[0]).values()))
    if acc.is_main_process:
        with open(f"{out}/result.json", "w") as f:
            json.dump({"state": state, "losses": losses, "same_weights": same_weights, "restored": restored}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
