"""train --word-recognition: a typo-correcting front end, fitted on the training data, saved with the model.

Why: training alone does not teach a model to read misspelled words it never saw misspelled. On Rotten Tomatoes
the best robust-training recipe measured (adversarial typos on every example plus a consistency term) cut the greedy
character attack's success rate by a third, not by half (benchmarks/bench_robustness.py). Pruthi et al. 2019
("Combating Adversarial Misspellings with Robust Word Recognition") put a word recogniser in front of the model:
every word the recogniser does not know is mapped back to a known word before the model reads it. A typo then
reaches the model only when it happens to spell another real word.

The recogniser here is a dictionary, not their character RNN: the words of the training data (with their counts)
joined with a word-frequency list of the language (pyspellchecker's, from OpenSubtitles; `data` uses the training
words alone). A word of 3 or more letters, not in capitals, that is in neither, and that is one edit away (a letter
replaced, dropped or inserted, or two neighbours swapped: Damerau-Levenshtein distance 1, the edits of the attack
and of `--augment typo`) from known words, becomes the most frequent of them (its share of the training words plus
its share of the language's; one that differs only by accents first); in the word's case, its punctuation kept.
A capitalised word inside a sentence is taken for a name: it is corrected only to a word of the training data.
Every other word passes through unchanged (their "pass-through" back-off), so clean text is almost never touched.

It works for every task through the task's `perturb` hook: the correction is an Editor plan that replaces whole
words, so NER tags and QA answers stay aligned exactly as under a perturbation. A loaded model applies it in
predict, evaluate, the attack and explain (`WordRecognition` wraps the task: composition); the network itself is
unchanged, so `transformers` and `pipeline()` load the saved model as before, without the front end. What it cannot
undo: a typo that is itself a word ("good" -> "goof"), and an attacker who knows the dictionary and picks such typos.
Hand-written glue around pyspellchecker (its candidates and word lists); its own `correction()` ranks by general
English frequency only, which picks "get" for "gret" in film reviews; the training words' frequencies count here.
"""

from __future__ import annotations

import json
import os
import random
import re
import unicodedata

from ..data.readers import unspaced_script
from .perturb import FREE, FROZEN, Editor

FILE = "word_recognition.json"
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "ru", "ar", "lv", "eu", "fa")
CHOICES = ("data",) + LANGUAGES
MEMO_SIZE = 200_000  # corrections remembered (each word is looked up once per process)
MIN_LETTERS = 3  # shorter words have too many neighbours one edit away ("iz": in, is, it) to guess right
_PARTS = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def check(task, value: str) -> None:
    """Refuse, before any training, a value that is not a choice or a task without a perturb hook."""
    from ..errors import UserError

    if value not in CHOICES:
        raise UserError(f"--word-recognition {value}: choose a language of the word list ({', '.join(LANGUAGES)}) "
                        "or 'data' (the training words alone)")
    if getattr(task, "perturb", None) is None:
        raise UserError(f"--word-recognition: the task '{task.name}' has no perturb hook to correct its words through")


MIN_KNOWN = 0.6  # share of the training words a language's list knows, below which it is likely another language


def language_warning(task, examples: list[dict], language: str) -> str | None:
    """A warning when the word list of `language` knows few of the training words (measured: English reviews 98%
    in the 'en' list, Spanish 87% in 'es'; Spanish in 'en' 47%, English in 'es' 14%): every word it does not know
    that is one edit from one it knows would be rewritten into that language (translation: give the source's)."""
    if language == "data":
        return None
    from spellchecker import SpellChecker

    words = [w for e in examples for w, _ in _recorded(task, e)]
    cores = [c for w in words if (c := _PARTS.match(w).group(2).lower()).isalpha()]
    if not cores:
        return None
    known = SpellChecker(language=language, distance=1).word_frequency.dictionary
    share = sum(c in known for c in cores) / len(cores)
    if share >= MIN_KNOWN:
        return None
    return (f"warning: --word-recognition {language}: its word list knows only {share:.0%} of the training words; if "
            "the text is in another language, give that language (translation: the source's), or 'data' (the training "
            "words alone): words it does not know would be rewritten into words of this list")


def _recorded(task, example: dict) -> list[tuple[str, int]]:
    """The words of `example` as the task's perturb hook hands them to an editor, with their kinds."""
    recorder = Editor(lambda words, kinds, rng: {})
    task.perturb(example, recorder, random.Random(0))
    return recorder.seen


def _unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _cased(word: str, like: str) -> str:
    if like[:1].isupper():  # (a word in capitals is never corrected: see WordFixer.correct)
        return word[:1].upper() + word[1:]
    return word


class WordFixer:
    """{word: count} of the training data + a language's word list -> the correction of one word, or None."""

    def __init__(self, counts: dict[str, int], language: str):
        from spellchecker import SpellChecker

        self.counts, self.language = counts, language
        self.spell = SpellChecker(language=None if language == "data" else language, distance=1)
        self.spell.word_frequency.load_json(dict(counts))  # adds to the language's list; letters for the edits too
        self.general = {} if language == "data" else SpellChecker(language=language, distance=1).word_frequency
        self._memo: dict[str, str | None] = {}

    @classmethod
    def fit(cls, task, examples: list[dict], language: str) -> "WordFixer":
        """The training words of `examples`, as the task's perturb hook hands them to an editor."""
        counts: dict[str, int] = {}
        for e in examples:
            for word, _ in _recorded(task, e):
                core = _PARTS.match(word).group(2).lower()
                if core.isalpha():
                    counts[core] = counts.get(core, 0) + 1
        return cls(counts, language)

    def save(self, directory: str) -> str:
        path = os.path.join(directory, FILE)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"language": self.language, "counts": self.counts}, f, ensure_ascii=False)
        return FILE

    @classmethod
    def load(cls, directory: str) -> "WordFixer":
        from ..errors import UserError

        path = os.path.join(directory, FILE)
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            return cls({str(k): int(v) for k, v in saved["counts"].items()}, str(saved["language"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserError(f"--model {directory}: its labeltune.json names a word-recognition front end, but {FILE} "
                            f"cannot be read ({e}); restore the file or train again (labeltune.load(dir, "
                            "word_recognition=False) runs the network alone, without the front end)") from None

    def known(self, word: str) -> bool:
        return word in self.counts or word in self.spell.word_frequency.dictionary

    def frequency(self, word: str) -> float:
        """How often the word occurs: its share of the training words plus its share of the language's (equal
        weights, so a domain word such as "great" in reviews beats a general one such as "get", while a word seen
        once in training does not beat a common word of the language)."""
        general = self.general.dictionary.get(word, 0) / self._general_total if self.general else 0.0
        return self.counts.get(word, 0) / self._train_total + general

    @property
    def _train_total(self) -> int:
        if not hasattr(self, "_ttotal"):  # (was summed anew for every candidate: a third of predict's time)
            self._ttotal = max(sum(self.counts.values()), 1)
        return self._ttotal

    @property
    def _general_total(self) -> int:
        if not hasattr(self, "_gtotal"):
            self._gtotal = max(sum(self.general.dictionary.values()), 1)
        return self._gtotal

    def _fix_run(self, run: str) -> str | None:
        """The correction of one run of letters, or None."""
        low = run.lower()
        if len(low) < MIN_LETTERS or self.known(low):
            return None
        # the edits looked up in the dictionary directly: pyspellchecker's candidates()/known() re-check and
        # re-lower each of the ~800 edits of a word, which was half of predict's time on a long text
        known = self.spell.word_frequency.dictionary  # the language's words and the training words
        near = [c for c in self.spell.edit_distance_1(low) if c != low and c in known and " " not in c]
        if not near:
            return None
        # a word that lacks only an accent is that word, however frequent another neighbour ("cafe": café, not came)
        plain = _unaccented(low)
        best = max(near, key=lambda c: (_unaccented(c) == plain, self.frequency(c), c))
        return _cased(best, run)

    def correct(self, word: str) -> str | None:
        """The replacement of `word` (punctuation and case kept), or None to leave it as it is. Only words of
        letters alone: the parts of "avant-garde" or "sci-fi" are not words of the list, and correcting them one by
        one changed 8 of 12,524 clean test words for the worse (measured on Rotten Tomatoes). Words in capitals pass
        through too (acronyms)."""
        if word in self._memo:
            return self._memo[word]
        lead, core, trail = _PARTS.match(word).groups()
        # a word in capitals is an acronym far more often than a shouted typo, and acronyms are seldom in the word
        # lists but often one edit from a word in them: CIA -> via, DNA -> na, USA -> us, HIV -> his
        # a run of Chinese, Japanese or Thai letters is a phrase (no spaces between words): one edit there makes
        # another phrase, not a typo's fix (我爱这部电视, "I love this TV", became 我爱这部电影, "... this film")
        fixed = self._fix_run(core) if core.isalpha() and not core.isupper() and \
            not any(unspaced_script(ch) for ch in core) else None
        out = None if fixed is None else lead + fixed + trail
        if len(self._memo) >= MEMO_SIZE:  # a server sees new words for ever: keep the memory bounded
            self._memo.clear()
        self._memo[word] = out
        return out

    def plan(self, words, kinds, rng) -> dict[int, str]:
        """An Editor plan (robustness/perturb.py): every word with a correction gets it. A capitalised word inside
        a sentence is a name far more often than a typo, and names are seldom in the word lists but often one edit
        from a word in them (measured with the English list: Keanu -> Kean, Streep -> Street, Jolie -> Julie,
        Wes -> We, Frodo -> Fordo): such a word is corrected only to a word of the training data (Egpyt -> Egypt
        where the data has Egypt), not to one of the language's list."""
        out = {}
        for i, w in enumerate(words):
            fixed = self.correct(w)
            if fixed is None:
                continue
            if i and _is_name(w, words[i - 1]) and _PARTS.match(fixed).group(2).lower() not in self.counts:
                continue
            out[i] = fixed
        return out

    def apply(self, task, examples: list[dict]) -> list[dict]:
        """Copies of `examples` with their words corrected, labels moved by the task's perturb hook."""
        return [task.perturb(e, _Correcting(self.plan), random.Random(0)) for e in examples]


def _is_name(word: str, before: str) -> bool:
    """`word` is capitalised (Title case: "Sean", not "SEAN" or "sean") and the word `before` does not end a
    sentence."""
    core = _PARTS.match(word).group(2)
    ends_sentence = before.rstrip("\"')»”’").endswith((".", "!", "?", ":"))
    return core[:1].isupper() and core[1:].islower() and not ends_sentence


class _Correcting(Editor):
    """The front end's editor: it corrects frozen words too (a QA answer's), as predict, which has no answers to
    freeze, does; evaluate and the final metrics would otherwise score the model on typos predict corrects."""

    def _edits(self, words, kinds, rng):
        return super()._edits(words, [FREE if k == FROZEN else k for k in kinds], rng)


def span_back(text: str, fixed: str):
    """`back(start, end)`: a character span of `fixed` (`text` with whole words replaced by `WordFixer.plan`
    through `Editor.text`: same words in the same places, the same gaps) as the span of `text` it came from. A
    boundary in an unchanged word or a gap keeps its place; one inside a corrected word's letters goes to the
    start (for `start`) or end (for `end`) of the user's letters, so a span never cuts a word it did not cut."""
    if text == fixed:
        return lambda start, end: (start, end)
    old = [m.span() for m in re.finditer(r"\S+", text)]
    new = [m.span() for m in re.finditer(r"\S+", fixed)]

    def point(p: int, is_end: bool) -> int:
        shift = 0  # text position - fixed position, before the word that holds p
        for (a, b), (c, d) in zip(old, new):
            if p < c:
                break
            if p <= d and text[a:b] != fixed[c:d]:
                lead, core, _ = _PARTS.match(text[a:b]).groups()
                flead, fcore, _ = _PARTS.match(fixed[c:d]).groups()
                if p - c <= len(flead):
                    return a + p - c
                if p - c >= len(flead) + len(fcore):  # in the trailing punctuation: counted from the word's end
                    return b - (d - p)
                return a + len(lead) + (len(core) if is_end else 0)
            shift = b - d
        return p + shift

    return lambda start, end: (point(start, False), point(end, True))


class WordRecognition:
    """A task with the word recogniser in front of what reads input: predict, evaluate, attack_scores,
    explain_probe, active_outputs and label_quality get corrected copies of the examples; every other attribute is the task's
    own. Predictions come back in the user's terms (the task's optional `restore` hook: QA's answer and NER's
    entities are spans of the user's text, not of the corrected copy)."""

    def __init__(self, task, fixer: WordFixer):
        self.task, self.fixer = task, fixer
        fix = lambda examples: fixer.apply(task, examples)  # noqa: E731
        self.predict = lambda rt, examples: self._restore(examples, *self._predict(rt, examples))
        self.evaluate = self._evaluate
        # optional hooks stay optional: wrapped only where the task has them
        if getattr(task, "attack_scores", None) is not None:
            self.attack_scores = lambda rt, examples: task.attack_scores(rt, fix(examples))
        if getattr(task, "explain_probe", None) is not None:
            self.explain_probe = self._explain_probe
        # `suggest --model` ranks pool rows by what the network reads (probabilities and embeddings only, no text)
        if getattr(task, "active_outputs", None) is not None:
            self.active_outputs = lambda rt, examples, embed: task.active_outputs(rt, fix(examples), embed)
        # `label-issues` of a model trained with --word-recognition: scored as the network reads the rows, shown as
        # the user wrote them
        if getattr(task, "label_quality", None) is not None:
            self.label_quality = lambda rt, examples, shown=None: task.label_quality(rt, fix(examples),
                                                                                     shown or examples)

    def _predict(self, rt, examples):
        fixed = self.fixer.apply(self.task, examples)
        return fixed, self.task.predict(rt, fixed)

    def _restore(self, examples, fixed, predictions):
        restore = getattr(self.task, "restore", None)
        if restore is None:
            return predictions
        return [restore(e, f, p) for e, f, p in zip(examples, fixed, predictions)]

    def _evaluate(self, rt, examples):
        """The metrics of the corrected copies (the gold labels move with their words); the prediction rows
        written beside the user's rows are in the user's terms."""
        fixed = self.fixer.apply(self.task, examples)
        metrics, predictions = self.task.evaluate(rt, fixed)
        return metrics, self._restore(examples, fixed, predictions)

    def _explain_probe(self, rt, example, prediction, target=None):
        """The probe of what the network read (the corrected words, and the prediction on them: explain's
        probes find the answer and entities by their offsets there); its info lists the corrections."""
        fixed, [read] = self._predict(rt, [example])
        probes = self.task.explain_probe(rt, fixed[0], read, target)
        corrections = {}
        for word, _ in _recorded(self.task, example):
            if (to := self.fixer.correct(word)) is not None:
                corrections[word] = to
        for probe in probes if isinstance(probes, list) else [probes]:
            probe.info["prediction"] = prediction  # the user's terms, as predict gives it
            if corrections:
                probe.info["word_recognition"] = corrections
        return probes

    def __getattr__(self, name):  # only for what __init__ did not set
        return getattr(self.task, name)


def attach(directory: str, fixer: WordFixer) -> None:
    """Write the front end into a trained model directory and name it in its labeltune.json (train does this with
    --word-recognition; benchmarks use it to add the front end to a model already trained)."""
    from ..files import atomic_write_text

    name = fixer.save(directory)
    meta_path = os.path.join(directory, "labeltune.json")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    meta["word_recognition"] = {"file": name, "language": fixer.language, "words": len(fixer.counts)}
    meta["files"] = sorted(set(meta.get("files") or []) | {name})
    atomic_write_text(meta_path, json.dumps(meta, indent=1))


NO_FLAG_HELP = ("a model trained with --word-recognition: the network alone, without its typo-correcting front end "
                "(to compare)")


def switch_off(given: bool, *models: str) -> dict:
    """The `load()` keywords of the CLI flag --no-word-recognition (serve, explain, robustness): refused, like every
    flag that would do nothing, when no model named has a front end to turn off."""
    if not given:
        return {}
    from ..errors import UserError
    from ..run import read_meta

    if not any(read_meta(m).get("word_recognition") for m in models if m):
        raise UserError(f"--no-word-recognition: {models[0]} has no word-recognition front end to turn off (it was "
                        "trained without --word-recognition)")
    return {"word_recognition": False}


def wrap(task, directory: str, meta: dict, enabled: bool = True):
    """The task a loaded model predicts with: wrapped when its labeltune.json names a front end (and `enabled`)."""
    if not meta.get("word_recognition") or not enabled:
        return task
    return WordRecognition(task, WordFixer.load(directory))
