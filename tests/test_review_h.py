"""Review H: model families the rest of the suite does not try (DistilBERT, ELECTRA, ALBERT, XLM-RoBERTa,
DeBERTa-v2, T5, BART, Llama, Qwen2), built tiny and random in tests/family_models.py and run as a user would."""

from __future__ import annotations

import csv
import json
import os

import pytest
from family_models import tiny_causal, tiny_family, tiny_seq2seq

from labeltune.cli import main as cli

POS = ["a gripping , funny film that I loved", "what a lovely movie", "the cast was superb and funny"]
NEG = ["a dull , boring movie with no story", "the plot was a mess", "I hated the ending"]
FAST = ["--epochs", "1", "--threads", "1", "--precision", "fp32", "--quiet"]


def _cls_csv(path) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(2):
            w.writerows([(t, "positive") for t in POS] + [(t, "negative") for t in NEG])
    return str(path)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory) -> str:
    return tiny_causal(str(tmp_path_factory.mktemp("llama")), "llama")


def test_causal_lm_without_pad_token_classifies_in_batches(tmp_path, llama_dir):
    """A Llama-style causal LM ships no pad token. labeltune pads batches with its eos token, but the model's
    config kept pad_token_id None, so LlamaForSequenceClassification (which finds each row's last token by the
    pad id) raised "Cannot handle batch sizes > 1 if no padding token is defined" at the first training step.
    The saved model must also run batches in plain transformers."""
    data = _cls_csv(tmp_path / "cls.csv")
    out = str(tmp_path / "run")
    assert cli(["train", "--model", llama_dir, "--train", data, "--validation", data, "--output", out,
                "--batch-size", "4", *FAST]) == 0
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    texts = [POS[0], NEG[1]]
    with torch.no_grad():
        batch = model(**tok(texts, padding=True, return_tensors="pt")).logits
        alone = torch.cat([model(**tok([t], return_tensors="pt")).logits for t in texts])
    assert torch.allclose(batch, alone, atol=1e-4)  # padding does not change a row's prediction


_RUNS: dict = {}


def _cls_run(tmp_path_factory, family: str) -> str:
    """One classification run per family for the module (1 epoch, 12 rows)."""
    if family not in _RUNS:
        base = tmp_path_factory.mktemp(family)
        build = tiny_causal if family in ("llama", "qwen2") else tiny_seq2seq if family in ("t5", "bart") else \
            tiny_family
        model = build(str(base / "model"), family)
        out = str(base / "run")
        assert cli(["train", "--model", model, "--train", _cls_csv(base / "cls.csv"), "--validation-fraction", "0",
                    "--output", out, "--batch-size", "4", *FAST]) == 0
        _RUNS[family] = out
    return _RUNS[family]


def test_explain_words_hold_no_leading_space(tmp_path_factory):
    """DeBERTa-v2's SentencePiece tokenizer (like GPT-2's byte-level BPE) gives "▁gripping" the offsets of
    " gripping": explain's words came out as ' gripping', ' funny', ... with the space in their text and span."""
    import labeltune

    text = "a gripping , funny film"
    [row] = labeltune.load(_cls_run(tmp_path_factory, "deberta-v2")).explain([text], method="gxi")
    assert [(w["text"], w["start"], w["end"]) for w in row["words"]] == [
        ("a", 0, 1), ("gripping", 2, 10), (",", 11, 12), ("funny", 13, 18), ("film", 19, 23)]


def test_explain_splits_words_for_a_tokenizer_without_pre_tokenizer(tmp_path_factory):
    """Llama's tokenizer has no pre-tokenizer (SentencePiece reads the whole string), so every sub-word has word id
    0: explain attributed the whole text as one "word", and occlusion could only erase all of it."""
    import labeltune

    text = "the plot was a mess"
    [row] = labeltune.load(_cls_run(tmp_path_factory, "llama")).explain([text], method="occlusion")
    assert [w["text"] for w in row["words"]] == text.split()
    attributions = row["targets"][0]["attributions"]["occlusion"]
    assert len(attributions) == 5


def test_ner_raw_text_spans_with_a_tokenizer_without_pre_tokenizer(tmp_path, llama_dir):
    """NER on raw text + character spans splits the text into the tokenizer's words; Llama's tokenizer has one
    "word" per text, so training refused every span ("span [0, 4) 'John' cuts the word 'John Smith lives ...'")
    and predict on raw text tagged the whole sentence as one entity."""
    rows = [{"text": "John Smith lives in Paris.", "entities": [[0, 10, "PER"], [20, 25, "LOC"]]},
            {"text": "Mary visited Berlin, with Alice.", "entities": [[0, 4, "PER"], [13, 19, "LOC"], [26, 31, "PER"]]}]
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows * 3), encoding="utf-8")
    out = str(tmp_path / "run")
    assert cli(["train", "--task", "ner", "--model", llama_dir, "--train", str(data), "--validation", str(data),
                "--output", out, "--batch-size", "2", *FAST]) == 0
    import re

    import labeltune

    text = "Peter Brown visited Madrid, with Alice."
    words = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    model = labeltune.load(out)
    [pred] = model.predict([text])
    for ent in pred["entities"]:  # an entity starts and ends on word boundaries; it is never the whole sentence
        assert ent["start"] in [s for s, _ in words] and ent["end"] in [t for _, t in words]
        assert ent["text"] != text
    explained = model.explain([text], method="gxi")[0]["words"]
    assert [(w["start"], w["end"]) for w in explained] == words


def test_badge_suggests_with_a_causal_lm_classifier(tmp_path, tmp_path_factory):
    """LlamaForSequenceClassification runs its `score` layer on every position and reads the logits at the last
    real token, so the head input BADGE records is (tokens x hidden) per row, not (hidden): `suggest --strategy
    badge` crashed in numpy ("matmul: Input operand 1 has a mismatch in its core dimension 0")."""
    run = _cls_run(tmp_path_factory, "llama")
    pool = _cls_csv(tmp_path / "pool.csv")
    out = str(tmp_path / "picked.csv")
    assert cli(["suggest", "--model", run, "--pool", pool, "--n", "3", "--strategy", "badge", "--output", out]) == 0
    with open(out, encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 3


def _translation_run(tmp_path, model: str) -> tuple[str, str]:
    """(run directory, data file): `model` trained on six sentence pairs for one epoch."""
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"source": s, "target": t}) + "\n" for s, t in [
        ("the cat sat on the mat", "el gato se sentó"), ("the dog ran away", "el perro huyó")] * 3), encoding="utf-8")
    out = str(tmp_path / "run")
    assert cli(["train", "--task", "translation", "--model", model, "--train", str(data), "--validation-fraction",
                "0", "--output", out, "--batch-size", "2", *FAST]) == 0
    return out, str(data)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_explain_attributes_an_encoder_decoder_translation(tmp_path, family):
    """transformers 5 gives T5 and BART separate (weight-tied) embedding modules for the encoder and the
    decoder, and the top-level `shared` one that get_input_embeddings() returns is never called in forward:
    explain's gradient x input and integrated gradients hooked it and crashed ("The differentiated Tensor ...
    appears to not have been used in the graph")."""
    import labeltune

    out, _ = _translation_run(tmp_path, tiny_seq2seq(str(tmp_path / "model"), family))
    [row] = labeltune.load(out).explain(["the cat sat"], method="gxi")
    assert [w["text"] for w in row["words"]] == ["the", "cat", "sat"]
    scores = [t["attributions"]["gxi"] for t in row["targets"]]
    assert scores and all(len(s) == 3 for s in scores)
    assert any(abs(v) > 0 for s in scores for v in s)  # the source words get gradient


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_explain_a_seq2seq_classifier_credits_the_decoder_path(tmp_path_factory, family):
    """T5/BART classifiers feed the text to the encoder AND, shifted right by one, to the decoder. IG and
    gradient x input hooked the encoder's embedding only, so the decoder's share of the score went nowhere:
    IG's completeness error stayed at 41-100% after 512 steps. Both paths are credited now, each decoder
    position to the input token it re-reads."""
    import labeltune

    model = labeltune.load(_cls_run(tmp_path_factory, family))
    [row] = model.explain([POS[0]], method="ig")
    [target] = row["targets"]
    assert target["completeness_error"] < 0.05
    assert abs(sum(target["attributions"]["ig"]) - target["score_change"]) < 0.05 * abs(target["score_change"]) + 1e-4


def test_marian_translation_with_its_slow_tokenizer(tmp_path, capsys):
    """Marian (Helsinki-NLP opus-mt, the most used translation checkpoints) ships only a slow SentencePiece
    tokenizer. labeltune refused every slow tokenizer ("needs a fast (Rust) tokenizer for offsets and word ids")
    although translation reads token ids only: it now trains, predicts and evaluates with one; explain, which
    needs offsets, says so."""
    import labeltune

    model = tiny_seq2seq(str(tmp_path / "model"), "marian")
    out, data = _translation_run(tmp_path, model)
    assert cli(["evaluate", "--model", out, "--data", data]) == 0
    loaded = labeltune.load(out)
    [row] = loaded.predict(["the cat sat"])
    assert isinstance(row["translation"], str)
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    assert type(AutoModelForSeq2SeqLM.from_pretrained(out)).__name__ == "MarianMTModel"
    assert type(AutoTokenizer.from_pretrained(out)).__name__ == "MarianTokenizer"
    with pytest.raises(labeltune.UserError, match="slow, Python tokenizer"):
        loaded.explain(["the cat sat"])
    capsys.readouterr()
    assert cli(["train", "--model", model, "--train", _cls_csv(tmp_path / "cls.csv"), "--output",
                str(tmp_path / "cls"), *FAST]) != 0  # classification needs offsets: a one-line error, no traceback
    assert "needs a fast (Rust) tokenizer" in capsys.readouterr().err


def _qa_window(tmp_path, family: str, question: str, context: str):
    """(task, opts, tokenizer, example, its one feature, the tokenizer's own encoding) for a tiny `family` model."""
    from labeltune.models import load_tokenizer
    from labeltune.tasks import get_task

    task = get_task("qa")
    opts = task.Options(doc_stride=16)
    tok = load_tokenizer(tiny_family(str(tmp_path / family), family))
    [ex] = task.as_examples([{"question": question, "context": context}], opts)
    [feat] = task.encode([ex], tok, {"version_2_with_negative": False}, opts, 64)
    return task, opts, tok, ex, feat, tok(question, context, return_offsets_mapping=True)


def test_qa_answer_never_starts_at_a_space_only_sub_word(tmp_path):
    """DeBERTa-v2's (and Llama's) SentencePiece writes a word it has no "▁word" piece for as "▁" alone plus the
    word; that "▁" sub-word's offsets are the space itself, so an answer starting there came out as " in Paris",
    with a leading space (and `start` on the space), and could even be the bare " "."""
    import numpy as np

    from labeltune.tasks.qa_spans import best_span

    context = "John Smith lives in Paris ."
    task, opts, tok, ex, feat, enc = _qa_window(tmp_path, "deberta-v2", "Where?", context)
    seq = enc.sequence_ids()
    space = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if seq[i] == 1 and not context[a:b].strip()]
    assert space, tok.convert_ids_to_tokens(enc["input_ids"])  # the tokenizer has a "▁" alone before "in"
    start, end = np.zeros(len(feat["input_ids"])), np.zeros(len(feat["input_ids"]))
    start[space[0]] = 10.0  # the model's best start is the space-only sub-word ...
    paris = max(i for i, o in enumerate(feat["offsets"]) if o is not None and o[1] == context.index(" ."))
    end[paris] = 10.0
    span = best_span(context, [(feat, (start, end))], opts)
    assert not span["text"][:1].isspace() and span["start"] == span["end"] - len(span["text"])
    # ... and for training, an answer's start is the sub-word with its first character
    gold = {**ex, "answers": [{"text": "in Paris", "answer_start": 17}], "is_impossible": False}
    [feat] = task.encode([gold], tok, {"version_2_with_negative": False}, opts, 64)
    a, _ = feat["offsets"][feat["start_positions"]]
    assert context[a] == "i"


def test_qa_answer_never_ends_at_a_standalone_sentencepiece_marker(tmp_path):
    """XLM-RoBERTa writes "in" as "▁" + "in" and gives the "▁" the first character of "in" ((9, 10) beside (9, 11)):
    a best end on that "▁" gave the answer "He lives i". It can end no answer now; the word's own piece can."""
    import numpy as np

    from labeltune.tasks.qa_spans import best_span

    context = "He lives in Paris ."
    _, opts, tok, _, feat, enc = _qa_window(tmp_path, "xlm-roberta", "Who?", context)
    pieces, offsets = tok.convert_ids_to_tokens(enc["input_ids"]), enc["offset_mapping"]
    marker = next(i for i in range(len(pieces) - 1) if pieces[i] == "▁" and offsets[i][0] == context.index("in")
                  and offsets[i + 1][0] == offsets[i][0])  # the tokenizer does write "▁" + "in" here
    start, end = np.zeros(len(feat["input_ids"])), np.zeros(len(feat["input_ids"]))
    start[min(i for i, o in enumerate(feat["offsets"]) if o is not None)] = 10.0  # "He"
    end[marker] = 10.0  # the model's best end is the marker ...
    end[marker + 1] = 5.0  # ... and the next best the word itself
    span = best_span(context, [(feat, (start, end))], opts)
    assert span["text"] == "He lives in"


def test_causal_lm_lora_adapter_directory_predicts_in_batches(tmp_path, llama_dir):
    """`predict --model RUN/adapter` (train --peft lora --save-adapter) rebuilds the base model from the user's
    Llama directory, whose config has no pad id: it crashed with "Cannot handle batch sizes > 1 if no padding
    token is defined" even after training (which now saves the pad id in the merged model) had worked."""
    import labeltune

    out = str(tmp_path / "run")
    assert cli(["train", "--model", llama_dir, "--train", _cls_csv(tmp_path / "cls.csv"), "--validation-fraction",
                "0", "--output", out, "--batch-size", "4", "--peft", "lora", "--save-adapter", *FAST]) == 0
    texts = [POS[0], NEG[1], NEG[2]]
    merged = labeltune.load(out).predict(texts)
    adapter = labeltune.load(os.path.join(out, "adapter")).predict(texts)
    assert [p["label"] for p in adapter] == [p["label"] for p in merged]
    assert all(abs(a["score"] - m["score"]) < 1e-4 for a, m in zip(adapter, merged))


@pytest.mark.parametrize("family", ["xlm-roberta", "deberta-v2"])
def test_ner_raw_text_span_next_to_punctuation_with_sentencepiece(tmp_path, family):
    """SentencePiece tokenizers (XLM-RoBERTa, ALBERT, DeBERTa-v2, T5) cut text at spaces only, so "Paris," was one
    word and training refused the span of "Paris" ("span [20, 25) 'Paris' cuts the word 'Paris,'"), data that
    trains with BERT or RoBERTa. Chinese text (no spaces) was one word per sentence."""
    rows = [{"text": "John Smith lives in Paris, France.", "entities": [[0, 10, "PER"], [20, 25, "LOC"],
                                                                         [27, 33, "LOC"]]},
            {"text": "约翰住在北京。", "entities": [[0, 2, "PER"], [4, 6, "LOC"]]}]
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows * 3), encoding="utf-8")
    model = tiny_family(str(tmp_path / "model"), family)
    out = str(tmp_path / "run")
    assert cli(["train", "--task", "ner", "--model", model, "--train", str(data), "--validation", str(data),
                "--output", out, "--batch-size", "2", *FAST]) == 0
    import labeltune
    from labeltune.tasks.ner_windows import ensure_words

    examples = [{"text": "Mary visited Berlin, Germany.", "_where": "x"}, {"text": "玛丽去了柏林。", "_where": "y"}]
    ensure_words(examples, labeltune.load(out).rt.tokenizer)  # the words predict reads the text in
    assert examples[0]["tokens"] == ["Mary", "visited", "Berlin", ",", "Germany", "."]
    assert examples[1]["tokens"] == list("玛丽去了柏林。")


def test_suggest_with_an_encoder_decoder_classifier(tmp_path):
    """BartForSequenceClassification (bart-large-mnli's class) and T5's return Seq2SeqSequenceClassifierOutput,
    which has encoder_/decoder_hidden_states but no `hidden_states`: `suggest --strategy kmeans` (and badge,
    diverse, typiclust) crashed with AttributeError."""
    model = tiny_seq2seq(str(tmp_path / "model"), "bart")
    data = _cls_csv(tmp_path / "cls.csv")
    out = str(tmp_path / "run")
    assert cli(["train", "--model", model, "--train", data, "--validation-fraction", "0", "--output", out,
                "--batch-size", "4", *FAST]) == 0
    picked = str(tmp_path / "picked.csv")
    assert cli(["suggest", "--model", out, "--pool", data, "--n", "3", "--strategy", "kmeans", "--output",
                picked]) == 0
    with open(picked, encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_translation_warm_start_from_an_encoder_with_no_decoder_form(tmp_path, capsys):
    """`train --task translation --model distilbert-...` (or ALBERT) picks a BERT2BERT warm start, but transformers
    has no DistilBertForCausalLM to be the decoder: a bare traceback (exit 1) ending in a 100-name list "Model
    type should be one of GPT2Config, ...". A clear error (exit 2) says what to give instead."""
    model = tiny_family(str(tmp_path / "model"), "distilbert")
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"source": "the cat", "target": "el gato"}) + "\n" for _ in range(4)),
                    encoding="utf-8")
    capsys.readouterr()
    assert cli(["train", "--task", "translation", "--model", model, "--train", str(data), "--validation-fraction",
                "0", "--output", str(tmp_path / "run"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "distilbert" in err and "--decoder-model" in err and "Traceback" not in err


def test_max_length_within_roberta_style_position_embeddings(tmp_path, capsys):
    """XLM-RoBERTa (like RoBERTa and CamemBERT) numbers positions from its padding index + 1, so its 514 position
    embeddings hold 512 tokens; the --max-length guard allowed 514 ("use --max-length 514 or less") and the first
    long batch crashed with "index 514 is out of bounds for dimension 1 with size 514"."""
    model = tiny_family(str(tmp_path / "model"), "xlm-roberta")
    data = tmp_path / "long.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label")] + [("the cat sat on the mat " * 120, "positive"),
                                                        ("the dog ran away " * 150, "negative")] * 2)
    capsys.readouterr()
    assert cli(["train", "--model", model, "--train", str(data), "--validation-fraction", "0", "--output",
                str(tmp_path / "run"), "--max-length", "514", "--batch-size", "2", *FAST]) == 2
    assert "--max-length 512 or less" in capsys.readouterr().err


def test_few_shot_on_a_causal_lm_says_it_is_not_a_sentence_encoder(tmp_path, llama_dir, capsys):
    """Before: "--few-shot: ... is a sentence-transformers model with another pooling than the mean" for a plain
    Llama, which has no sentence-transformers config (the library chose last-token pooling itself)."""
    assert cli(["train", "--model", llama_dir, "--train", _cls_csv(tmp_path / "cls.csv"), "--validation-fraction",
                "0", "--output", str(tmp_path / "fs"), "--few-shot", *FAST]) == 2
    err = capsys.readouterr().err
    assert "is not a sentence encoder" in err and "without --few-shot" in err, err
