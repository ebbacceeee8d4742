"""Review J: today's changes for text beyond English (combining marks, CJK, NFC labels, span texts), run on tiny
models as a user would."""

from __future__ import annotations


def _chinese_bpe():
    """A byte-level BPE whose merges cross character boundaries, as GPT-2's, RoBERTa's and Qwen2's do in Chinese:
    "他住在北京" is 他 | 住 | 在's first bytes (2, 3) | 在's last byte + 北京 (2, 5)."""
    from bpe_models import byte_level_bpe
    from transformers import RobertaTokenizerFast

    texts = ["北京是中国的首都。", "上海是中国最大的城市。", "东京是日本的首都。", "中国的首都是北京。", "他住在北京和上海。"]
    return RobertaTokenizerFast(tokenizer_object=byte_level_bpe(texts, vocab_size=300), bos_token="<s>",
                                eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                                pad_token="<pad>", mask_token="<mask>")


def test_qa_answer_may_end_on_a_byte_piece_of_a_chinese_character():
    """QA dropped every sub-word whose span is a strict prefix of the next one's (meant for XLM-R's bare "▁"),
    and so also byte-level BPE's piece of a character's first bytes: an answer "他住在" was trained (and could
    only be predicted) as "他住在北京"."""
    from labeltune.tasks import get_task

    tok = _chinese_bpe()
    context, answer = "他住在北京。", "他住在"
    enc = tok(context, add_special_tokens=False, return_offsets_mapping=True)
    assert [tuple(o) for o in enc["offset_mapping"]][2:4] == [(2, 3), (2, 5)]  # the tokenizer does cut 在 so
    task = get_task("qa")
    opts = task.Options(doc_stride=16)
    [ex] = task.as_examples([{"question": "谁?", "context": context}], opts)
    gold = {**ex, "answers": [{"text": answer, "answer_start": 0}], "is_impossible": False}
    [feat] = task.encode([gold], tok, {"version_2_with_negative": False}, opts, 64)
    start, end = feat["offsets"][feat["start_positions"]], feat["offsets"][feat["end_positions"]]
    assert context[start[0]:end[1]] == answer


def test_classification_model_trained_before_nfc_labels_still_evaluates(tmp_path, tiny_bert_dir):
    """Label names became NFC today, also when evaluate and predict read gold labels; a model trained before,
    on data with an NFD name ("ne\\u0301gatif", as macOS writes it), keeps that name in labeltune.json, so
    evaluating it on its own data said "label 'négatif' does not occur in the training data (known: négatif,
    positif)" and predict on that file crashed with a KeyError."""
    import csv
    import json

    import labeltune
    from labeltune.cli import main as cli

    nfd = "ne\u0301gatif"
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label")] + [(t, nfd if k % 2 else "positif") for k, t in enumerate(
            ["a gripping , funny film", "a dull , boring movie", "I loved it", "awful stuff"] * 2)])
    run = tmp_path / "run"
    assert cli(["train", "--model", tiny_bert_dir, "--train", str(data), "--validation-fraction", "0", "--output",
                str(run), "--epochs", "1", "--threads", "1", "--precision", "fp32", "--quiet"]) == 0
    meta = json.loads((run / "labeltune.json").read_text(encoding="utf-8"))  # as the version before wrote it
    meta["setup"]["labels"] = [nfd if n == "négatif" else n for n in meta["setup"]["labels"]]
    (run / "labeltune.json").write_text(json.dumps(meta), encoding="utf-8")
    model = labeltune.load(str(run))
    assert model.evaluate(str(data))["n"] == 8
    assert {p["label"] for p in model.predict(["a gripping film", "awful"])} <= {"négatif", "positif"}


def test_ner_span_text_in_another_unicode_form_or_with_spaces_is_accepted(tmp_path):
    """A span object's own "text" is now checked against its offsets. A text that differs only in Unicode's form
    (NFD "José" in the text, NFC in the span's "text") or by the spaces around it was refused, and the error
    read "[0, 5) holds 'José', not its text 'José'": the offsets were right."""
    import json

    from labeltune.tasks import get_task

    text = "Jose\u0301 lives in Paris ."
    spans = [{"start": 0, "end": 5, "label": "PER", "text": "José"},
             {"start": 15, "end": 21, "label": "LOC", "text": "Paris"}]  # the selection took the space after it
    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps({"text": text, "entities": spans}, ensure_ascii=False) + "\n", encoding="utf-8")
    task = get_task("ner")
    [ex] = task.read(str(path), task.Options())
    assert [text[s:e] for s, e, _ in ex["spans"]] == ["Jose\u0301", "Paris "]


def test_qa_answer_never_starts_on_a_combining_mark(tiny_bert_dir):
    """BERT's WordPiece (the default MiniLM) writes "राम" as "रा" + "##ा" + "##म" and gives "##ा" the vowel sign
    alone ((1, 2)): a best start there gave the answer "ाम", a word without its first letter."""
    import numpy as np

    from labeltune.models import load_tokenizer
    from labeltune.tasks import get_task
    from labeltune.tasks.qa_spans import best_span

    task = get_task("qa")
    opts = task.Options(doc_stride=16)
    tok = load_tokenizer(tiny_bert_dir)
    context = "राम दिल्ली में रहता है"
    [ex] = task.as_examples([{"question": "कौन?", "context": context}], opts)
    [feat] = task.encode([ex], tok, {"version_2_with_negative": False}, opts, 64)
    enc = tok("कौन?", context, return_offsets_mapping=True)
    ctx = [i for i, s in enumerate(enc.sequence_ids()) if s == 1]
    mark = next(i for i in ctx if tuple(enc["offset_mapping"][i]) == (1, 2))  # "##ा" (the tokenizer does cut it so)
    start, end = np.zeros(len(feat["input_ids"])), np.zeros(len(feat["input_ids"]))
    start[mark], end[mark + 1] = 10.0, 10.0  # the model's best span: "##ा" to "##म"
    assert best_span(context, [(feat, (start, end))], opts)["text"] == "राम"
