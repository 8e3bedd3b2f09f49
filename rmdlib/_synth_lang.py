"""Derived languages for `rmdlib.synth`: the base language at a controlled distance.

Private module; the public names are re-exported by `rmdlib.synth`.
"""

from __future__ import annotations

import random
import zlib
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


def _reverse(words: list[str], tags: list[str]) -> Example:
    """Reverse the word order, keeping each entity's words together and final punctuation last."""
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
    order = [k for unit in reversed(units) for k in unit] + list(range(end, len(words)))
    return [words[k] for k in order], [tags[k] for k in order]


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
    """
    for name, value in (("vocab_share", vocab_share), ("reorder", reorder)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if script is not None and script not in _SCRIPTS:
        raise ValueError(f"unknown script {script!r}; choose None or one of {sorted(_SCRIPTS)}")
    r = random.Random(f"{seed}:reorder")
    out = []
    for i, (tokens, tags) in enumerate(examples):
        _check_example(i, tokens, tags)
        words = [_translate(w, seed, vocab_share) if t == "O" else w for w, t in zip(tokens, tags)]
        labels = list(tags)
        if reorder > 0 and r.random() < reorder:
            words, labels = _reverse(words, labels)
        if script is not None:
            words = [w.translate(_SCRIPTS[script]) for w in words]
        out.append((words, labels))
    return out


def vocab_overlap(a: Sequence, b: Sequence) -> float:
    """Jaccard overlap |A ∩ B| / |A ∪ B| of token types; items are (tokens, tags) or token lists.

    """
    def types(examples: Sequence) -> set[str]:
        pairs = (ex[0] if len(ex) == 2 and not isinstance(ex[0], str) else ex for ex in examples)
        return {t for tokens in pairs for t in tokens}

    ta, tb = types(a), types(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0
