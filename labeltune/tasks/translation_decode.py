"""Translation output: the stop tokens and forced first token of generation, WordPiece detokenisation of
BERT2BERT outputs, and the scores of decoded text (sacreBLEU BLEU and chrF, the uncased-vocabulary warning).

Split out of tasks/translation.py (TranslationTask.generate and evaluate call these).
"""

from __future__ import annotations

import re
import sys
from collections import Counter


def _seq2seq_eos(model, tokenizer) -> int:
    eos = getattr(model.generation_config, "eos_token_id", None) or model.config.eos_token_id
    if isinstance(eos, list):
        eos = eos[0]
    return eos if eos is not None else tokenizer.eos_token_id


def _forced_bos(tokenizer, opts, causal: bool):
    """mBART/NLLB-style models start the output with the target language code."""
    if causal or not opts.target_lang or not hasattr(tokenizer, "tgt_lang"):
        return None
    tid = tokenizer.convert_tokens_to_ids(opts.target_lang)
    return tid if tid is not None and tid != tokenizer.unk_token_id else None


def _newline_ids(tokenizer) -> list[int]:
    """Ids of the tokens that are only line breaks ("\n", "\n\n", ...), which end a one-line output."""
    ids = []
    for text in ("\n", "\n\n"):
        enc = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] != tokenizer.eos_token_id:
            ids.append(enc[0])
    return ids


_DETOK_RULES = [  # (pattern, replacement): WordPiece's decode puts a space around every punctuation mark
    (re.compile(r"\b(\w)\. (?=\w\.)"), r"\1."),          # "u. s." -> "u.s."
    (re.compile(r"([\w.]) ([-/]) (?=\w)"), r"\1\2"),       # "u.s. - based" -> "u.s.-based"
    (re.compile(r" ([.,!?;:%)\]}])"), r"\1"),                # "firm ." -> "firm."
    (re.compile(r"([(\[{$]) "), r"\1"),                      # "( a" -> "(a"
    (re.compile(r"(\w) ' (s|t|re|ve|ll|d|m)\b"), r"\1'\2"),  # "it ' s" -> "it's"
]


def detokenize_wordpiece(text: str) -> str:
    """Undo WordPiece's spaces around punctuation ("the u. s. - based firm ." -> "the u.s.-based firm.").

    `tokenizer.decode(clean_up_tokenization_spaces=True)` only joins " ." and " ,"; sacremoses' detokenizer
    would be the library for this but is not a dependency, and these few rules cover what BERT's pre-tokenizer
    splits (it splits every punctuation character off)."""
    for pattern, repl in _DETOK_RULES:
        text = pattern.sub(repl, text)
    return text


def translation_metrics(hypotheses: list[str], references: list[str], opts) -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    tokenize = opts.bleu_tokenize if opts.bleu_tokenize != "auto" else bleu_tokenizer_for(references)
    bleu, chrf = BLEU(lowercase=opts.metric_lowercase, tokenize=tokenize), CHRF(lowercase=opts.metric_lowercase)
    b, c = bleu.corpus_score(hypotheses, [references]), chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(b.score, 4), "chrf": round(c.score, 4),
        "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
        "n": len(hypotheses),
    }


def bleu_tokenizer_for(references: list[str]) -> str:
    """sacreBLEU's tokenizer for these references: its default 13a cuts words at spaces, so a sentence of Chinese,
    Japanese or Thai (no spaces between words) would be one "word" and BLEU near 0 whatever the output. Chinese
    gets sacreBLEU's "zh" (each ideograph a word); Japanese (kana), Thai, Lao, Khmer and Burmese "char"
    (ja-mecab needs MeCab, installed with sacrebleu[ja]); a text mostly in other scripts "13a"."""
    from ..data.readers import unspaced_script

    scripts = Counter(unspaced_script(ch) for ch in "".join(references[:1000]) if ch.isalpha())
    if scripts["ideograph"] + scripts["other"] <= scripts[None]:
        return "13a"
    return "char" if scripts["other"] > scripts["ideograph"] / 10 else "zh"  # Japanese: kana besides its kanji


_WARNED: set = set()


def warn_uncased(rt, examples) -> None:
    """Say so, once, before scoring cased references with an uncased vocabulary (BERT2BERT from MiniLM): every
    capital letter would count as an error. --metric-lowercase scores case-insensitively."""
    normalizer = getattr(getattr(rt.tokenizer, "backend_tokenizer", None), "normalizer", None)
    uncased = normalizer is not None and normalizer.normalize_str("A") == "a"
    key = id(rt.tokenizer)
    if uncased and not rt.opts.metric_lowercase and key not in _WARNED:
        if any(c.isupper() for e in examples[:1000] for c in e.get("target", "")):
            _WARNED.add(key)
            print("translation: warning: the model's vocabulary is uncased (it writes lower case only) but the "
                  "references have capitals, which BLEU and chrF count as errors; pass --metric-lowercase to "
                  "score case-insensitively, or use a cased model", file=sys.stderr)
