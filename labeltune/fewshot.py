"""Few-shot classification (`labeltune train --task classification --few-shot`): SetFit's recipe, run by the
`setfit` library (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts").

1. Contrastive fine-tuning of the sentence encoder: pairs of training sentences (same label: similarity 1,
   different labels: 0), mean-pooled embeddings, cosine-similarity loss. Each example yields
   --few-shot-iterations pairs, so 16 labelled sentences give a few hundred training pairs.
2. A logistic-regression head on the fine-tuned (normalised) embeddings.

The SetFit paper reports large gains over plain fine-tuning at 8-64 labels per class with mpnet-base-sized
encoders. With the shipped all-MiniLM-L6-v2 on Rotten Tomatoes at 8 labels per class, SetFit's recipe alone
gains about one point (benchmarks/bench_fewshot.py, 1,000 held-out sentences, seeds 0/1/2: 60.3 against plain
fine-tuning's 59.3): this small encoder's frozen sentence embeddings separate polarity poorly (logistic
regression on them: ~58 with 16 examples, 73.7 with 2,000). What helps is a prior from the label names:
--few-shot-template adds 8 synthetic examples per label ("This sentence is positive", SetFit's
get_templated_dataset) to both phases. Chosen on a validation slice of the pool (250 sentences per label, never
the test rows), mean of 3 seeds: frozen encoder + templates 62.9; SetFit + templates, 10 pairs per example 67.3,
20 pairs (the default) 69.3; the template "It was {}." was worse than "This sentence is {}" (60.7 vs 62.9,
frozen); a weaker regularised head (C=100) was not better. On the 1,000 test
sentences (benchmarks/bench_fewshot.py --per-class 8 --seeds 3): plain 59.3 ± 4.1, --few-shot-template 69.4 ± 1.4
(per seed +12.9 / +6.5 / +10.7 points).
The label names must be words that say what the class is; with codes (0/1, A/B) leave the template off.

Why the library: setfit 1.2 installs beside transformers 5 without touching torch/transformers/numpy, and
trains offline. Its own save format keeps the head as a pickle (model_head.pkl), which labeltune never
writes or reads; instead the trained model is folded into a small torch module, `FewShotClassifier`
(encoder -> mean pooling -> L2 normalisation -> linear layer with the logistic regression's weights, whose
softmax equals the regression's predict_proba), and saved as:

  config.json + model.safetensors   the fine-tuned encoder (plain `AutoModel.from_pretrained` loads it)
  few_shot_head.safetensors         the linear head (weight, bias)
  labeltune.json                    setup["few_shot"]: pooling and normalisation, so labeltune.load rebuilds it

`AutoModelForSequenceClassification` cannot express mean pooling, so the directory is not a transformers
classification model: load it with `labeltune.load` (predict, evaluate, tune, the CLI all do).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn

from .errors import UserError

HEAD_FILE = "few_shot_head.safetensors"
DEFAULTS = {"lr": 2e-5, "epochs": 1, "batch_size": 16}  # SetFit's own defaults for the encoder phase
TEMPLATE_EXAMPLES = 8  # --few-shot-template: synthetic examples per label (measured with 8 and 16, see the docstring)


class FewShotClassifier(nn.Module):
    """encoder -> mean pooling over real tokens -> (L2 normalisation) -> linear; returns `.logits` (and `.loss`)."""

    def __init__(self, encoder, weight: torch.Tensor, bias: torch.Tensor, normalize: bool):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)
        self.normalize = normalize
        self.config = encoder.config

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_hidden_states=None, **_):
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        encoded = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                               output_hidden_states=output_hidden_states, **kwargs)  # suggest reads them
        hidden = encoded.last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = nn.functional.normalize(pooled.float(), p=2, dim=-1)
        logits = self.head(pooled.float())
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states)

    def get_input_embeddings(self) -> nn.Module:
        """The encoder's token embeddings: what explain attributes over and the attack's word neighbours read."""
        return self.encoder.get_input_embeddings()

    def save_pretrained(self, out: str, state_dict=None, **_) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(out)
        save_file({"weight": self.head.weight.detach().contiguous(), "bias": self.head.bias.detach().contiguous()},
                  os.path.join(out, HEAD_FILE))


def load(directory: str, setup: dict) -> FewShotClassifier:
    """The classifier saved by a --few-shot run (`setup["few_shot"]` says how it pools)."""
    from safetensors.torch import load_file

    from .models import from_pretrained
    from transformers import AutoModel

    head = load_file(os.path.join(directory, HEAD_FILE))
    encoder = from_pretrained(AutoModel, directory)
    return FewShotClassifier(encoder, head["weight"], head["bias"], setup["few_shot"]["normalize"]).eval()


def _quiet_setfit() -> None:
    """SetFit as quiet as the rest (labeltune prints what matters): its import turns its own logging to INFO
    ("***** Running training *****", "model_head.pkl not found ..."), and datasets draws a bar per map."""
    from datasets import disable_progress_bars
    from setfit import logging as setfit_logging

    setfit_logging.set_verbosity_error()
    disable_progress_bars()


# the training loop's own options: SetFit's trainer has none of them, so a value given would be ignored in silence
LOOP_ONLY = ("max_steps", "grad_accum", "weight_decay", "warmup_ratio", "max_grad_norm", "max_tokens", "eval_every",
             "patience", "save_every", "resume", "augment", "rdrop", "adv_eps")


def check_config(cfg) -> None:
    """Refuse settings --few-shot cannot honour (a value other than TrainConfig's default), naming the flags."""
    from .config import changed
    from .errors import flag

    given = [flag(k) for k in changed(cfg, LOOP_ONLY)]
    if given:
        raise UserError(f"--few-shot trains with SetFit's own loop, which has no {', '.join(given)}; leave "
                        f"{'it' if len(given) == 1 else 'them'} out (its settings: --epochs, --batch-size, --lr, "
                        "--few-shot-iterations)")
    if cfg.epochs is not None and (cfg.epochs < 1 or cfg.epochs != int(cfg.epochs)):
        raise UserError(f"{flag('epochs')} {cfg.epochs:g}: --few-shot trains whole epochs; give 1, 2, ...")
    if cfg.few_shot_template:  # SetFit calls template.format(label): any other field is a traceback there
        try:
            cfg.few_shot_template.format("label")
        except (ValueError, KeyError, IndexError) as e:
            raise UserError(f"{flag('few_shot_template')} {cfg.few_shot_template!r}: not a template with one {{}} "
                            f"({type(e).__name__}: {e}); write a literal brace as {{{{ or }}}}") from None


def _check(train_ex: list[dict], setup: dict) -> None:
    if setup["multi_label"]:
        raise UserError("--few-shot: multi-label data is not supported; drop --multi-label or --few-shot")
    if any("text_pair" in e for e in train_ex):
        raise UserError("--few-shot: sentence pairs are not supported; drop --text-pair-column or --few-shot")


def train(cfg, model_path: str, train_ex: list[dict], setup: dict, opts, tokenizer, max_length: int):
    """(FewShotClassifier, {"state": loop-like counters}) trained by SetFit on `train_ex`. `cfg.lr`, `cfg.epochs`
    and `cfg.batch_size` set the encoder phase where the user gave them (None: SetFit's defaults)."""
    check_config(cfg)
    _check(train_ex, setup)
    try:
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers.trainer_callback import PrinterCallback
    except ImportError as e:
        raise UserError(f"--few-shot needs the setfit package ({e}); pip install 'setfit>=1.2'") from None
    try:  # sentence-transformers 6 moved its modules; older releases that setfit also accepts have the old path
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling

    index = {name: i for i, name in enumerate(setup["labels"])}
    data = Dataset.from_dict({"text": [e["text"] for e in train_ex], "label": [index[e["labels"][0]] for e in train_ex]})
    if cfg.few_shot_template:  # the label names as extra examples: a prior the 8 real examples per label lack
        from setfit import get_templated_dataset

        data = get_templated_dataset(data, candidate_labels=list(setup["labels"]), template=cfg.few_shot_template,
                                     sample_size=TEMPLATE_EXAMPLES)
    lr, epochs, batch_size = (getattr(cfg, k) if getattr(cfg, k) is not None else v for k, v in DEFAULTS.items())
    _quiet_setfit()
    model = SetFitModel.from_pretrained(model_path, local_files_only=True)
    pooling = [m for m in model.model_body if isinstance(m, Pooling)]
    mode = getattr(pooling[0], "pooling_mode", None) if pooling else "mean"
    if mode not in ("mean", ("mean",)) and getattr(pooling[0], "pooling_mode_mean_tokens", None) is not True:
        if not os.path.exists(os.path.join(model_path, "modules.json")):  # not a sentence-transformers model: the
            # library chose the pooling itself (a decoder-only LM's last token), and a message about "its pooling"
            # sent a Llama user looking for a setting the model does not have
            raise UserError(f"--few-shot: {model_path} is not a sentence encoder (sentence-transformers would read "
                            f"it with {mode!r} pooling, as it does a decoder-only LM); --few-shot fine-tunes a "
                            "mean-pooling encoder such as all-MiniLM-L6-v2; train this model without --few-shot")
        raise UserError(f"--few-shot: {model_path} is a sentence-transformers model with another pooling than the "
                        "mean; use a mean-pooling encoder (e.g. all-MiniLM-L6-v2)")
    normalize = any(isinstance(m, Normalize) for m in model.model_body)
    # the longest training text, not the model's limit: a padded length of 512 made each step ~10x slower
    longest = max(len(ids) for ids in tokenizer([e["text"] for e in train_ex], truncation=True, max_length=max_length)["input_ids"])
    max_length = min(max_length, longest)
    model.model_body.max_seq_length = max_length
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # the Trainer wants a folder for its (unused) checkpoints
        args = TrainingArguments(output_dir=tmp, batch_size=batch_size, num_epochs=int(epochs), body_learning_rate=lr,
                                 num_iterations=cfg.few_shot_iterations, max_length=max_length, seed=cfg.seed,
                                 report_to="none", show_progress_bar=cfg.show_progress, save_strategy="no",
                                 logging_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=data)
        trainer.remove_callback(PrinterCallback)  # it prints every log dict when there is no progress bar
        with warnings.catch_warnings():  # torch's "pin_memory ... no accelerator" from the Trainer's loader
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            trainer.train()
    seconds = time.perf_counter() - start

    head = model.model_head  # sklearn LogisticRegression; classes_ are the label indices seen in training
    coef, intercept = np.asarray(head.coef_, dtype=np.float32), np.asarray(head.intercept_, dtype=np.float32)
    weight = torch.zeros(len(index), coef.shape[1])
    bias = torch.full((len(index),), -1e4)  # a label absent from training (--label-names) is never predicted
    if coef.shape[0] == 1:  # binary: p(classes_[1]) = sigmoid(w.x + b) = softmax([0, w.x + b])[1]
        weight[int(head.classes_[1])], bias[int(head.classes_[1])] = torch.from_numpy(coef[0]), float(intercept[0])
        bias[int(head.classes_[0])] = 0.0
    else:
        for row, cls in enumerate(head.classes_):
            weight[int(cls)], bias[int(cls)] = torch.from_numpy(coef[row]), float(intercept[row])
    encoder = model.model_body[0].auto_model
    setup["few_shot"] = {"pooling": "mean", "normalize": normalize, "iterations": cfg.few_shot_iterations,
                         "template": cfg.few_shot_template or None,
                         "lr": lr, "epochs": int(epochs), "batch_size": batch_size, "library": "setfit"}
    classifier = FewShotClassifier(encoder.float(), weight, bias, normalize).eval()
    pairs = 2 * cfg.few_shot_iterations * len(data) * int(epochs)
    state = {"step": -(-pairs // batch_size), "best_step": None, "samples": pairs, "train_seconds": seconds}
    return classifier, {"state": state}
