"""NER words and windows: raw text split into words (the tokenizer's own where it cuts at spaces and punctuation;
entity spans become IOB2 tags), and sentences cut into overlapping windows of sub-words, labelled on each word's
first sub-word.

Split out of tasks/ner.py (NERTask.encode, word_probabilities and report call these).
"""

from __future__ import annotations

from collections import Counter

from ..data.readers import unspaced_script
from ..errors import UserError
from ..models import is_mark, joins_word, prefix_space_for_words, splits_words, strip_offsets
from .ner_read import utf16_hint

IGNORE = -100  # label of sub-words the loss skips
FAR = 10**9  # context "distance" at a real text boundary (not a window cut)


def ensure_words(examples: list[dict], tokenizer) -> None:
    """Raw-text examples get words (with character offsets) and, when they carry spans, IOB2 tags; a span that
    cuts a word in half is an error. The words are the tokenizer's pre-tokenized words where it cuts text at
    spaces and punctuation (BERT, byte-level BPE), else `plain_words`."""
    raw = [e for e in examples if "text" in e and "tokens" not in e]
    if not raw:
        return
    prefix_space_for_words(tokenizer)  # split raw text as the words will be tokenized later
    if splits_words(tokenizer):
        enc = tokenizer([e["text"] for e in raw], add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)
        spans = []
        for j in range(len(raw)):
            offsets = {}
            for w, (s, t) in zip(enc.word_ids(j), enc["offset_mapping"][j]):
                if w is not None:
                    a, b = offsets.get(w, (s, t))
                    offsets[w] = (min(a, s), max(b, t))
            spans.append([offsets[w] for w in sorted(offsets)])
    else:
        spans = [plain_words(e["text"]) for e in raw]
    for e, words in zip(raw, spans):
        e["offsets"] = _whole_words(e["text"], words)
        e["tokens"] = [e["text"][s:t] for s, t in e["offsets"]]
        if "spans" in e:
            e["tags"] = _span_tags(e)


def _whole_words(text: str, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Word spans without the spaces around them and with their combining marks: byte-level BPE cuts a word at
    each mark ("राम" -> र | ा | म), whose pieces are joined again; a mark it keeps with the punctuation after it
    ("दिल्ली।" -> ... | ी।) joins the word, and the punctuation stays a word of its own."""
    out: list[tuple[int, int]] = []
    for s, t in words:
        s, t = strip_offsets(text, s, t)
        if not (out and joins_word(text, out[-1][1], s)):
            out.append((s, t))
            continue
        rest = next((k for k in range(s, t) if not is_mark(text[k])), t)
        cut = rest if rest < t and not text[rest].isalnum() else t
        out[-1] = (out[-1][0], max(cut, out[-1][1]))
        if cut < t:
            out.append((cut, t))
    return out


def plain_words(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of `text` for a tokenizer whose own words do not serve: SentencePiece
    conversions (XLM-RoBERTa, ALBERT, DeBERTa-v2, T5) cut only at spaces, so "Paris," is one word that an entity
    span "Paris" cuts, and Llama's and Mistral's do not cut at all (the whole text is word 0). Cut as BERT's
    basic tokenizer cuts: at spaces, each punctuation mark a word, and each CJK ideograph a word (Chinese and
    Japanese text has no spaces)."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    out = []
    for _, (s, t) in BertPreTokenizer().pre_tokenize_str(text):
        start = s
        for k in range(s, t):
            if _is_cjk(text[k]):
                out += [(start, k)] * (start < k) + [(k, k + 1)]
                start = k + 1
        if start < t:
            out.append((start, t))
    return out


def _is_cjk(ch: str) -> bool:
    """A CJK ideograph (the blocks BERT's tokenizer splits one by one)."""
    c = ord(ch)
    return (0x4E00 <= c <= 0x9FFF or 0x3400 <= c <= 0x4DBF or 0x20000 <= c <= 0x2CEAF or 0xF900 <= c <= 0xFAFF
            or 0x2F800 <= c <= 0x2FA1F)


def _span_tags(e: dict) -> list[str]:
    tags = ["O"] * len(e["offsets"])
    for start, end, label in e["spans"]:
        inside = []
        for k, (s, t) in enumerate(e["offsets"]):
            if s < end and t > start:  # the word overlaps the span
                if s < start or t > end:
                    raise UserError(f"{e['_where']}: span [{start}, {end}) {e['text'][start:end]!r} cuts the word "
                                    f"{e['text'][s:t]!r} at [{s}, {t}); spans must start and end on word boundaries"
                                    f"{_unspaced_hint(e['text'][s:t]) or utf16_hint(e['text'])}")
                inside.append(k)
        if not inside:
            raise UserError(f"{e['_where']}: span [{start}, {end}) {e['text'][start:end]!r} covers no word"
                            f"{utf16_hint(e['text'])}")
        for k in inside:
            tags[k] = ("B-" if k == inside[0] else "I-") + label
    return tags


def _unspaced_hint(word: str) -> str:
    """How to give the words, for a "word" of a script written without spaces (byte-level BPE's words end only at
    spaces and punctuation, so it reads a run of Chinese as one word; so do BERT's in Thai or Japanese kana)."""
    if not any(unspaced_script(ch) for ch in word):
        return ""
    return ("; raw text is cut into words at spaces and punctuation, so text written without spaces (Chinese, "
            "Japanese, Thai, ...) is one word up to the next one: give the words as 'tokens' and 'tags' (JSON Lines "
            "or CoNLL) from a word segmenter (jieba, fugashi, PyThaiNLP), or, for Chinese, use a model whose "
            "tokenizer cuts each ideograph (BERT's, XLM-RoBERTa's)")


# --- windows over sub-words ---------------------------------------------------------------------
def encode_windows(examples, tokenizer, max_length: int, stride: int, label_ids: dict | None = None,
                   all_subwords: bool = False) -> list[dict]:
    """Features for `examples` (with "tokens"): overlapping windows of at most `max_length` sub-words.

    Each feature has input_ids (+ token_type_ids), labels when `label_ids` is given, `_example` (its
    example's index) and `_words`: (position, word index, context) for each word whose first sub-word
    lies in the window; context is the distance to the nearest window cut, which picks the window a
    word's prediction is read from.
    """
    prefix_space_for_words(tokenizer)
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if room < 2:
        raise UserError(f"--max-length {max_length} leaves no room for words next to the special tokens")
    stride = min(stride, room // 2)  # the tokenizer needs each window to move forward
    words = [list(e["tokens"]) for e in examples]
    enc = _tokenize(words, tokenizer, max_length, stride)
    empty = _words_without_subwords(enc, words)
    if empty:  # e.g. a zero-width space: stand in the unknown token, so no word goes untagged
        for i, k in empty:
            words[i][k] = tokenizer.unk_token or "?"
        enc = _tokenize(words, tokenizer, max_length, stride)

    # where each window sits in its example's full sub-word sequence (windows overlap by `stride`)
    sample, starts, next_start, first, at = enc["overflow_to_sample_mapping"], [], {}, {}, {}
    for j in range(len(enc["input_ids"])):
        i, wids = sample[j], enc.word_ids(j)
        content = [k for k, w in enumerate(wids) if w is not None]
        starts.append(next_start.get(i, 0))
        next_start[i] = starts[j] + len(content) - stride
        for r, k in enumerate(content):
            first.setdefault((i, wids[k]), starts[j] + r)  # windows come in order: the first is the earliest
            if at.setdefault((i, starts[j] + r), wids[k]) != wids[k]:  # guards the overlap arithmetic
                raise RuntimeError(f"{examples[i]['_where']}: windows do not overlap by {stride} sub-words")

    n_windows = Counter(sample)
    seen = Counter()
    features = []
    for j in range(len(enc["input_ids"])):
        i, wids = sample[j], enc.word_ids(j)
        seen[i] += 1
        is_first_window, is_last_window = seen[i] == 1, seen[i] == n_windows[i]
        content = [k for k, w in enumerate(wids) if w is not None]
        f = {"input_ids": enc["input_ids"][j], "_example": i, "_words": []}
        if "token_type_ids" in enc:
            f["token_type_ids"] = enc["token_type_ids"][j]
        labels = [IGNORE] * len(wids)
        tags = examples[i].get("tags") if label_ids is not None else None
        for r, k in enumerate(content):
            w = wids[k]
            is_first = starts[j] + r == first[(i, w)]
            if is_first:
                left = FAR if is_first_window else r
                right = FAR if is_last_window else len(content) - 1 - r
                f["_words"].append((k, w, min(left, right)))
            if tags is not None and (is_first or all_subwords):
                tag = tags[w] if is_first or not tags[w].startswith("B-") else "I-" + tags[w][2:]
                labels[k] = label_ids[tag]
        if tags is not None:
            f["labels"] = labels
        features.append(f)
    return features


def _tokenize(words, tokenizer, max_length: int, stride: int):
    return tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length, stride=stride,
                     return_overflowing_tokens=True)


def _words_without_subwords(enc, words) -> list[tuple[int, int]]:
    have = {(i, w) for j, i in enumerate(enc["overflow_to_sample_mapping"]) for w in enc.word_ids(j)}
    return [(i, k) for i, ws in enumerate(words) for k in range(len(ws)) if (i, k) not in have]

