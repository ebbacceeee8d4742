"""Training settings chosen from the data and the model when the user leaves --epochs, --batch-size, --lr unset.

Why: a fixed recipe (batch 32, 3 epochs, lr 5e-5) is a couple of dozen optimizer steps on a few hundred
examples, which under-trains (measured in issue 12: held-out NER, 200 sentences, entity F1 0.0 with that
recipe, 0.849 at 10 epochs; QA, 580 questions: F1 27.6 at 75 steps, 83.7 at 291 steps of batch 8, lr 1e-4).
Small-data fine-tuning studies say the same: train for more steps than the BERT recipe (Mosbach et al. 2021,
"On the stability of fine-tuning BERT"; Zhang et al. 2021, "Revisiting few-sample BERT fine-tuning").

The rule (each part only for a flag the user did not give; an explicit flag always wins):

1. batch size: the largest of 16, 8 that still gives at least MIN_STEPS optimizer steps in BASE_EPOCHS
   epochs; 8 when none does, and 8 always for a decoder-only LM (CAUSAL_BATCH_SIZES). 32 was tried first until
   it lost the one grid cell where it was chosen: QA at 3,000 questions, 3,743 windows, 351 steps of batch 32,
   F1 93.7; 702 steps of batch 16, F1 96.0; the Trainer's 1,404 steps of batch 8, F1 94.8 (seed 0);
2. epochs: BASE_EPOCHS, raised until there are MIN_STEPS optimizer steps, at most MAX_EPOCHS;
3. learning rate by the model's parameter count, from the published grids: small BERTs (Turc et al. 2019,
   google/bert_uncased_L-*_H-* cards: best at the top of {3e-5 .. 3e-4}) 1e-4; BERT-base size (Devlin et al.
   2019, A.3) 5e-5; large (RoBERTa, Liu et al. 2019) 2e-5. Decoder-only LMs step lower, as their own
   fine-tuning recipes do: 5e-5 up to 200M parameters, 2e-5 up to 1B, 1e-5 above.

Checked against the Hugging Face example scripts' recipe (batch 8, lr 5e-5, no warmup, no weight decay) at equal
epochs with benchmarks/bench_small_data.py (MiniLM; README, Benchmarks). On silver NER the one-seed gap that
looked like "the Trainer is 0.01 F1 ahead" was noise: over seeds 0, 1, 2 labeltune 0.537 vs 0.516 at 100 sentences
and 0.541 vs 0.539 at 300 (the Trainer's own seed-to-seed spread: 0.07), so the rule was left as it is; a rule change
has to beat that spread on validation rows, not the reported ones.

The choice is printed, written to config.yaml (the resolved values, so the run can be repeated) and to
metrics.json (`auto_settings`, with the reason). `labeltune tune` keeps its learning-rate grid and fills in
epochs and batch size by the same rule for the size of a fold.
"""

from __future__ import annotations

import dataclasses
import math

MIN_STEPS = 300  # optimizer steps a run should get at least (the QA run above: 291 steps were enough)
BATCH_SIZES = (16, 8)  # tried largest first: larger batches are faster per example (32: see the docstring)
# decoder-only LMs take batch 8 at any size: translation at 3,000 pairs (SmolLM2-135M, seed 0) scored 9.95 BLEU at
# batch 16 (564 steps), 11.83 at batch 8 (1,125 steps), and 12.09 with the example scripts' recipe (batch 8, no
# warmup or weight decay) through the same loop
CAUSAL_BATCH_SIZES = (8,)
BASE_EPOCHS = 3.0  # the BERT recipe's, and the Hugging Face example scripts'
MAX_EPOCHS = 20.0  # the cap for tiny data (Mosbach et al. 2021 train small sets for 20 epochs)

# (upper bound on parameters, learning rate)
ENCODER_LRS = ((50_000_000, 1e-4), (200_000_000, 5e-5), (float("inf"), 2e-5))
CAUSAL_LRS = ((200_000_000, 5e-5), (1_000_000_000, 2e-5), (float("inf"), 1e-5))
# --peft: LoRA/IA3 want a learning rate many times full fine-tuning's (Hu et al. 2021 used 4e-4..5e-4 for
# RoBERTa-base, against 1e-5..3e-5 full). Measured on MiniLM, Rotten Tomatoes, 1,000 rows, 96 steps, 500 held out
# (benchmarks/bench_peft.py): LoRA r=8 at 5e-4 / 1e-3 / 2e-3: 71.4 / 73.4 / 75.8% accuracy; full at 1e-4: 78.2%
PEFT_LR_FACTOR = 20


def learning_rate(n_params: int, causal: bool) -> float:
    """The default peak learning rate for a model of `n_params` parameters."""
    return next(lr for limit, lr in (CAUSAL_LRS if causal else ENCODER_LRS) if n_params < limit)


def batch_and_epochs(n_items: int, batch_size: int | None, epochs: float | None, per_step: int = 1,
                     sizes: tuple[int, ...] = BATCH_SIZES) -> tuple[int, float]:
    """(batch size, epochs) by the rule above for `n_items` training features; given values are kept.

    `per_step`: batches per optimizer step beyond one (processes x gradient accumulation); `sizes`: the batch
    sizes tried, largest first (CAUSAL_BATCH_SIZES for a decoder-only LM)."""
    def steps_per_epoch(b: int) -> int:
        return max(1, math.ceil(n_items / (b * per_step)))

    if batch_size is None:
        wanted_epochs = epochs or BASE_EPOCHS
        fits = [b for b in sizes if steps_per_epoch(b) * wanted_epochs >= MIN_STEPS]
        batch_size = fits[0] if fits else sizes[-1]
    if epochs is None:
        epochs = min(MAX_EPOCHS, max(BASE_EPOCHS, float(math.ceil(MIN_STEPS / steps_per_epoch(batch_size)))))
    return batch_size, epochs


def resolve(cfg, n_items: int, model, world: int = 1):
    """(cfg with epochs, batch_size and lr filled in, record of what was chosen) for run.train.

    `n_items`: training features (windows for long NER/QA inputs), the unit the loop batches."""
    chosen, why = {}, []
    causal = type(model).__name__.endswith("ForCausalLM")
    if cfg.batch_size is None or (cfg.epochs is None and not cfg.max_steps):
        per_step = world * cfg.grad_accum
        sizes = CAUSAL_BATCH_SIZES if causal else BATCH_SIZES
        batch_size, epochs = batch_and_epochs(n_items, cfg.batch_size, cfg.epochs, per_step, sizes)
        if cfg.max_tokens:  # batches are cut by a token budget; --batch-size does not count
            batch_size = cfg.batch_size or sizes[0]
        if cfg.batch_size is None:
            chosen["batch_size"] = batch_size
        if cfg.epochs is None and cfg.max_steps:  # --max-steps sets the length: the epochs need a value, not a say
            cfg = dataclasses.replace(cfg, epochs=float(BASE_EPOCHS))
        elif cfg.epochs is None:
            chosen["epochs"] = epochs
        if cfg.max_steps:
            why.append(f"{n_items} training features; --max-steps {cfg.max_steps} sets the length")
        else:
            steps = math.ceil(n_items / (batch_size * per_step)) * math.ceil(epochs)
            why.append(f"{n_items} training features -> about {steps} optimizer steps (the rule wants >= {MIN_STEPS}, "
                       f"epochs <= {MAX_EPOCHS:g})")
    elif cfg.epochs is None:  # only with --max-steps, which sets the length
        cfg = dataclasses.replace(cfg, epochs=float(BASE_EPOCHS))
    if cfg.lr is None:
        n_params = sum(p.numel() for p in model.parameters())
        chosen["lr"] = learning_rate(n_params, causal)
        why.append(f"lr for {'a decoder-only' if causal else 'an encoder'} model of {n_params / 1e6:.1f}M parameters")
        if getattr(cfg, "peft", "none") != "none":  # adapters start at zero and train few weights: a larger step
            chosen["lr"] *= PEFT_LR_FACTOR
            why.append(f"x{PEFT_LR_FACTOR} for --peft {cfg.peft}")
    if not chosen:
        return cfg, {}
    record = {**chosen, "reason": "; ".join(why), "rule": "labeltune/defaults.py"}
    return dataclasses.replace(cfg, **chosen), record


def describe(record: dict) -> str:
    """One console line: what was chosen, and how to choose otherwise."""
    names = {"batch_size": "batch size", "epochs": "epochs", "lr": "lr"}
    parts = [f"{names[k]} {record[k]:g}" for k in ("batch_size", "epochs", "lr") if k in record]
    flags = ", ".join("--" + k.replace("_", "-") for k in ("batch_size", "epochs", "lr") if k in record)
    return f"auto settings: {', '.join(parts)} ({record['reason']}); set {flags} to choose yourself"


def for_folds(cfg, n_examples: int, causal: bool = False):
    """`labeltune tune`: epochs and batch size by the rule for a fold of `n_examples` (the lr grid stays).

    `causal`: the model is trained as a decoder-only LM (no model is loaded yet to ask, as `resolve` does)."""
    if cfg.batch_size is not None and cfg.epochs is not None:
        return cfg
    sizes = CAUSAL_BATCH_SIZES if causal else BATCH_SIZES
    batch_size, epochs = batch_and_epochs(n_examples, cfg.batch_size, cfg.epochs, cfg.grad_accum, sizes)
    return dataclasses.replace(cfg, batch_size=batch_size, epochs=epochs)
