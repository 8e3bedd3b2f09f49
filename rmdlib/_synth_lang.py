"""Derived languages for `rmdlib.synth`: the base language at a controlled distance.

Private module; the public names are re-exported by `rmdlib.synth`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Sequence

Example = tuple[list[str], list[str]]

_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SCRIPTS = {  # letter for letter: word lengths and boundaries survive the change of script
    "greek": str.maketrans(_LATIN, "αβψδεφγηιξκλμνοπϙρστθωςχυζΑΒΨΔΕΦΓΗΙΞΚΛΜΝΟΠϘΡΣΤΘΩϚΧΥΖ"),
    "cyrillic": str.maketrans(_LATIN, "абцдефгхийклмнопярстувшжызАБЦДЕФГХИЙКЛМНОПЯРСТУВШЖЫЗ"),
}
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "ch")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
_CODAS = ("", "", "n", "r", "s", "l")  # 16 * 8 * 5 distinct syllables: collisions are very rare
_FINAL = {".", "!", "?", "...", '"'}


def _pseudo_word(key: str, seed: int) -> str:
    """Invented word for `key`, a pure function of (key, seed); length grows with len(key)."""
    r = random.Random(f"{seed}:pseudo:{key}")
    n = 2 if len(key) <= 3 else 3 if len(key) <= 6 else 4
    return "".join(r.choice(_ONSETS) + r.choice(_VOWELS) + r.choice(_CODAS) for _ in range(n))


def _translate(word: str, seed: int, share: float) -> str:
    """Replace a plain word iff its seeded hash u = crc32(seed:word) / 2**32 < share."""
    key = word.lower()
    if not (word.isascii() and word.isalpha()) or zlib.crc32(f"{seed}:{key}".encode()) / 2**32 >= share:
        return word
    new = _pseudo_word(key, seed)
    if word.isupper() and len(word) > 1:
        return new.upper()
    return new.capitalize() if word[0].isupper() else new


def _reversed_order(words: Sequence[str], tags: Sequence[str]) -> list[int]:
    """Positions in reversed word order, keeping each entity's words together and final punctuation last."""
    end = len(words)
    while end and words[end - 1] in _FINAL:  # keep `. "` of a quote-final sentence last
        end -= 1
    units, i = [], 0
    while i < end:
        j = i + 1
        while j < end and tags[j].startswith("I-"):
            j += 1
        units.append(range(i, j))
        i = j
    return [k for unit in reversed(units) for k in unit] + list(range(end, len(words)))


def _check_example(i: int, tokens: Sequence[str], tags: Sequence[str]) -> None:
    if len(tokens) != len(tags):
        raise ValueError(f"example {i}: {len(tokens)} tokens but {len(tags)} tags")
    prev = "O"
    for j, tag in enumerate(tags):
        if tag != "O" and (tag[:2] not in ("B-", "I-") or len(tag) < 3):
            raise ValueError(f"example {i}, token {j}: {tag!r} is not an IOB2 tag")
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            raise ValueError(f"example {i}, token {j}: {tag!r} after {prev!r} is not valid IOB2")
        prev = tag


@dataclass(frozen=True)
class Language:
    """A derived language: what `derive_language` changes, as one value (`synth.ner_splits(language=...)`).

    """

    vocab_share: float = 0.0  # share of plain word types replaced by invented words (entities kept)
    reorder: float = 0.0  # probability that a sentence's word order is reversed
    script: str | None = None  # None, "greek" or "cyrillic"
    seed: int = 0  # decides which words are replaced, how, and which sentences are reversed

    def __post_init__(self) -> None:
        for name in ("vocab_share", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.script is not None and self.script not in _SCRIPTS:
            raise ValueError(f"unknown script {self.script!r}; choose None or one of {sorted(_SCRIPTS)}")


def _order(words: Sequence[str], tags: Sequence[str], reverse: bool) -> list[int]:
    """Positions of the derived sentence: identity, or `_reversed_order`."""
    return _reversed_order(words, tags) if reverse else list(range(len(words)))


class _Deriver:
    """Derives sentence after sentence; one reorder stream (seeded "{seed}:reorder") per sequence."""

    def __init__(self, lang: Language) -> None:
        self.lang, self.rng = lang, random.Random(f"{lang.seed}:reorder")

    def order(self, tokens: Sequence[str], tags: Sequence[str]) -> list[int]:
        """Draws the next sentence's reversal and returns its word order."""
        lang = self.lang
        return _order(tokens, tags, lang.reorder > 0 and self.rng.random() < lang.reorder)

    def __call__(self, tokens: Sequence[str], tags: Sequence[str]) -> Example:
        lang = self.lang
        words = [_translate(w, lang.seed, lang.vocab_share) if t == "O" else w for w, t in zip(tokens, tags)]
        order = self.order(tokens, tags)
        words, labels = [words[k] for k in order], [tags[k] for k in order]
        if lang.script is not None:
            words = [w.translate(_SCRIPTS[lang.script]) for w in words]
        return words, labels


def derive_language(examples: Sequence[tuple[Sequence[str], Sequence[str]]], *, vocab_share: float,
                    reorder: float, script: str | None, seed: int) -> list[Example]:
    """A "language" at a controlled distance from `examples`; tags travel with their words.

    vocab_share: each plain word type outside entities (tag O, ASCII letters only) is replaced
    by an invented word iff crc32(seed:word) / 2**32 < vocab_share, so the replaced set grows
    with the share and the same seed maps a word the same way in every split. Entity words are
    kept: names cross languages. The word -> invented word map is a bijection except for rare
    collisions (on the micro-world's ~700 plain words, one merged pair for ~1 seed in 100).
    reorder: probability that a sentence's word order is reversed (entities stay contiguous
    and in order, final punctuation stays last): a crude head-final language; capitals stay
    where they were, so a reversed sentence may start lower-case.
    script: None, "greek" or "cyrillic": letters transliterated one to one, entities included.
    `synth.ner_splits(language=Language(...))` gives the same sentences split by split.
    """
    derive = _Deriver(Language(vocab_share, reorder, script, seed))
    out = []
    for i, (tokens, tags) in enumerate(examples):
        _check_example(i, tokens, tags)
        out.append(derive(tokens, tags))
    return out


def word_orders(examples: Sequence[tuple[Sequence[str], Sequence[str]]], lang: Language) -> list[list[int]]:
    """For each sentence, the source positions in the order `derive_language` puts them.

     (`rmdlib.transfer.word_order_distance`).
    """
    derive = _Deriver(lang)
    return [derive.order(tokens, tags) for tokens, tags in examples]


def vocab_overlap(a: Sequence, b: Sequence) -> float:
    """Jaccard overlap |A ∩ B| / |A ∪ B| of token types; items are (tokens, tags) or token lists.

    """
    def types(examples: Sequence) -> set[str]:
        pairs = (ex[0] if len(ex) == 2 and not isinstance(ex[0], str) else ex for ex in examples)
        return {t for tokens in pairs for t in tokens}

    ta, tb = types(a), types(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0
