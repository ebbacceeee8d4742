"""Review I: text beyond English (scripts without spaces, right-to-left, combining marks, emoji, NFD accents, BOMs),
run on tiny random models as a user would."""

from __future__ import annotations

import csv
import json

import pytest
from bpe_models import tiny_byte_level_model

from labeltune.cli import main as cli
from labeltune.errors import UserError

NFD = "Jose\u0301"  # "José" as macOS and some exports write it: "e" + a combining acute accent
TEXTS = ["राम दिल्ली में रहता है।", "สมชาย อาศัยอยู่ที่ กรุงเทพ", f"{NFD} visited Zu\u0308rich", "I love 🍕 so much",
         "a gripping , funny film", "a dull , boring movie"]
FAST = ["--epochs", "1", "--threads", "1", "--precision", "fp32", "--quiet"]


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory) -> str:
    """A tiny RoBERTa whose byte-level BPE learnt these scripts (GPT-2's pre-tokenizer cuts at combining marks)."""
    return tiny_byte_level_model(str(tmp_path_factory.mktemp("roberta")), "roberta", TEXTS)


def test_ner_words_keep_their_combining_marks(tiny_bert_dir, roberta_dir):
    """Raw-text NER words (and so predicted entities' text and end offsets) lost a final combining mark that the
    uncased BERT normalizer strips (NFD "José" -> "Jose", Hindi "में" -> "म"), and byte-level BPE cut words at
    every mark ("राम" -> र | ा | म), so entities and metrics were over word fragments."""
    from labeltune.models import load_tokenizer
    from labeltune.tasks.ner_windows import ensure_words

    text = f"राम में रहता है। ที่ {NFD} ok"
    for model in (tiny_bert_dir, roberta_dir):
        [ex] = [{"text": text, "_where": "x"}]
        ensure_words([ex], load_tokenizer(model))
        assert ex["tokens"] == ["राम", "में", "रहता", "है", "।", "ที่", NFD, "ok"], model
        assert [text[s:t] for s, t in ex["offsets"]] == ex["tokens"]


def test_qa_training_answer_ends_on_an_nfd_accent(tiny_bert_dir):
    """With an uncased BERT (the default MiniLM) an answer ending in an NFD accent ("José") was labelled for
    training as running on into the next word ("José est"): its last sub-word's offsets stop before the accent."""
    from labeltune.models import load_tokenizer
    from labeltune.tasks import get_task

    task = get_task("qa")
    opts = task.Options(doc_stride=16)
    context = f"Le café de {NFD} est ici"
    [ex] = task.as_examples([{"question": "Qui ?", "context": context}], opts)
    gold = {**ex, "answers": [{"text": NFD, "answer_start": context.index(NFD)}], "is_impossible": False}
    [feat] = task.encode([gold], load_tokenizer(tiny_bert_dir), {"version_2_with_negative": False}, opts, 64)
    start, end = feat["offsets"][feat["start_positions"]], feat["offsets"][feat["end_positions"]]
    assert context[start[0]:end[1]] == NFD


def test_explain_words_are_whole_words_in_scripts_with_combining_marks(tmp_path, roberta_dir):
    """Explanations of a byte-level BPE model (RoBERTa, GPT-2, Qwen2) listed Hindi, Thai and NFD words in pieces
    cut at each vowel sign or accent (र, ा, म for "राम"; "Jose" and a lone accent)."""
    import labeltune

    path = tmp_path / "cls.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label")] + [(t, "ab"[k % 2]) for k, t in enumerate(TEXTS * 2)])
    assert cli(["train", "--model", roberta_dir, "--train", str(path), "--validation-fraction", "0", "--output",
                str(tmp_path / "run"), *FAST]) == 0
    text = f"राम दिल्ली में रहता ที่ {NFD}"
    [row] = labeltune.load(str(tmp_path / "run")).explain([text], method="gxi")
    assert [w["text"] for w in row["words"]] == ["राम", "दिल्ली", "में", "रहता", "ที่", NFD]
    assert all(text[w["start"]:w["end"]] == w["text"] for w in row["words"])


def test_qa_answer_start_in_utf16_code_units_is_named_and_repaired(tmp_path):
    """Label Studio and other JavaScript tools count offsets in UTF-16 code units (an emoji counts 2). The error
    only said answer_start points elsewhere, and --repair-answers moved it to the nearest occurrence: after ten
    emoji that was the second "Paris", not the answer."""
    from labeltune.tasks import get_task

    context = "😀" * 10 + " Paris, Paris"  # the answer is the first Paris: character 11, UTF-16 unit 21
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "Where?", "context": context,
                                "answers": {"text": ["Paris"], "answer_start": [21]}}) + "\n", encoding="utf-8")
    task = get_task("qa")
    with pytest.raises(UserError, match="UTF-16 code units"):
        task.read(str(path), task.Options())
    [ex] = task.read(str(path), task.Options(repair_answers=True))
    assert ex["answers"][0]["answer_start"] == 11


def test_ner_span_offsets_in_utf16_code_units_are_refused(tmp_path):
    """Spans exported by a JavaScript tool count an emoji as 2: after four emoji the span of "Bob" fell exactly on
    "Tom", which was silently trained as the person. A span's own "text" is now checked, and the error says why."""
    from labeltune.tasks import get_task

    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps({"text": "😀😀😀😀 Bob Tom", "entities": [
        {"start": 9, "end": 12, "text": "Bob", "label": "PER"}]}) + "\n", encoding="utf-8")
    task = get_task("ner")
    with pytest.raises(UserError, match=r"holds 'Tom', not its text 'Bob'.*UTF-16 code units"):
        task.read(str(path), task.Options())


def test_bleu_of_chinese_and_thai_references_is_not_scored_on_spaces():
    """sacreBLEU's default tokenizer (13a) cuts words at spaces, so a Chinese or Thai sentence was one "word": a
    translation one character off scored BLEU 0 (a perfect one of under 4 characters too). References in scripts
    without spaces now get sacreBLEU's zh or char tokenizer (named in the signature); --bleu-tokenize chooses."""
    from labeltune.tasks import get_task
    from labeltune.tasks.translation_decode import translation_metrics

    opts = get_task("translation").Options()
    hyps, refs = ["今天天气很好。", "我喜欢吃苹果。"], ["今天天气不错。", "我喜欢吃香蕉。"]
    zh = translation_metrics(hyps, refs, opts)
    assert "tok:zh" in zh["bleu_signature"] and zh["bleu"] > 30
    th = translation_metrics(["สวัสดีชาวโลกครับ"], ["สวัสดีชาวโลกค่ะ"], opts)
    assert "tok:char" in th["bleu_signature"] and th["bleu"] > 30
    assert "tok:13a" in translation_metrics(["a good day"], ["a good day"], opts)["bleu_signature"]
    forced = get_task("translation").Options(bleu_tokenize="13a")
    assert translation_metrics(hyps, refs, forced)["bleu"] == 0


def test_conll_token_with_a_no_break_space_is_one_token(tmp_path):
    """A CoNLL token holding a no-break space (French "10 000", thin spaces in numbers) was cut there like a column
    separator: "3 column(s) but the first line has 2" about a line that has two. Columns are cut at tabs or ASCII
    spaces, as conlleval does."""
    from labeltune.tasks import get_task

    path = tmp_path / "train.conll"
    path.write_text("Paris B-LOC\n10\u00a0000 O\neuros O\n\nJean B-PER\n\n", encoding="utf-8")
    task = get_task("ner")
    first = task.read(str(path), task.Options())[0]
    assert first["tokens"] == ["Paris", "10\u00a0000", "euros"] and first["tags"] == ["B-LOC", "O", "O"]


def test_a_label_written_in_nfc_and_nfd_is_one_class(tmp_path, tiny_bert_dir):
    """"négatif" typed as one character é (NFC) in some rows and as e + a combining accent (NFD) in others looks the
    same everywhere, but made two classes "négatif" and "négatif" in config.json, without a word."""
    path = tmp_path / "train.csv"
    rows = [("bon film", "positif"), ("mauvais film", "négatif"), ("super", "positif"), ("nul", "ne\u0301gatif")]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label")] + rows * 2)
    out = tmp_path / "run"
    assert cli(["train", "--model", tiny_bert_dir, "--train", str(path), "--validation-fraction", "0",
                "--output", str(out), *FAST]) == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert sorted(config["id2label"].values()) == ["négatif", "positif"]


def test_ner_span_inside_chinese_text_says_how_to_give_words(tmp_path, roberta_dir):
    """Byte-level BPE reads a run of Chinese as one word, so every entity span in it "cuts the word" and the error
    ended at "spans must start and end on word boundaries", which the user's span (a whole Chinese word) does."""
    from labeltune.models import load_tokenizer
    from labeltune.tasks.ner_windows import ensure_words

    ex = {"text": "张三住在上海。", "spans": [(0, 2, "PER")], "_where": "train.jsonl, line 1"}
    with pytest.raises(UserError, match="give the words as 'tokens' and 'tags'.*word segmenter"):
        ensure_words([ex], load_tokenizer(roberta_dir))


def test_word_recognition_leaves_text_without_spaces_alone():
    """--word-recognition corrects a word one edit away from a training word; in Chinese a "word" between spaces is
    a whole phrase, so a new sentence one character away from a training one was rewritten into it: 我爱这部电视
    ("I love this TV") became 我爱这部电影 ("I love this film") before the model read it."""
    from labeltune.robustness.wordfix import WordFixer

    fixer = WordFixer({"我爱这部电影": 3, "สนุกมาก": 3, "gripping": 3}, "data")
    assert fixer.correct("我爱这部电视") is None and fixer.correct("สนุกมกา") is None
    assert fixer.correct("griping") == "gripping"  # a typo of a spaced language is still fixed


def test_a_mecab_bleu_tokenizer_without_mecab_is_refused_before_training():
    """--bleu-tokenize ja-mecab needs MeCab (sacrebleu[ja]); without it sacreBLEU raised only when the finished
    run scored its test set, after the whole training."""
    import importlib.util

    from labeltune.tasks import get_task

    if importlib.util.find_spec("MeCab"):
        pytest.skip("MeCab is installed here")
    with pytest.raises(UserError, match=r"--bleu-tokenize .*ja-mecab needs MeCab: pip install 'sacrebleu\[ja\]'"):
        get_task("translation").Options(bleu_tokenize="ja-mecab")


def test_perturbations_edit_chinese_by_the_character_and_hindi_in_its_script():
    """robustness cut words at spaces only, so a Chinese sentence was one "word": word_drop at any severity deleted
    all of it but its punctuation, word_repeat doubled it. char_insert put Latin letters into Hindi or Chinese words.
    Each ideograph is a word now, and an inserted letter is of the word's own script."""
    from labeltune.robustness.perturb import PERTURBATIONS, Editor, example_rng, random_plan

    text = "我爱这部电影，演员很好。"
    new, _ = Editor(random_plan(PERTURBATIONS["word_drop"], 0.1)).text(text, example_rng(0, "drop"))
    assert len(new) == len(text) - 1 and all(c in text for c in new)  # one character gone, the rest in order
    for seed in range(5):
        new, _ = Editor(random_plan(PERTURBATIONS["char_insert"], 1.0)).text("राम दिल्ली", example_rng(seed, "ins"))
        assert not any("a" <= c.lower() <= "z" for c in new) and len(new) == len("राम दिल्ली") + 2
    new, _ = Editor(random_plan(PERTURBATIONS["char_insert"], 1.0)).text("a café", example_rng(0, "ins"))
    assert len(new) == len("a café") + 2  # Latin words still get a-z
