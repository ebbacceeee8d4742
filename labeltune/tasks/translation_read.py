"""Translation data files: a CSV/TSV/JSONL table with source and target columns, two line-aligned plain-text
files (SOURCE,TARGET), or one plain-text file of sources; every empty text is an error naming its row.

Split out of tasks/translation.py (TranslationTask.read and as_examples call these).
"""

from __future__ import annotations

import dataclasses

from ..data.readers import is_blank, read_lines, read_table
from ..errors import UserError, flag


def _text(value, loc: str, column: str) -> str:
    if is_blank(value):  # (also only zero-width spaces or other invisible characters: nothing to translate)
        raise UserError(f"{loc}: empty {column}; remove the row or fill it in")
    if not isinstance(value, str):
        raise UserError(f"{loc}: {column} holds {type(value).__name__} {value!r}, expected a string")
    return value.strip()


def _read_table(path: str, opts, labelled: bool) -> list[dict]:
    table = read_table(path)
    if opts.source_column not in table.columns and "translation" in table.columns:
        return _read_translation_dicts(table, opts, labelled)
    if opts.source_column == "source" and "source" not in table.columns and opts.source_lang in table.columns:
        opts = dataclasses.replace(opts, source_column=opts.source_lang)  # columns named by language: es,en
        if opts.target_column == "target" and "target" not in table.columns and opts.target_lang in table.columns:
            opts = dataclasses.replace(opts, target_column=opts.target_lang)
    langs = [c for c in table.columns if 2 <= len(c) <= 3 and c.isalpha() and c.islower()]  # columns named en, es
    if opts.source_column not in table.columns and not opts.source_lang and len(langs) == 2:
        raise UserError(f"{path}: no column '{opts.source_column}' (set by {flag('source_column')}); its columns "
                        f"{langs[0]}, {langs[1]} look like languages: give --source-lang {langs[0]} --target-lang "
                        f"{langs[1]} (or the reverse), or --source-column / --target-column")
    table.require(opts.source_column, "--source-column")
    if labelled:
        table.require(opts.target_column, "--target-column")
    out = []
    for i, row in enumerate(table.rows):
        loc = table.where(i)
        ex = {"source": _text(row.get(opts.source_column), loc, f"source (column '{opts.source_column}')"), "_where": loc}
        if labelled:
            ex["target"] = _text(row.get(opts.target_column), loc, f"target (column '{opts.target_column}')")
        out.append(ex)
    return out


def _read_translation_dicts(table, opts, labelled: bool) -> list[dict]:
    """Rows shaped as Hugging Face datasets' translation sets: {"translation": {"es": "...", "en": "..."}};
    --source-lang / --target-lang say which key is which."""
    first = next((r["translation"] for r in table.rows if isinstance(r.get("translation"), dict)), {})
    keys = "/".join(map(str, first)) or "language"
    if not opts.source_lang or (labelled and not opts.target_lang):
        raise UserError(f"{table.path}: rows hold translation pairs {{\"translation\": {{{keys} ...}}}}; give "
                        f"{flag('source_lang')} and {flag('target_lang')} to say which language is translated into "
                        "which (or columns named by --source-column / --target-column)")
    out = []
    for i, row in enumerate(table.rows):
        loc = table.where(i)
        pair = row.get("translation")
        if not isinstance(pair, dict):
            raise UserError(f"{loc}: 'translation' is {type(pair).__name__}, expected an object of language: text")
        langs = (opts.source_lang, opts.target_lang) if labelled else (opts.source_lang,)
        for lang in langs:
            if lang not in pair:
                raise UserError(f"{loc}: no '{lang}' in 'translation' (it has {', '.join(map(str, pair)) or 'nothing'}); "
                                f"check {flag('source_lang')} / {flag('target_lang')}")
        ex = {"source": _text(pair[opts.source_lang], loc, f"source (translation.{opts.source_lang})"), "_where": loc}
        if labelled:
            ex["target"] = _text(pair[opts.target_lang], loc, f"target (translation.{opts.target_lang})")
        out.append(ex)
    return out


def _read_lines(path: str) -> list[tuple[str, str]]:
    """(text, where) per line; a blank line is an error (it would shift the alignment if skipped)."""
    return [(_text(line, loc, "line"), loc) for line, loc in read_lines(path, "remove the row or fill it in")]


def _read_parallel(source_path: str, target_path: str) -> list[dict]:
    sources, targets = _read_lines(source_path), _read_lines(target_path)
    if len(sources) != len(targets):
        raise UserError(
            f"parallel files differ in length: {source_path} has {len(sources)} lines, {target_path} has "
            f"{len(targets)}; line N of one must translate line N of the other"
        )
    return [{"source": s, "target": t, "_where": w} for (s, w), (t, _) in zip(sources, targets)]
