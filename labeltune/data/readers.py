"""Read tabular data files into rows that remember where they came from.

Every row keeps the file and line it was read from, so that any later check (an empty text, an unknown
label) can say exactly where the problem is. Nothing is dropped: a row that cannot be read is an error.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field

from ..errors import UserError, where
from ..errors import flag as flag_name
from ..files import write_jsonl  # noqa: F401  (the readers' counterpart, imported from here)

TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".json", ".ndjson", ".parquet")
FIELD_LIMIT = 2**31 - 1  # the C long of Windows; csv.field_size_limit refuses anything larger there


def is_blank(value) -> bool:
    """A text with nothing a model reads: empty, whitespace, or only invisible format / control characters (a
    zero-width space, a byte-order mark), which tokenizers drop. None counts as blank."""
    if value is None:
        return True
    return isinstance(value, str) and all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc") for ch in value)


def canonical_text(text: str) -> str:
    """`text` without the spaces around it and in Unicode's composed form (NFC): "négatif" typed as one character
    and as "e" + a combining accent (NFD, as macOS and some exports write it) look the same and compare equal."""
    return unicodedata.normalize("NFC", text.strip())


def unspaced_script(ch: str) -> str | None:
    """"ideograph" for a CJK ideograph (Chinese; Japanese kanji), "other" for a letter of another script written
    without spaces between words (Japanese kana, Thai, Lao, Tibetan, Burmese, Khmer), else None."""
    c = ord(ch)
    if 0x4E00 <= c <= 0x9FFF or 0x3400 <= c <= 0x4DBF or 0x20000 <= c <= 0x2FA1F or 0xF900 <= c <= 0xFAFF:
        return "ideograph"
    if 0x3040 <= c <= 0x30FF or 0x0E00 <= c <= 0x0FFF or 0x1000 <= c <= 0x109F or 0x1780 <= c <= 0x17FF:
        return "other"
    return None


@dataclass
class Table:
    path: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)  # source line of each row (None for `datasets` dirs)
    no_label: dict[str, int] = field(default_factory=dict)  # per ClassLabel column: the -1 ids read as None

    def where(self, i: int) -> str:
        line = self.lines[i]
        return where(self.path, line) if line is not None else f"{self.path}, row {i}"

    def require(self, column: str, flag: str) -> None:
        """Every row has `column`: a CSV header has it, and so does each JSON object (whose keys may differ)."""
        if column not in self.columns:
            # a header read as one column that holds another separator: a ';'-separated "CSV" (Excel in many
            # locales) or a tab-separated file named .csv
            other = [d for d in (";", "\t", "|", ",") if len(self.columns) == 1 and d in self.columns[0]]
            hint = (f"; the header is one column holding {other[0]!r}: save the file comma-separated as .csv or "
                    "tab-separated as .tsv" if other else self._column_hint(column, flag))
            raise UserError(
                f"{self.path}: no column '{column}' (set by {flag_name(flag)}); the file has columns: "
                f"{', '.join(self.columns) or 'none (no rows)'}{hint}"
            )
        for i, row in enumerate(self.rows):
            if column not in row:
                raise UserError(f"{self.where(i)}: no key '{column}' (set by {flag_name(flag)}) in this row, which has "
                                f"{', '.join(map(str, row)) or 'no keys'}; add it or remove the row")

    def _column_hint(self, column: str, flag: str) -> str:
        """'did you mean --text-column sentence?' for a column named as data sets often name it; 'the first line
        looks like data' for a file without a header (a header cell that is also a value of its column)."""
        import difflib

        close = [c for c in self.columns if c.strip().lower() == column.lower()]  # Text, LABEL
        close = close or [c for c in self.columns if c.strip().lower() in COLUMN_ALIASES.get(column, ())]
        close = close or difflib.get_close_matches(column, self.columns, n=1, cutoff=0.75)
        if close:
            return f"; did you mean {flag_name(flag).split()[0]} {close[0]}?"
        # a header cell that is also a value of its column, or that reads as a sentence (4+ words, or a closing
        # . ? !), is data: Tatoeba/Anki pair files and many exports have no header line
        sentence = lambda c: len(c.split()) >= 4 or c.rstrip().endswith((".", "?", "!", "。", "？", "！"))  # noqa: E731
        if any(any(row.get(c) == c for row in self.rows) for c in self.columns) or any(map(sentence, self.columns)):
            return f"; the first line looks like data, not a header: add a first line naming the columns, one '{column}'"
        return ""

    def __len__(self) -> int:
        return len(self.rows)


# what a column is often called in data sets (lowercase), for Table.require's "did you mean"
COLUMN_ALIASES = {
    "text": ("sentence", "sentences", "review", "reviews", "content", "body", "document", "tweet", "comment",
             "utterance", "texts", "text_a", "sentence1", "premise"),
    "label": ("labels", "sentiment", "class", "category", "target", "y", "gold", "label_text", "intent", "tag"),
    "text_pair": ("sentence2", "text_b", "hypothesis"),
    "tokens": ("words", "token"), "tags": ("ner_tags", "labels", "ner", "tag"),
    "source": ("src", "input"), "target": ("tgt", "output", "reference"),
}


_BAD_BYTES_LISTED = contextvars.ContextVar("bad_bytes_listed", default=False)


@contextlib.contextmanager
def bad_bytes_replaced():
    """Within the block read_text decodes a bad byte as U+FFFD instead of raising: debug-data lists every bad
    byte itself (debug_data.bad_bytes) and then still wants every bad row of the rest of the file."""
    token = _BAD_BYTES_LISTED.set(True)
    try:
        yield
    finally:
        _BAD_BYTES_LISTED.reset(token)


def read_text(path: str) -> str:
    """Read a whole UTF-8 file, with errors that name the file and the line of a bad byte."""
    if not os.path.exists(path):
        raise UserError(f"{path} does not exist{_hub_hint(path)}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory, expected a file")
    if is_binary_name(path):  # a workbook or an archive read as text: "line 1: byte 0xee is not valid UTF-8"
        hint = ("; it is a spreadsheet: save it from the spreadsheet program as Text (Tab delimited) and give that file"
                if os.path.splitext(path)[1].lower() in _SPREADSHEETS else _rename_hint(path))
        raise UserError(f"{path} is not a text file{hint}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as Excel writes it
        raw = raw[3:]
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff") and not _BAD_BYTES_LISTED.get():  # (was: "byte 0xff is not UTF-8")
        raise UserError(f"{path} is UTF-16 (Excel's \"Unicode text\", Windows Notepad's \"Unicode\"); re-save it "
                        "as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 in > out`")
    try:
        text = raw.decode("utf-8", errors="replace" if _BAD_BYTES_LISTED.get() else "strict")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(
            f"{where(path, line)}: byte {raw[e.start]:#x} is not valid UTF-8; re-save the file as UTF-8{legacy_hint(raw)}"
        ) from None
    if not text.strip():
        raise UserError(f"{path} is empty")
    return text


def read_lines(path: str, blank: str) -> list[tuple[str, str]]:
    """(line, where) for each line of a one-item-per-line file (.txt): only \n ends a line (see _read_delimited),
    a final newline adds none, and a blank line is a UserError ending in `blank` (what to do), never skipped:
    output row N stays input line N."""
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()  # the file's final newline
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserError(f"{where(path, n)}: empty line; {blank}")
        out.append((line.rstrip("\r"), where(path, n)))
    return out


def legacy_hint(raw: bytes) -> str:
    """How to convert a file that is not UTF-8 but reads as Windows-1252 (Excel's "CSV" on Windows; Latin-1's
    superset): the one legacy encoding common enough to name."""
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return ""
    return " (it reads as Windows-1252, Excel's CSV on Windows: `iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv`)"


def raise_or_record(problems: list[str] | None, message: str) -> None:
    """Raise `message` as a UserError (reading), or, given a `problems` list (debug-data's row_problems hooks,
    which list every bad row in one pass), append it there and let the caller skip the row."""
    if problems is None:
        raise UserError(message) from None
    problems.append(message)


def recorded(problems: list[str] | None, check, *args):
    """check(*args), a validation that raises UserError; given a `problems` list, the error is appended there
    instead and None returned, so the caller skips the row and goes on (see raise_or_record)."""
    if problems is None:
        return check(*args)
    try:
        return check(*args)
    except UserError as e:
        problems.append(str(e))
        return None


def read_table(path: str, problems: list[str] | None = None) -> Table:
    """Read a CSV, TSV, JSONL (or JSON list) or Parquet file, or a directory saved by `datasets.save_to_disk`.

    With `problems` (debug-data's row_problems hooks), a JSON line that does not parse or is not an object is
    recorded there and skipped, so one pass lists every such line; without it the first one raises."""
    if path is None:
        raise UserError("no data file given")
    if os.path.isdir(path):
        from .arrow import read_datasets_dir

        return read_datasets_dir(path)
    if not os.path.exists(path):
        raise UserError(f"{path} does not exist{_hub_hint(path)}")
    ext = os.path.splitext(path)[1].lower()
    if ext not in TABLE_FORMATS:
        raise UserError(f"{path}: unknown file type '{ext}'; use one of {', '.join(TABLE_FORMATS)} or a datasets dir"
                        f"{_rename_hint(path)}")
    if ext == ".parquet":
        from .arrow import read_parquet  # (a module of its own: pyarrow and datasets load only for these)

        return read_parquet(path)
    text = read_text(path)
    if ext in (".csv", ".tsv"):
        _refuse_json_named_table(path, text, ext)
        return _read_delimited(path, text, "\t" if ext == ".tsv" else ",")
    if ext == ".json" and text.lstrip().startswith("["):
        return _read_json_list(path, text, problems)
    if ext == ".json" and text.lstrip().startswith("{") and "\n" in text.strip():
        _refuse_one_object(path, text)
    return _read_jsonl(path, text, problems)


def _hub_hint(path: str) -> str:
    """For a missing path without a file extension that reads as a hub data set id ('imdb', 'user/name'): how to
    save a split as a file (labeltune reads files, never the network)."""
    path = str(path)
    if os.path.splitext(path)[1] or path.count("/") > 1 or path.startswith((".", "/", "~")):
        return ""
    return (f"; if '{path}' is a Hugging Face hub data set, save a split as a file first (labeltune reads files): "
            f"python -c \"import datasets; datasets.load_dataset('{path}', split='train').to_parquet('train.parquet')\"")


_DECOMPRESS = {".gz": "gunzip -k", ".bz2": "bunzip2 -k", ".xz": "unxz -k", ".zst": "unzstd", ".zip": "unzip"}
_SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")


def is_binary_name(path) -> bool:
    """A spreadsheet or a compressed file by its name: binary, never data to read as text (see _rename_hint)."""
    return os.path.splitext(str(path))[1].lower() in (*_DECOMPRESS, *_SPREADSHEETS)


def _rename_hint(path: str) -> str:
    """'; it is tab-separated: rename it to .tsv' for a table saved as .txt (Excel's "Text (Tab delimited)"); for a
    compressed file, how to decompress it."""
    ext = os.path.splitext(path)[1].lower()
    if ext in _DECOMPRESS:
        return f"; it is compressed: decompress it first ({_DECOMPRESS[ext]} {path}) and give the file inside"
    if ext in _SPREADSHEETS:
        return "; it is a spreadsheet: save it from the spreadsheet program as CSV UTF-8 (File > Save As) and give the .csv"
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            first = f.readline()
    except OSError:
        return ""
    last = first.split()[-1] if first.split() else ""
    if first.startswith("-DOCSTART-") or last == "O" or last[:2] in ("B-", "I-"):  # CoNLL: hints.py's --task hint
        return ""
    found = separated_header(first)
    return f"; its first line is {found[0]}-separated: rename it to {found[1]}" if found else ""


def separated_header(line: str) -> tuple[str, str] | None:
    """("tab", ".tsv") or ("comma", ".csv") ... when `line` reads as a header of column names (a comma in a
    sentence of prose is no separator), else None."""
    for sep, name, ext in (("\t", "tab", ".tsv"), (",", "comma", ".csv"), (";", "semicolon", ".csv")):
        fields = [f.strip().strip('"') for f in line.split(sep)]
        if len(fields) > 1 and (sep == "\t" or all(f and " " not in f and len(f) <= 40 for f in fields)):
            return name, ext
    return None


def _read_delimited(path: str, text: str, delimiter: str) -> Table:
    # the csv module refuses a field over 128 KiB ("field larger than field limit"); a long document is data,
    # to be truncated by the tokenizer like any long text, so the limit is the largest one the platform allows
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    first = text.split("\n", 1)[0].rstrip("\r")
    sep_line = re.fullmatch(r"sep=(.)", first)
    # Excel's "sep=;" first line names the separator; else a ';'-separated "CSV" (Excel in many locales) or a
    # tab-separated file named .csv is read as it is
    delimiter = sep_line.group(1) if sep_line else _header_delimiter(first, delimiter)
    try:
        return _parse_delimited(path, text, delimiter, bool(sep_line), csv.QUOTE_MINIMAL)
    except UserError as e:
        if delimiter != "\t":
            raise
        first_error = e
    try:  # a TSV whose quotes are text, not quoting ('"quoted" words\t1', GLUE's files): read as GLUE's readers do
        return _parse_delimited(path, text, delimiter, bool(sep_line), csv.QUOTE_NONE)
    except UserError:
        raise first_error from None


def _parse_delimited(path: str, text: str, delimiter: str, sep_line: bool, quoting: int) -> Table:
    # io.StringIO(newline=""), not str.splitlines(): the latter also breaks lines at U+0085 and U+2028,
    # which occur inside real review texts
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True, quoting=quoting)
    try:
        header = next(reader) if not sep_line else (next(reader), next(reader, []))[1]
    except csv.Error as e:
        raise UserError(f"{where(path, reader.line_num)}: malformed header: {e}") from None
    header = [h.strip() for h in header]
    header_line = reader.line_num
    named = [h for h in header if h]  # Excel adds unnamed columns right of the data (cells once formatted)
    if len(set(named)) != len(named):
        dup = sorted({h for h in named if named.count(h) > 1})
        raise UserError(f"{where(path, header_line)}: duplicate column names {dup}")
    table = Table(path, named)
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise UserError(f"{where(path, start)}: malformed row: {e}; check the quoting") from None
        if not values or (len(values) > 1 and not any(v.strip() for v in values)):  # a blank line; Excel's ",,"
            # of a cleared row (a one-column file's blank text stays a row: predict must not lose its place)
            start = reader.line_num + 1
            continue
        if len(values) != len(header):
            raise UserError(
                f"{where(path, start)}: {len(values)} fields but the header has {len(header)}; "
                f"quote fields that contain {_SEPARATOR_NAMES.get(delimiter, repr(delimiter))}"
            )
        lost = next((k for k, (h, v) in enumerate(zip(header, values)) if not h and v.strip()), None)
        if lost is not None:  # an unnamed column is dropped only while it holds nothing
            index = " (pandas' index, as df.to_csv writes it: save with index=False)" if lost == 0 and \
                values[0].strip().isdigit() else ""
            raise UserError(f"{where(path, start)}: column {lost + 1} has no name in the header (line {header_line}) "
                            f"but holds {values[lost].strip()!r:.40}; name it, or delete the column{index}")
        table.rows.append({h: v for h, v in zip(header, values) if h})
        table.lines.append(start)
        start = reader.line_num + 1
    if not table.rows:
        raise UserError(f"{path} has a header but no rows")
    return table


_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}


def _header_delimiter(first: str, delimiter: str) -> str:
    """The file type's separator, unless the header line reads as one column with it (or not at all: '"text";
    "label"') and as several with exactly one other of ',', ';', tab, '|' (csv.Sniffer guesses from the data rows
    too, and picks ',' from a comma inside a text)."""
    def columns(d: str) -> int:
        try:
            return len(next(csv.reader([first], delimiter=d, strict=True)))
        except (csv.Error, StopIteration):
            return 0

    if columns(delimiter) > 1:
        return delimiter
    others = [d for d in _SEPARATOR_NAMES if d != delimiter and columns(d) > 1]
    return others[0] if len(others) == 1 else delimiter


def _read_jsonl(path: str, text: str, problems: list[str] | None = None) -> Table:
    objects = []
    for n, line in enumerate(text.split("\n"), start=1):  # only \n ends a line (see _read_delimited)
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            objects.append((json.loads(line), n, where(path, n)))
        except json.JSONDecodeError as e:
            found = None if objects or line.lstrip().startswith(("{", "[")) else separated_header(line)
            hint = f"; the file looks {found[0]}-separated: rename it to {found[1]}" if found else ""
            raise_or_record(problems, f"{where(path, n)}: not valid JSON ({e.msg} at column {e.colno}){hint}")
    return _objects_table(path, objects, problems)


def _refuse_json_named_table(path: str, text: str, ext: str) -> None:
    """A JSON Lines (or JSON list) file named .csv/.tsv: say so, rather than "2 fields but the header has 3"."""
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith(("{", "[")):
        return
    try:
        json.loads(first if first.startswith("{") else text)
    except json.JSONDecodeError:
        return
    raise UserError(f"{path} holds JSON, not {ext[1:].upper()}; rename it to .jsonl (one object per line) or .json")


def _refuse_one_object(path: str, text: str) -> None:
    """A multi-line .json file that is one object (pretty-printed, e.g. {"rows": [...]}) is not rows: say so,
    rather than JSON Lines' "line 1: not valid JSON" about a file that is valid JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return  # JSON Lines (several objects), or broken: the JSON Lines reader names the line
    if isinstance(data, dict):
        keys = ", ".join(map(repr, list(data)[:5]))
        raise UserError(f"{path}: one JSON object (keys {keys}), not rows; give a JSON list of row objects "
                        "([{...}, {...}]) or JSON Lines (.jsonl, one object per line)")


def _read_json_list(path: str, text: str, problems: list[str] | None = None) -> Table:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{where(path, e.lineno)}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not data:
        raise UserError(f"{path} is an empty list: there are no rows")
    return _objects_table(path, [(obj, None, f"{path}, item {i}") for i, obj in enumerate(data)], problems)


def _objects_table(path: str, objects: list[tuple], problems: list[str] | None = None) -> Table:
    """A table of JSON objects (obj, line, location); the columns are every key seen, in first-seen order."""
    table = Table(path, [])
    seen = {}
    for obj, line, loc in objects:
        if not isinstance(obj, dict):
            raise_or_record(problems, f"{loc}: expected a JSON object, got {type(obj).__name__}")
            continue
        seen.update(dict.fromkeys(obj))
        table.rows.append(obj)
        table.lines.append(line)
    table.columns = list(seen)
    return table
