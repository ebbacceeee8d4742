"""The one training loop, for every task.

Read it top to bottom: optimizer and schedule, resume, then per epoch the batches, and per optimizer step
the micro-batches (forward, backward), clipping, the step, logging, evaluation, checkpointing and early
stopping. It is a generator that yields after every optimizer step (as spaCy's loop does), so a caller
can log, stop, or (in tests) simulate a killed run just by not asking for the next step.

Scale-out comes from Hugging Face Accelerate: under `accelerate launch` or `torchrun` the model is wrapped
in DDP (or FSDP, by Accelerate's config) and each process takes its slice of every global batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from . import checkpoint
from .batching import make_batches
from .config import TrainConfig


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and normalisation weights (the BERT recipe)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel for the whole update (measured on CPU: 246 -> 44 ms per MiniLM step vs foreach)
    try:
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    except (RuntimeError, ValueError):  # devices or dtypes without a fused kernel
        return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)


def global_batches(lengths, cfg: TrainConfig, epoch: int, world: int) -> list[list[int]]:
    """This epoch's global batches (batch_size x processes examples each), the same on every process."""
    batches = make_batches(lengths, cfg.batch_size * world, cfg.seed, epoch, cfg.group_by_length,
                           max_tokens=cfg.max_tokens * world)
    # every process needs a non-empty slice of every batch: repeat a few examples in a tiny last batch
    return [b if len(b) >= world else (b * world)[:world] for b in batches]


def fit(
    cfg: TrainConfig,
    model,
    features: list[dict],
    collate: Callable[[list[dict]], dict],
    evaluate: Callable[[object], dict] | None,
    metric: str,
    accelerator,
    output_dir: str,
) -> Iterator[dict]:
    """Train `model` on `features`; yield an info dict after every optimizer step.

    `evaluate(model) -> metrics` scores the current model on validation data; `metric` names the key
    that selects the best model (higher is better). The best weights are kept in `<output_dir>/best`.
    """
    rank, world = accelerator.process_index, accelerator.num_processes
    main = accelerator.is_main_process
    lengths = [len(f["input_ids"]) for f in features]

    # --- steps and schedule -------------------------------------------------------------------
    micro_per_epoch = len(global_batches(lengths, cfg, 0, world))
    steps_per_epoch = math.ceil(micro_per_epoch / cfg.grad_accum)
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    eval_every = cfg.eval_every or steps_per_epoch
    save_every = cfg.save_every or eval_every

    optimizer = make_optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)

    ckpt_dir, best_dir = os.path.join(output_dir, "checkpoint"), os.path.join(output_dir, "best")
    state = {"step": 0, "best": None, "best_step": None, "bad_evals": 0, "samples": 0, "train_seconds": 0.0}
    found = checkpoint.existing(ckpt_dir) if cfg.resume else None
    if found:
        state = checkpoint.load(found, raw_model, optimizer, scheduler, accelerator)
        accelerator.print(f"resumed from {found} at step {state['step']}")
    log_path = os.path.join(output_dir, "train_log.jsonl")

    def log(record: dict) -> None:
        if main:
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    bar = tqdm(total=total_steps, initial=state["step"], disable=not (cfg.show_progress and main), unit="step")
    stop = state["step"] >= total_steps or bool(cfg.patience and state["bad_evals"] >= cfg.patience)
    model.train()
    while not stop:
        # --- one epoch: which micro-batches, and where to pick up after a resume -------------------
        epoch, step_in_epoch = divmod(state["step"], steps_per_epoch)
        batches = global_batches(lengths, cfg, epoch, world)
        groups = [batches[i : i + cfg.grad_accum] for i in range(0, len(batches), cfg.grad_accum)]
        for group in groups[step_in_epoch:]:
            t0 = time.perf_counter()
            loss_sum, n_examples = 0.0, 0
            # --- micro-batches: gradients accumulate; DDP syncs only on the last one ------------
            for j, global_batch in enumerate(group):
                mine = global_batch[rank::world]
                batch = {k: v.to(accelerator.device) for k, v in collate([features[i] for i in mine]).items()}
                sync = j == len(group) - 1
                with accelerator.no_sync(model) if not sync and world > 1 else contextlib.nullcontext():
                    loss = model(**batch).loss / len(group)
                    accelerator.backward(loss)
                loss_sum += loss.item()
                n_examples += len(global_batch)
            if cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            state["samples"] += n_examples
            state["train_seconds"] += time.perf_counter() - t0
            step = state["step"]
            speed = state["samples"] / max(state["train_seconds"], 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum:.4f}", samples_s=f"{speed:.1f}", refresh=False)
            info = {"step": step, "epoch": step / steps_per_epoch, "loss": loss_sum, "lr": scheduler.get_last_lr()[0]}
            if step % cfg.log_every == 0 or step == total_steps:
                log({**info, "samples_per_s": round(speed, 2)})

            # --- evaluate, keep the best, stop early -------------------------------------------
            last = step >= total_steps
            if evaluate is not None and (step % eval_every == 0 or last):
                model.eval()
                metrics = evaluate(raw_model)
                model.train()
                value = metrics.get(metric)
                if value is None:
                    raise KeyError(f"metric '{metric}' not among the evaluation results {sorted(metrics)}")
                improved = state["best"] is None or value > state["best"]
                if improved:
                    state.update(best=value, best_step=step, bad_evals=0)
                    checkpoint.save_weights(best_dir, raw_model, accelerator)  # every process: FSDP gathers
                else:
                    state["bad_evals"] += 1
                info["eval"] = metrics
                log({"step": step, "epoch": info["epoch"], "eval": metrics, "best": improved})
                accelerator.print(f"step {step}: {metric}={value:.4f}" + (" (best)" if improved else ""))
                if cfg.patience and state["bad_evals"] >= cfg.patience:
                    accelerator.print(f"early stop: no improvement in {cfg.patience} evaluations")
                    last = stop = True
            if step % save_every == 0 or last:
                checkpoint.save(ckpt_dir, raw_model, optimizer, scheduler, state, accelerator)
                accelerator.wait_for_everyone()
            info["state"] = dict(state)
            yield info
            if last:
                stop = True
                break
    bar.close()
    # the final model is the best one seen in evaluation (or the last, without validation data)
    if state["best_step"] is not None and state["best_step"] != state["step"] and os.path.exists(best_dir):
        checkpoint.load_weights(best_dir, raw_model, accelerator)  # (when the last step was the best, the model holds it)
