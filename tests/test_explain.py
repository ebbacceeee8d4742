"""labeltune explain: attributions find what tiny models were trained to use, IG is complete, runs repeat,
faithfulness beats random, the page renders in a real browser, bad input is refused, and one real-model run."""

from __future__ import annotations

import csv
import json
import os
import random

import numpy as np
import pytest

import labeltune
from labeltune.cli import main as cli
from labeltune.explain import explain, explain_options
from labeltune.errors import UserError

FILL = ("the a film movie story actor plot scene music night city river house garden table window letter "
        "morning").split()
SETTINGS = dict(batch_size=8, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True, eval_every=1000)


def _csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _zebra_rows(n: int, seed: int) -> list[dict]:
    """'contains zebra -> positive'; sentence lengths overlap between classes, so only the keyword tells them apart."""
    r, out = random.Random(seed), []
    for i in range(n):
        words = r.sample(FILL, r.randint(3, 8))
        if i % 2 == 0:
            words[r.randrange(len(words))] = "zebra"
        out.append({"text": " ".join(words), "label": "positive" if i % 2 == 0 else "negative"})
    return out


@pytest.fixture(scope="module")
def zebra_model(tmp_path_factory, tiny_bert_dir) -> str:
    d = tmp_path_factory.mktemp("zebra")
    train = _csv(d / "train.csv", _zebra_rows(200, 0))
    # 2 epochs: validation accuracy 1.0 at p(positive) ~0.74. Trained to saturation (4 epochs, p ~0.99) the
    # gradient at the input is ~1e-7 and gradient x input put the keyword first in only 2 of 5 inputs, while
    # IG and occlusion still did in all (measured): gradients are local, the other two are not.
    labeltune.train(task="classification", model=tiny_bert_dir, train=train, validation=train,
                    output=str(d / "model"), epochs=2, lr=3e-3, **SETTINGS)
    return str(d / "model")


def _top(row, target=0, method="ig") -> str:
    scores = row["targets"][target]["attributions"][method]
    return row["words"][int(np.argmax(scores))]["text"]


POSITIVES = ["the film zebra story night", "zebra movie story actor plot", "music night city zebra river house",
             "garden zebra table", "letter morning window zebra"]


def test_keyword_gets_the_top_attribution_for_every_method(zebra_model):
    rows = labeltune.load(zebra_model, precision="fp32").explain(POSITIVES, method="all")
    for row in rows:
        assert row["prediction"]["label"] == "positive"
        target = row["targets"][0]
        assert target["name"] == "positive"
        for method in ("ig", "gxi", "occlusion"):
            assert _top(row, 0, method) == "zebra", (row["words"], method, target["attributions"][method])
        assert target["completeness_error"] < 0.05
        # character offsets point at the word in the input text
        text = POSITIVES[rows.index(row)]
        assert all(text[w["start"]:w["end"]] == w["text"] for w in row["words"])


def test_bf16_on_cpu(zebra_model):
    rows = labeltune.load(zebra_model, precision="bf16").explain(POSITIVES[:2], method="ig")
    assert all(_top(r) == "zebra" and r["targets"][0]["completeness_error"] < 0.05 for r in rows)


def test_same_attributions_across_runs_and_faithfulness_beats_random(zebra_model):
    p = labeltune.load(zebra_model, precision="fp32")
    a = p.explain(POSITIVES, method="all", faithfulness=True, seed=3)
    b = p.explain(POSITIVES, method="all", faithfulness=True, seed=3)
    assert a == b
    comp = {m: np.mean([r["faithfulness"][m]["comprehensiveness"] for r in a]) for m in ("ig", "random")}
    assert comp["ig"] > comp["random"] + 0.05, comp  # removing the keyword first costs more than a random word


def test_target_label_and_bad_inputs(zebra_model, capsys):
    p = labeltune.load(zebra_model, precision="fp32")
    row = p.explain("the film zebra story", target="negative")[0]
    scores = row["targets"][0]["attributions"]["ig"]
    assert row["targets"][0]["name"] == "negative"
    assert row["words"][int(np.argmin(scores))]["text"] == "zebra" and min(scores) < 0  # zebra argues against it
    with pytest.raises(UserError, match="--target neutral: not a label of this model"):
        p.explain(["a film"], target="neutral")
    with pytest.raises(UserError, match="input 0: empty text in column 'text'; remove the row or fill in the text"):
        p.explain(["  "])
    # non-blank, yet nothing the model reads: refused as the task reads it (was explain's own "no word of this text
    # is read by the model's tokenizer", while predict answered a guess)
    with pytest.raises(UserError, match=r"input 1: text of invisible characters only \(U\+200B\)"):
        p.explain(["a film", "\u200b\u200b"])
    with pytest.raises(UserError, match="--method"):
        p.explain(["a film"], method="shap")
    with pytest.raises(UserError, match="unknown option.*n_step"):
        p.explain(["a film"], n_step=8)
    p.backend = "onnx"  # as labeltune.load gives for a `labeltune export` directory
    with pytest.raises(UserError, match="ONNX export .* explain the directory it was exported from"):
        p.explain(["a film"])
    p.backend = "torch"
    # longer than the model's 512: cut where predict cuts it; every word is listed, the cut ones marked outside
    long_text = " ".join(["film"] * 600 + ["zebra"])
    row = p.explain([long_text], method="gxi")[0]
    assert "more than the model's limit; explaining the first 512" in capsys.readouterr().err
    assert len(row["words"]) == 601 and row["outside_window"] == 91  # [CLS] and [SEP] take two of the 512
    scores = row["targets"][0]["attributions"]["gxi"]
    assert all(s is not None for s in scores[:510]) and scores[510:] == [None] * 91
    assert [w.get("outside", False) for w in row["words"]] == [False] * 510 + [True] * 91
    assert row["words"][-1] == {"text": "zebra", "start": len(long_text) - 5, "end": len(long_text), "part": "text",
                                "outside": True}
    assert row["prediction"] == p.predict([long_text])[0]  # the prediction explained is predict's


def test_multi_label_explains_each_active_label(tmp_path, tiny_bert_dir):
    """'zebra' -> striped, 'piano' -> keys (either, both or neither: plain): one target per predicted label, each
    driven by its own keyword."""
    r, rows = random.Random(4), []
    for i in range(240):
        words = r.sample(FILL, r.randint(3, 7))
        labels = []
        for keyword, label in (("zebra", "striped"), ("piano", "keys")):
            if r.random() < 0.5:
                words.insert(r.randrange(len(words) + 1), keyword)
                labels.append(label)
        rows.append({"text": " ".join(words), "label": "|".join(labels) or "plain"})
    train = _csv(tmp_path / "multi.csv", rows)
    out = str(tmp_path / "multi")
    labeltune.train(task="classification", model=tiny_bert_dir, train=train, validation=train, output=out,
                    multi_label=True, label_delimiter="|", epochs=10, lr=3e-3, **SETTINGS)
    # 4 epochs (validation micro-F1 0.86) left the model crediting zebra for 'keys' too (measured): not a
    # test of the explanation but of the model, hence 10
    p = labeltune.load(out, precision="fp32")
    texts = ["the film zebra piano story", "piano night city zebra", "garden table music"]
    rows = p.explain(texts, method="all")
    both = {"striped": "zebra", "keys": "piano"}
    for row in rows[:2]:
        assert sorted(row["prediction"]["labels"]) == ["keys", "striped"]
        assert sorted(t["name"] for t in row["targets"]) == ["keys", "striped"]
        for t in row["targets"]:
            for method in ("ig", "occlusion"):
                scores = t["attributions"][method]
                assert row["words"][int(np.argmax(scores))]["text"] == both[t["name"]], (t["name"], method, scores)
            assert t["completeness_error"] < 0.05
    assert [t["name"] for t in rows[2]["targets"]] == ["plain"]
    row = p.explain(texts[:1], target="plain")[0]
    assert [t["name"] for t in row["targets"]] == ["plain"]


def test_ner_trigger_word(tmp_path, tiny_bert_dir):
    """A word is a PER entity exactly when 'doctor' comes before it: 'doctor' drives the entity's label."""
    r, rows = random.Random(1), []
    for i in range(120):
        words = r.sample(FILL, 6)
        tags = ["O"] * 6
        if i % 2 == 0:
            k = r.randrange(1, 6)
            words[k - 1] = "doctor"
            tags[k] = "B-PER"
        rows.append({"tokens": words, "tags": tags})
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = str(tmp_path / "ner")
    labeltune.train(task="ner", model=tiny_bert_dir, train=str(train), validation=str(train), output=out,
                    epochs=20, lr=5e-3, **SETTINGS)
    p = labeltune.load(out, precision="fp32")
    inputs = [["the", "doctor", "river", "night"], ["music", "city", "doctor", "garden", "table"],
              ["window", "letter", "morning", "doctor", "house"]]
    rows = p.explain(inputs, method="all")
    for row, words in zip(rows, inputs):
        entity = words[words.index("doctor") + 1]
        assert [t["name"] for t in row["targets"]] == [f"PER: {entity}"]
        # gradient x input is not asserted: it put 'doctor' first for 1 of these 3 entities at 20 epochs and 3 of 5
        # at 14 (measured), where IG and occlusion always did. A gradient is local; the report says so.
        for method in ("ig", "occlusion"):
            assert _top(row, 0, method) == "doctor", (method, row["targets"][0]["attributions"][method])
        assert row["targets"][0]["completeness_error"] < 0.05
    with pytest.raises(UserError, match=r"--target LOC: not an entity type of this model \(types: PER\)"):
        p.explain([inputs[0]], target="LOC")
    with pytest.raises(UserError, match="input 1: empty text; remove the input or fill in the text"):
        p.explain(["the doctor river", " "])

    # a limit of 8 sub-words (6 words here): predict reads 13 words in overlapping windows (stride 2), and
    # each entity is explained in the window it was read from; words outside that window get null
    p.rt.max_length, p.rt.opts.stride = 8, 2
    words = ["the", "doctor", "river", "night", "music", "city", "garden", "table", "window", "letter", "doctor",
             "house", "morning"]
    row = p.explain([words], method="all", faithfulness=True)[0]
    assert row["info"]["windows"] > 1 and [w["text"] for w in row["words"]] == words  # every word, in order
    assert [t["name"] for t in row["targets"]] == ["PER: river", "PER: house"]
    assert row["targets"][0]["window"] < row["targets"][1]["window"]
    for target, trigger in zip(row["targets"], (1, 10)):
        for method in ("ig", "occlusion"):
            scores = target["attributions"][method]
            seen = [k for k, s in enumerate(scores) if s is not None]
            assert len(seen) <= 6 and trigger in seen and trigger + 1 in seen  # a window holds 6 words at most
            assert max(seen, key=lambda k: scores[k]) == trigger, (method, scores)  # its own 'doctor'
        assert target["completeness_error"] < 0.05
    assert set(row["faithfulness"]) == {"ig", "gxi", "occlusion", "random"}
    # the entity explained in the first window cannot see the second 'doctor', and the other way round
    assert row["targets"][0]["attributions"]["ig"][10] is None and row["targets"][1]["attributions"]["ig"][1] is None


def _qa_rows(n: int, seed: int) -> list[dict]:
    """Four filler sentences; one holds 'zebra', and the answer is the word after it."""
    r, rows = random.Random(seed), []
    for i in range(n):
        sents = [r.sample(FILL, r.randint(3, 5)) for _ in range(4)]
        k, j = r.randrange(4), 0
        j = r.randrange(len(sents[k]) - 1)
        sents[k][j] = "zebra"
        before = " ".join(" ".join(s) + " ." for s in sents[:k])
        at = len(before) + (1 if k else 0) + len(" ".join(sents[k][: j + 1])) + 1
        rows.append({"id": str(i), "question": "which word follows zebra ?",
                     "context": " ".join(" ".join(s) + " ." for s in sents),
                     "answers": {"text": [sents[k][j + 1]], "answer_start": [at]}})
    return rows


def test_qa_answer_sentence(tmp_path, tiny_bert_dir):
    """The words of the sentence that holds the answer drive the answer's start and end."""
    rows = _qa_rows(200, 2)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = str(tmp_path / "qa")
    labeltune.train(task="qa", model=tiny_bert_dir, train=str(train), validation=str(train), output=out,
                    epochs=10, lr=3e-3, max_length=64, doc_stride=16, **SETTINGS)  # exact match 62% (measured)
    p = labeltune.load(out, precision="fp32")
    inputs = [{"question": e["question"], "context": e["context"]} for e in rows[:40]]
    right = [e for e, pred in zip(rows[:40], p.predict(inputs)) if pred["answer"] == e["answers"]["text"][0]][:4]
    assert len(right) == 4  # only answers the model got right are explained: a wrong one has no "answer sentence"
    explained = p.explain([{"question": e["question"], "context": e["context"]} for e in right], method="all")
    hits = {(m, t): 0 for m in ("ig", "occlusion") for t in range(2)}
    for e, row in zip(right, explained):
        assert row["info"]["answer"] == e["answers"]["text"][0]
        start = e["answers"]["answer_start"][0]
        context_words = [i for i, w in enumerate(row["words"]) if w["part"] == "context"]
        assert {row["words"][i]["text"] for i in context_words} <= set(e["context"].split())
        sentence = [e["context"].count(".", 0, row["words"][i]["start"]) for i in context_words]
        answer_sentence = e["context"].count(".", 0, start)
        for t in range(2):
            for method in ("ig", "occlusion"):
                scores = row["targets"][t]["attributions"][method]
                totals = np.zeros(4)  # summed attribution per context sentence (its closing '.' included)
                for i, k in zip(context_words, sentence):
                    totals[min(k - (row["words"][i]["text"] == "."), 3)] += scores[i]
                hits[method, t] += int(np.argmax(totals)) == answer_sentence
    # a weak model (exact match 62%): the answer sentence had the largest total for IG in 4/4 (start) and 3/4
    # (end) inputs, for occlusion in 3/4 and 3/4 (measured); a wrong sentence would win 1 in 4 by chance
    assert all(n >= 3 for n in hits.values()), hits
    with pytest.raises(UserError, match=r"input 0 \(id input 0\): empty question; fill it in or remove the row"):
        p.explain([{"question": " ", "context": "a film"}])
    with pytest.raises(UserError, match="--target applies to classification .* not to QA"):
        p.explain(inputs[:1], target="start")
    # a context longer than one window: the window explained is the one that holds the predicted answer
    long = {"question": right[0]["question"], "context": "the film is long . " * 20 + right[0]["context"]}
    row = p.explain([long], method="occlusion")[0]
    pred = row["prediction"]
    assert row["info"]["windows"] > 1 and pred["answer"] and pred == p.predict([long])[0]
    assert any(w["part"] == "context" and w["start"] == pred["start"] for w in row["words"])
    # every context word is listed; those outside the explained window are marked, with null attributions
    context = [w for w in row["words"] if w["part"] == "context"]
    assert [w["text"] for w in context] == long["context"].split()
    assert all(long["context"][w["start"]:w["end"]] == w["text"] for w in row["words"] if w["part"] == "context")
    outside = [w.get("outside", False) for w in row["words"]]
    assert 0 < sum(outside) == row["outside_window"] < len(context)
    for t in row["targets"]:
        assert [s is None for s in t["attributions"]["occlusion"]] == outside
        answer = [k for k, w in enumerate(row["words"]) if w["part"] == "context" and w["start"] == pred["start"]]
        assert t["attributions"]["occlusion"][answer[0]] is not None


def test_cli_writes_attributions_page_and_global_view(tmp_path, zebra_model):
    from browser import open_page

    rows = _zebra_rows(24, 7)
    data = _csv(tmp_path / "in.csv", rows)
    out = tmp_path / "explained"
    assert cli(["explain", "--model", zebra_model, "--input", data, "--output", str(out), "--method", "all",
                "--faithfulness", "--min-count", "2", "--threads", "1"]) == 0
    written = [json.loads(line) for line in open(out / "attributions.jsonl")]
    assert len(written) == 24
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["faithfulness"]["table"]) == {"ig", "gxi", "occlusion", "random"}
    assert summary["global_view"]["ig"]["positive"][0]["word"] == "zebra"  # the shortcut shows globally
    for m in ("ig", "gxi", "occlusion"):
        assert (out / f"global_{m}.png").stat().st_size > 1000
    n_words = sum(len(r["words"]) for r in written)
    with open_page(str(out / "explain.html"), "explain_classification") as (page, problems):
        assert page.locator(".tok").count() == n_words
        first = page.locator(".example").first
        titles = lambda: first.locator(".tok").evaluate_all("es => es.map(e => e.title)")  # noqa: E731
        before = titles()
        first.locator("select.method").select_option("occlusion")  # the selector recolours from the JSON
        expected = [f"{s:.4f}" for s in written[0]["targets"][0]["attributions"]["occlusion"]]
        assert titles() == expected and expected != before
        assert page.locator("img").count() == 3
    # bad input: a CLI error in one line, exit status 2
    assert cli(["explain", "--model", zebra_model, "--input", data, "--output", str(out), "--target", "x"]) == 2
    empty = _csv(tmp_path / "empty.csv", [{"text": "", "label": "positive"}])
    assert cli(["explain", "--model", zebra_model, "--input", empty, "--output", str(out)]) == 2


def test_ner_windows_cover_every_subword(minilm_dir):
    """Each window's words own exactly its content sub-words (a word cut at a window's start included), and a
    word outside a window is in its probe's outside list: no sub-word is left unerasable, no word unlisted."""
    from transformers import AutoTokenizer

    from labeltune.explain.targets import _ner_window, _special_counts
    from labeltune.tasks.ner_windows import encode_windows

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    tokens = "the unbelievably antidisestablishmentarian zebrafish photosynthesized quietly overnight".split()
    offsets, at = [], 0
    for t in tokens:
        offsets.append((at, at + len(t)))
        at += len(t) + 1
    example = {"tokens": tokens, "_where": "test"}
    features = encode_windows([example], tok, 10, 3)
    assert len(features) > 2
    lead, trail = _special_counts(tok)
    assert (lead, trail) == (1, 1)
    fragments = 0
    for f in features:
        feature, first, _ = _ner_window(f, tok, tokens, offsets)
        owned = sorted(p for w in feature["words"] for p in w.positions)
        assert owned == list(range(lead, len(f["input_ids"]) - trail))  # every content sub-word, once
        for w in feature["words"]:
            k = tokens.index(w.text)
            assert (w.start, w.end) == offsets[k]
            pieces = tok.convert_ids_to_tokens([f["input_ids"][p] for p in w.positions])
            assert "".join(x.removeprefix("##") for x in pieces) in w.text
            fragments += k not in first  # begun in the window before
    assert fragments > 0  # the case this test is for did occur


PAIRS = [("el gato duerme", "the cat sleeps"), ("el perro corre", "the dog runs"), ("yo como pan", "i eat bread"),
         ("bebemos agua", "we drink water"), ("buenos dias", "good morning"), ("muchas gracias", "thank you very much")]


def test_translation_alignment_matrix_and_page(tmp_path, tiny_bert_dir):
    """BERT2BERT from the tiny BERT, overfit on six pairs: one row of source-word attributions per output token."""
    from browser import open_page

    train = _csv(tmp_path / "pairs.csv", [{"source": s, "target": t} for s, t in PAIRS], ("source", "target"))
    out = str(tmp_path / "mt")
    labeltune.train(task="translation", model=tiny_bert_dir, train=train, validation=train, output=out, epochs=60,
                    lr=1e-2, num_beams=1, threads=1, **{**SETTINGS, "batch_size": 4})
    inputs = tmp_path / "sources.txt"
    inputs.write_text("el gato duerme\nmuchas gracias\n")
    assert cli(["explain", "--model", out, "--input", str(inputs), "--output", str(tmp_path / "x"),
                "--method", "all", "--faithfulness"]) == 0
    rows = [json.loads(line) for line in open(tmp_path / "x" / "attributions.jsonl")]
    for row, source in zip(rows, ["el gato duerme", "muchas gracias"]):
        assert [w["text"] for w in row["words"]] == source.split()
        translation = row["info"]["translation"]
        assert translation == dict(PAIRS)[source]  # overfit: the training translation
        tokens = row["info"]["target_tokens"]
        assert tokens[-1] == "[SEP]" and len(row["targets"]) == len(tokens)  # one row per output token, EOS too
        matrix = np.array([t["attributions"]["ig"] for t in row["targets"]])
        assert matrix.shape == (len(tokens), len(source.split()))
        assert np.allclose(matrix.sum(0), row["word_totals"]["ig"], atol=1e-4)
        assert max(t["completeness_error"] for t in row["targets"]) < 0.05
        assert set(row["faithfulness"]) == {"ig", "gxi", "occlusion", "random"}
    with open_page(str(tmp_path / "x" / "explain.html"), "explain_translation") as (page, problems):
        assert page.locator(".tok").count() == 5
        cells = sum(len(r["targets"]) * len(r["words"]) for r in rows)
        assert page.locator(".heat td").count() == cells
        first = page.locator(".example").first
        first.locator("select.target").select_option(str(len(rows[0]["targets"])))  # the per-source-word totals
        titles = first.locator(".tok").evaluate_all("es => es.map(e => e.title)")
        assert titles == [f"{s:.4f}" for s in rows[0]["word_totals"]["ig"]]

    # a source longer than the limit is cut as predict cuts it (4 tokens: [CLS], 2 of the source's, [SEP]);
    # the words after the cut are listed, marked outside, with null attributions; the page greys them out
    from labeltune.explain.page import write_explain_page

    p = labeltune.load(out, precision="fp32")
    with pytest.raises(UserError, match="input 0: empty source; remove the row or fill it in"):
        p.explain([" "])
    with pytest.raises(UserError, match="--target applies to classification .* not to translation"):
        p.explain(["el gato duerme"], target="the")
    p.rt.max_length = 4
    long, summary = explain(p, p.task.as_examples(["el gato duerme"], p.opts), explain_options(method="occlusion"))
    row = long[0]
    assert [w["text"] for w in row["words"]] == ["el", "gato", "duerme"] and row["words"][2]["outside"]
    assert row["prediction"] == p.predict(["el gato duerme"])[0]
    assert all(t["attributions"]["occlusion"][2] is None and t["attributions"]["occlusion"][0] is not None
               for t in row["targets"])
    assert row["word_totals"]["occlusion"][2] is None and summary["inputs_with_words_outside_the_window"] == 1
    write_explain_page(str(tmp_path / "cut.html"), long, summary, {}, out)
    with open_page(str(tmp_path / "cut.html"), "explain_translation_cut") as (page, problems):
        assert page.locator(".tok").count() == 3 and page.locator(".tok.out").count() == 1
        assert page.locator(".heat thead th").count() == 1 + 2  # the matrix: source words inside the window
        box = page.locator(".example").first
        box.locator("select.target").select_option("1")
        assert box.locator(".tok.out").get_attribute("title") == "outside this target's window"


@pytest.mark.e2e
def test_e2e_rotten_tomatoes_ig_faithful_and_complete(tmp_path, rt_csv):
    """MiniLM fine-tuned 1 epoch on 900 real Rotten Tomatoes sentences; 20 held-out sentences explained.

    Measured (benchmarks/explain_faithfulness.py, same settings, 40 held-out sentences): comprehensiveness AOPC
    IG 0.209, occlusion 0.205, gradient x input 0.039, random 0.045; IG completeness error mean 1.3%, none over 5%.
    Floor: IG beats random by 0.08 (the measured margin was 0.16).
    """
    from labeltune.data.readers import read_table

    out = str(tmp_path / "rt")
    labeltune.train(task="classification", train=rt_csv, output=out, validation_fraction=0.1, epochs=1, lr=1e-4,
                    batch_size=16, max_length=64, quiet=True, seed=0)
    with open(os.path.join(out, "split.json")) as f:
        held = set(json.load(f)["validation"])
    table = read_table(rt_csv)
    texts = [row["text"] for i, row in enumerate(table.rows) if table.where(i) in held][:20]
    p = labeltune.load(out, precision="fp32")
    rows = p.explain(texts, method="ig", faithfulness=True, seed=0)
    errors = [r["targets"][0]["completeness_error"] for r in rows]
    assert max(errors) < 0.05, errors
    comp = {m: np.mean([r["faithfulness"][m]["comprehensiveness"] for r in rows]) for m in ("ig", "random")}
    print(comp, np.mean(errors))
    assert comp["ig"] >= comp["random"] + 0.08, comp


def test_aopc_on_a_hand_made_model():
    """p = 0.9 when token 5 is present, else 0.1: ERASER's numbers follow by hand."""
    import torch

    from labeltune.explain.attribution import occlusion
    from labeltune.explain.faithfulness import aopc, rationale_sizes
    from labeltune.explain.probe import Probe, Word

    def forward(ids):
        return torch.log(0.1 + 0.8 * (ids == 5).any(1, keepdim=True).float())

    words = [Word(str(i), 2 * k, 2 * k + 1, "text", [k + 1]) for k, i in enumerate((5, 6, 7, 8))]
    probe = Probe(torch.tensor([[101, 5, 6, 7, 8, 102]]), words, forward, [{"name": "t", "group": "t"}], 0)
    assert rationale_sizes(4) == [1, 1, 1, 1, 2] and rationale_sizes(200) == [2, 10, 20, 40, 100]
    comp, suff = aopc(probe, np.array([[4.0, 3.0, 2.0, 1.0]]))  # token 5 ranked first
    assert comp[0] == pytest.approx(0.8) and suff[0] == pytest.approx(0.0, abs=1e-6)
    comp, suff = aopc(probe, np.array([[1.0, 3.0, 2.0, 4.0]]))  # ranked last: never in a rationale of <= 2 words
    assert comp[0] == pytest.approx(0.0, abs=1e-6) and suff[0] == pytest.approx(0.8)
    occ = occlusion(probe)
    assert occ.scores[0] == pytest.approx([np.log(0.9) - np.log(0.1), 0, 0, 0], abs=1e-5)


def test_complete_words_extends_cut_words_and_lists_the_rest():
    """A window word cut at the window's edge takes its whole word's span; words in no window are outside."""
    from labeltune.explain.probe import Word, complete_words

    full = [Word("the", 0, 3, "text", []), Word("zebrafish", 4, 13, "text", []), Word("swims", 14, 19, "text", []),
            Word("why", 0, 3, "question", [])]
    window = [Word("why", 0, 3, "question", [1]), Word("the", 0, 3, "text", [3]), Word("zebra", 4, 9, "text", [4, 5])]
    kept, outside = complete_words(window, full)
    assert [(w.text, w.start, w.end, w.part, w.positions) for w in kept] == [
        ("why", 0, 3, "question", [1]), ("the", 0, 3, "text", [3]), ("zebrafish", 4, 13, "text", [4, 5])]
    assert [(w.text, w.positions) for w in outside] == [("swims", [])]
