"""Non-neural baselines: a gazetteer tagger for NER and a regex sentence splitter.

A model is only worth training if it beats what a few lines of rules do.
Both baselines are deliberately transparent, so their failures can be read off
the rules: the gazetteer cannot tag a name it never saw and cannot tell
"Jordan" the person from "Jordan" the country; the splitter splits after
"Dr." and misses sentences that start in lower case.
Used in chapters 4 and 5 and in ``benchmarks/``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seqeval.metrics.sequence_labeling import get_entities

from rmdlib import synth
from rmdlib.metrics import boundary_scores, entity_scores, sentence_scores

__all__ = ["Gazetteer", "micro_world_baselines", "regex_split"]


@dataclass(frozen=True)
class Gazetteer:
    """A name list: token tuples mapped to their most frequent entity type.

    ``entries`` maps e.g. ``("New", "York")`` to ``"LOC"``; ``max_len`` is the
    longest entry in tokens (it bounds the search in :meth:`tag`).
    Used in chapter 4.
    """

    entries: dict[tuple[str, ...], str]
    max_len: int

    @classmethod
    def fit(cls, examples: Iterable[tuple[Sequence[str], Sequence[str]]]) -> Gazetteer:
        """Collect every entity string of IOB2-tagged ``(tokens, tags)`` examples.

        An entity string seen with several types keeps its most frequent one
        (ties: the alphabetically first type, so the result is deterministic).
        Matching is case-sensitive.
        """
        counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)
        for i, (tokens, tags) in enumerate(examples):
            if len(tokens) != len(tags):
                raise ValueError(f"example {i}: {len(tokens)} tokens but {len(tags)} tags")
            for typ, start, end in get_entities(list(tags)):  # end is inclusive
                counts[tuple(tokens[start:end + 1])][typ] += 1
        entries = {name: min(c, key=lambda t: (-c[t], t)) for name, c in counts.items()}
        return cls(entries=entries, max_len=max(map(len, entries), default=0))

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags by greedy longest match, left to right.

        At each position the longest entry starting there wins and the scan
        jumps past it; a token no entry starts at gets ``O``.
        """
        tags, i = [], 0
        while i < len(tokens):
            match = self._longest_match(tokens, i)
            if match == 0:
                tags.append("O")
                i += 1
                continue
            typ = self.entries[tuple(tokens[i:i + match])]
            tags += [f"B-{typ}"] + [f"I-{typ}"] * (match - 1)
            i += match
        return tags

    def _longest_match(self, tokens: Sequence[str], i: int) -> int:
        """Length of the longest entry starting at token i; 0 if none."""
        for n in range(min(self.max_len, len(tokens) - i), 0, -1):
            if tuple(tokens[i:i + n]) in self.entries:
                return n
        return 0


_CLOSERS = "\"')]}\u201d\u2019\u00bb"  # closing quotes and brackets after . ! ?
_OPENERS = "\"'([{\u201c\u2018\u00ab"  # opening quotes and brackets that may start a sentence
# [.!?]+ then closing quotes/brackets, then whitespace; group 1 = the next non-space char.
_TERMINAL = re.compile(r"[.!?]+[" + re.escape(_CLOSERS) + r"]*(?=\s+(\S))")
# a non-space char followed by a blank line (two newlines with only spaces between)
_BEFORE_BLANK_LINE = re.compile(r"\S(?=[^\S\n]*\n[^\S\n]*\n)")


def regex_split(text: str) -> list[int]:
    """Sentence ends (one past the last non-space char) found by three rules.

    1. After ``.``, ``!`` or ``?`` (a run of them, then optional closing quotes
       or brackets) when whitespace follows and then an upper-case letter, a
       digit or an opening quote/bracket.  So ``3.5`` never splits (no space),
       but ``Dr. Smith`` and ``the U.S. Army`` DO split: the known failure of
       every rule without an abbreviation list.
    2. Before a blank line (``\\n\\n``, spaces allowed between): paragraphs end
       sentences even without punctuation.  A single newline does not, since
       running text is often wrapped.
    3. At the end of the text (its last non-space char), if it has any.
    Used in chapter 5 as the baseline the tagger must beat.
    """
    ends = {m.end() for m in _TERMINAL.finditer(text) if _starts_sentence(m.group(1))}
    ends |= {m.end() for m in _BEFORE_BLANK_LINE.finditer(text)}
    stripped = text.rstrip()
    if stripped:
        ends.add(len(stripped))
    return sorted(ends)


def _starts_sentence(char: str) -> bool:
    """Whether a sentence may start with this character (rule 1)."""
    return char.isupper() or char.isdigit() or char in _OPENERS


def micro_world_baselines(seed: int = 0) -> dict[str, dict[str, float | int]]:
    """Score both baselines on the micro-world's test split at default sizes.

    The gazetteer is fit on the NER train split and scored on the NER test
    split (entity scores, conlleval); :func:`regex_split` is scored on the
    SBD test documents (boundary and sentence scores).  Returns
    ``{"gazetteer": ..., "regex_boundary": ..., "regex_sentence": ...}``,
    each a dict from :mod:`rmdlib.metrics`.
    """
    ner = synth.ner_splits(seed=seed)
    gazetteer = Gazetteer.fit(ner["train"])
    gold_tags = [list(tags) for _, tags in ner["test"]]
    pred_tags = [gazetteer.tag(tokens) for tokens, _ in ner["test"]]
    docs = synth.sbd_splits(seed=seed)["test"]
    gold_ends = [doc.sentence_ends for doc in docs]
    pred_ends = [regex_split(doc.text) for doc in docs]
    return {"gazetteer": entity_scores(gold_tags, pred_tags),
            "regex_boundary": boundary_scores(gold_ends, pred_ends),
            "regex_sentence": sentence_scores(gold_ends, pred_ends)}
