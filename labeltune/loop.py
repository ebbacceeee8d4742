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
from .files import finite
from .robustness.training import paired_batch, robust_step


NONFINITE_STEPS = 3  # non-finite losses in a row that stop a run as diverged


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
    recipe: dict | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> Iterator[dict]:
    """Train `model` on `features`; yield an info dict after every optimizer step.

    `evaluate(model) -> metrics` scores the current model on validation data; `metric` names the key
    that selects the best model (higher is better). The best weights are kept in `<output_dir>/best`.
    `recipe` (what `checkpoint.recipe` makes) is stored in every checkpoint, so that `--resume` can refuse
    a checkpoint of another recipe. `on_log(record)` also receives every train_log.jsonl record (--report-to).
    """
    rank, world = accelerator.process_index, accelerator.num_processes
    main = accelerator.is_main_process
    lengths = [len(f["input_ids"]) for f in features]

    # --- steps and schedule: every epoch's batches, planned up front -----------------------------
    plan = plan_epochs(lengths, cfg, world)  # plan[epoch]: how many of that epoch's steps the run takes
    total_steps = sum(plan)
    optimizer = make_optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)

    # --- resume --------------------------------------------------------------------------------
    ckpt_dir, best_dir = os.path.join(output_dir, "checkpoint"), os.path.join(output_dir, "best")
    state = {"step": 0, "best": None, "best_step": None, "bad_evals": 0, "samples": 0, "train_seconds": 0.0,
             "recipe": recipe}
    found = checkpoint.existing(ckpt_dir) if cfg.resume else None
    if found:
        state = {**checkpoint.load(found, raw_model, optimizer, scheduler, accelerator), "recipe": recipe}
        accelerator.print(f"resumed from {found} at step {state['step']}")
    log_path = os.path.join(output_dir, "train_log.jsonl")
    if main:
        checkpoint.remove_stale(ckpt_dir, best_dir)  # temporary folders of a killed save
        truncate_log(log_path, state["step"])  # a resumed run logs its steps again, once

    def log(record: dict) -> None:
        if main:
            with open(log_path, "a") as f:
                f.write(json.dumps(finite(record)) + "\n")  # a NaN loss as null: strict JSON readers refuse NaN
            if on_log is not None:
                on_log(record)

    def say(message: str) -> None:
        if main:
            tqdm.write(message)

    bar = tqdm(total=total_steps, initial=state["step"], disable=not (cfg.show_progress and main), unit="step")
    stop = state["step"] >= total_steps or bool(cfg.patience and state["bad_evals"] >= cfg.patience)
    model.train()
    first_step = 0  # the number of steps in the epochs before this one
    nonfinite = 0  # non-finite losses in a row
    for epoch, n_steps in enumerate(plan):
        if stop:
            break
        steps = epoch_steps(lengths, cfg, epoch, world)
        if hasattr(features, "set_epoch"):  # --augment: this epoch's perturbed examples
            features.set_epoch(epoch)
        # --- one epoch; a resumed run starts where its checkpoint was written ---------------------
        for k in range(max(0, state["step"] - first_step), n_steps):
            group = steps[k]
            t0 = time.perf_counter()
            loss_sum, n_examples = 0.0, 0
            # --- micro-batches: gradients accumulate; DDP syncs only on the last one ------------
            for j, global_batch in enumerate(group):
                mine = global_batch[rank::world]
                if cfg.augment_consistency:  # perturbed rows beside their clean twins: robustness/training.py
                    batch, pairs = paired_batch(features, mine, collate)
                    pairs = tuple(p.to(accelerator.device) for p in pairs)
                else:
                    batch, pairs = collate([features[i] for i in mine]), None
                batch = {k_: v.to(accelerator.device) for k_, v in batch.items()}
                sync = j == len(group) - 1
                with accelerator.no_sync(model) if not sync and world > 1 else contextlib.nullcontext():
                    if cfg.rdrop or cfg.adv_eps or pairs is not None:  # labeltune/robustness/training.py
                        loss = robust_step(model, batch, cfg, lambda x: accelerator.backward(x / len(group)),
                                           pairs) / len(group)
                    else:
                        loss = model(**batch).loss / len(group)
                        accelerator.backward(loss)
                loss_sum += float(loss.detach()) if torch.is_tensor(loss) else loss
                n_examples += len(global_batch)
            # a diverged run (the loss NaN or infinite, and so are the weights soon after) would train on in
            # silence and be saved; a single non-finite step is tolerated (fp16's loss scaling recovers from one)
            nonfinite = 0 if math.isfinite(loss_sum) else nonfinite + 1
            if nonfinite >= NONFINITE_STEPS:
                from .errors import UserError

                raise UserError(f"training diverged: the loss is {loss_sum} at {NONFINITE_STEPS} steps in a row (step "
                                f"{state['step'] + 1}); lower --lr (now {optimizer.param_groups[0].get('initial_lr', cfg.lr)}), "
                                "keep --max-grad-norm on, or use --precision fp32 / bf16 instead of fp16")
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
            info = {"step": step, "epoch": epoch + (k + 1) / len(steps), "loss": loss_sum,
                    "lr": scheduler.get_last_lr()[0]}
            if step % cfg.log_every == 0 or step == total_steps:
                log({**info, "samples_per_s": round(speed, 2)})

            # --- evaluate, keep the best, stop early -------------------------------------------
            last = step >= total_steps
            due_eval = step % cfg.eval_every == 0 if cfg.eval_every else k == len(steps) - 1  # 0: epoch ends
            due_save = step % cfg.save_every == 0 if cfg.save_every else due_eval
            if evaluate is not None and (due_eval or last):
                model.eval()
                metrics = evaluate(raw_model)
                model.train()
                value = metrics.get(metric)
                if value is None:  # a mistyped --metric: the user's error, not a traceback
                    from .errors import UserError, flag

                    names = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n")
                    raise UserError(f"{flag('metric')} {metric}: not among the validation metrics; choose one of "
                                    f"{', '.join(names)}")
                improved = state["best"] is None or value > state["best"]
                if improved:
                    state.update(best=value, best_step=step, bad_evals=0)
                    checkpoint.save_weights(best_dir, raw_model, accelerator)  # every process: FSDP gathers
                else:
                    state["bad_evals"] += 1
                info["eval"] = metrics
                log({"step": step, "epoch": info["epoch"], "eval": metrics, "best": improved})
                # the selection score may be a cheaper one than the final evaluation's (translation: greedy on a
                # subset); say which. tqdm.write: on a terminal the line starts below the progress bar
                scope = metrics.get("decoding") or "validation"
                say(f"step {step}: selection score {metric}={value:.4f} ({scope})" + (" (best so far)" if improved else ""))
                if cfg.patience and state["bad_evals"] >= cfg.patience:
                    say(f"early stop: no improvement in {cfg.patience} evaluations")
                    last = True
            if due_save or last:
                checkpoint.save(ckpt_dir, raw_model, optimizer, scheduler, state, accelerator)
                accelerator.wait_for_everyone()
            info["state"] = dict(state)
            yield info
            if last:
                stop = True
                break
        first_step += n_steps
    bar.close()
    # the final model is the best one seen in evaluation (or the last, without validation data)
    if state["best_step"] is not None and state["best_step"] != state["step"] and os.path.exists(best_dir):
        checkpoint.load_weights(best_dir, raw_model, accelerator)  # (when the last step was the best, the model holds it)


def epoch_steps(lengths, cfg: TrainConfig, epoch: int, world: int) -> list[list[list[int]]]:
    """One epoch's optimizer steps, each a group of --grad-accum global batches."""
    batches = global_batches(lengths, cfg, epoch, world)
    return [batches[i : i + cfg.grad_accum] for i in range(0, len(batches), cfg.grad_accum)]


def plan_epochs(lengths, cfg: TrainConfig, world: int) -> list[int]:
    """How many optimizer steps the run takes from each epoch it reaches (the last one may stop part-way).

    Counted from each epoch's own batches: under --max-tokens their number changes from epoch to epoch (the
    batches depend on the epoch's shuffle), so no epoch length computed once can place a step. A fractional
    last epoch (--epochs 2.5) takes that share of its steps, rounded up; --max-steps runs through as many
    epochs as it needs.
    """
    plan = []
    while (sum(plan) < cfg.max_steps) if cfg.max_steps else (len(plan) < cfg.epochs):
        n = len(epoch_steps(lengths, cfg, len(plan), world))
        if n == 0:
            break
        take = n if cfg.max_steps else math.ceil(min(1.0, cfg.epochs - len(plan)) * n)
        plan.append(min(take, cfg.max_steps - sum(plan)) if cfg.max_steps else take)
    return plan


def truncate_log(path: str, step: int) -> None:
    """Keep the log records of steps up to `step` (the checkpoint's): the steps after it are run, and logged,
    again. A line cut short by a kill is dropped."""
    if not os.path.exists(path):
        return
    kept = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
    with open(path, "w") as f:
        f.writelines(kept)
