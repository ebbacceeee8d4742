"""Parallel English-Spanish Bible text, read offline through SWORD's ``diatheke``.

Sources (both public domain, Debian packages ``sword-text-web``, ``sword-text-sparv``
and ``diatheke``): the World English Bible (module ``engWEB2015eb``) and the
Reina-Valera 1909 (``spaRV1909eb``). Both use KJV versification, so verses align
by their ``Book C:V`` reference; 31,102 verses in the 66-book canon.

What ``diatheke -f plain`` really prints, and how it is parsed:

* one verse starts with ``Book C:V: text`` (indented by two spaces from Psalms on);
  poetry continues on the following lines until a blank line;
* non-blank lines after a blank line and before the next verse are headings
  (WEB psalm titles, re-printed before *every* verse, often stale; from the
  Additional Psalm to Revelation with no blank line, so a known heading text right
  before a verse line is dropped too).
  RV1909 keeps psalm titles inside verse 1, so Psalm x:1 pairs are not exact;
* RV1909 carries Strong's numbers (``<G5547>``, ``<H3068>``); the WEB's
  deuterocanonical books come out with raw OSIS markup and junk headings, and a
  glossary follows Revelation 22:21. Tags are stripped, the glossary (after a blank
  line) is dropped, and the builders only use the 66 books of ``CANON``;
* about 90 WEB verses lack a space after a comma where a footnote was cut
  ("conceived,and"): restored. About 30 words come out run together
  ("Godcreated" in Genesis 1:1, "Christthrough"): left as is.

Book split (``split="book"``): whole books are held out, so validation/test measure
transfer to unseen books rather than memorised neighbouring verses. Each held-out
set mixes narrative, poetry, prophecy, gospel and epistle; the narrative books
(Joshua, Judges, Ruth, Esther) also give the QA templates (genealogies, dialogue)
something to match:

* validation: ``VALID_BOOKS`` (Joshua, Ruth, Ecclesiastes, Jonah, Mark, Galatians,
  James): 1,947 parallel verses
* test: ``TEST_BOOKS`` (Judges, Esther, Lamentations, Joel, John, Ephesians, I Peter):
  2,151 parallel verses
* train: the other 52 books.

The same book split is used by ``ner_silver`` and ``qa_bible``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

from ..files import atomic_write_text, write_jsonl

WEB = "engWEB2015eb"
RV1909 = "spaRV1909eb"
KEY_RANGE = "Gen 1:1-Rev 22:21"
APT_PACKAGES = {WEB: "sword-text-web", RV1909: "sword-text-sparv"}
_PARSER_VERSION = 2  # bump when parsing changes, so stale caches are not reused

# Book names exactly as diatheke prints them, in canonical order.
CANON = (
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges",
    "Ruth", "I Samuel", "II Samuel", "I Kings", "II Kings", "I Chronicles",
    "II Chronicles", "Ezra", "Nehemiah", "Esther", "Job", "Psalms", "Proverbs",
    "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
    "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk",
    "Zephaniah", "Haggai", "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John",
    "Acts", "Romans", "I Corinthians", "II Corinthians", "Galatians", "Ephesians",
    "Philippians", "Colossians", "I Thessalonians", "II Thessalonians", "I Timothy",
    "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter", "II Peter",
    "I John", "II John", "III John", "Jude", "Revelation of John",
)
VALID_BOOKS = ("Joshua", "Ruth", "Ecclesiastes", "Jonah", "Mark", "Galatians", "James")
TEST_BOOKS = ("Judges", "Esther", "Lamentations", "Joel", "John", "Ephesians", "I Peter")
SPLITS = ("train", "validation", "test")

# A verse line; the WEB deuterocanon sometimes puts a <title>...</title> before it.
_VERSE = re.compile(
    r"^\s*(?:<title[^>]*>.*?</title>)?(?:\s*<[^>]+>)*\s*"
    r"(?P<book>[A-Z][A-Za-z() ]*?) (?P<ch>\d+):(?P<vs>\d+):(?: (?P<text>.*))?$"
)
_TAG = re.compile(r"<[^>]*>")  # Strong's numbers <G5547>, OSIS tags <l .../>
_SPACE = re.compile(r"\s+")


def cache_dir() -> Path:
    return Path(os.environ.get("LABELTUNE_CACHE") or Path.home() / ".cache/labeltune/corpora")


def clean_text(text: str) -> str:
    """Remove markup and normalise whitespace (NFC, single spaces, no ends)."""
    text = _TAG.sub(" ", unicodedata.normalize("NFC", text))
    # A tag removed before punctuation leaves "Christ ." -> "Christ."
    text = re.sub(r" ([,.;:!?])", r"\1", _SPACE.sub(" ", text).strip())
    # ~90 WEB verses lost a space where a footnote was cut: "conceived,and".
    return re.sub(r"([,;:!?])(?=[A-Za-z])", r"\1 ", text)


def parse_plain(output: str, module: str = "") -> dict[str, str]:
    """Parse ``diatheke -f plain`` output into {"Book C:V": text} in reading order."""
    lines = [ln for ln in output.splitlines() if ln.strip() != f"({module})"]
    is_verse = [bool(_VERSE.match(ln)) for ln in lines]
    # Pass 1: headings are the lines between a blank line and the next verse.
    headings, after_blank = set(), True
    for ln, verse in zip(lines, is_verse):
        if not ln.strip():
            after_blank = True
        elif verse:
            after_blank = False
        elif after_blank:
            headings.add(clean_text(ln))
    # Pass 2. diatheke re-prints the last psalm title before every later verse,
    # from the Additional Psalm on even without a blank line (the whole NT): a
    # heading text directly before a verse line is dropped, not appended.
    verses: dict[str, list[str]] = {}
    current: list[str] | None = None  # lines of the verse still open
    for i, ln in enumerate(lines):
        if is_verse[i]:
            m = _VERSE.match(ln)
            current = verses.setdefault(f"{m['book'].strip()} {m['ch']}:{m['vs']}", [])
            current.append(m["text"] or "")
        elif not ln.strip():
            current = None  # a blank line closes the verse
        elif current is not None and not (
            clean_text(ln) in headings and i + 1 < len(lines) and is_verse[i + 1]
        ):
            current.append(ln)
    return {k: clean_text(" ".join(v)) for k, v in verses.items()}


def _run_diatheke(module: str) -> str:
    exe = shutil.which("diatheke")
    if exe is None:
        raise RuntimeError(
            "diatheke is not installed: run `apt-get install -y diatheke "
            f"{APT_PACKAGES.get(module, '')}` (or scripts/install_corpora_deps.sh)"
        )
    proc = subprocess.run(
        [exe, "-b", module, "-f", "plain", "-k", KEY_RANGE],
        capture_output=True, text=True, encoding="utf-8", errors="replace", check=False,
    )
    # diatheke exits 0 and prints nothing useful when the module is missing.
    if proc.returncode != 0 or not _VERSE.search(proc.stdout[:2000].split("\n", 1)[0]):
        raise RuntimeError(
            f"diatheke could not read module {module!r}: install the Debian package "
            f"{APT_PACKAGES.get(module, '(the SWORD module)')}. stderr: {proc.stderr[:300]}"
        )
    return proc.stdout


def read_bible(module: str) -> dict[str, str]:
    """All verses of a SWORD module as {"Book C:V": text}, cached as JSON."""
    path = cache_dir() / f"bible-{module}-v{_PARSER_VERSION}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    verses = parse_plain(_run_diatheke(module), module)
    atomic_write_text(path, json.dumps(verses, ensure_ascii=False))  # parallel test workers never read half a file
    return verses


def book_of(ref: str) -> str:
    return ref.rsplit(" ", 1)[0]


def canon_verses(module: str = WEB) -> list[tuple[str, str]]:
    """(ref, text) for the non-empty verses of the 66 canonical books, in order."""
    canon = set(CANON)
    return [(r, t) for r, t in read_bible(module).items() if t and book_of(r) in canon]


def parallel_verses() -> list[dict]:
    """Verses present and non-empty in both WEB and RV1909: id, book, en, es."""
    en, es = read_bible(WEB), read_bible(RV1909)
    return [
        {"id": ref, "book": book_of(ref), "en": text, "es": es[ref]}
        for ref, text in en.items()
        if text and es.get(ref) and book_of(ref) in CANON
    ]


def split_of_book(book: str) -> str:
    if book in VALID_BOOKS:
        return "validation"
    return "test" if book in TEST_BOOKS else "train"


def build_translation(out_dir, split: str = "book", seed: int = 0) -> dict[str, int]:
    """Write train/validation/test.jsonl with id, source (English), target (Spanish).

    ``split="book"`` holds out whole books (see module docstring); ``seed`` only
    shuffles the training order. ``split="random"`` splits verses 90/5/5 with ``seed``.
    Returns the number of rows per split.
    """
    rows = {s: [] for s in SPLITS}
    rng = random.Random(seed)
    for v in parallel_verses():
        if split == "book":
            name = split_of_book(v["book"])
        elif split == "random":
            r = rng.random()
            name = "train" if r < 0.9 else "validation" if r < 0.95 else "test"
        else:
            raise ValueError(f"split must be 'book' or 'random', not {split!r}")
        rows[name].append({"id": v["id"], "source": v["en"], "target": v["es"]})
    rng.shuffle(rows["train"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        write_jsonl(out / f"{name}.jsonl", items)
    return {name: len(items) for name, items in rows.items()}
