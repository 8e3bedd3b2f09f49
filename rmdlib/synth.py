"""The synthetic micro-world: seeded English-like text for NER and sentence boundaries.

Sentences come from templates (`rmdlib._synth_words`) whose slots are filled
with common words, numbers, dates and entities of four types. Entities are
composed from name-part pools split 3 : 1 : 1 into train / validation / test
parts, so a share of the validation and test mentions (`heldout_rate`) is
built from parts that never occur in training. A small pool of forms
(Washington, Jordan, ...) is shared by PER, LOC and ORG in every split: only
the context tells the type. Everything is a pure function of a seed.

Used in chapters 1, 2, 5, 8 and 9.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, fields
from typing import NamedTuple, Sequence

from rmdlib import _synth_words as W
from rmdlib._synth_lang import Example, Language, _Deriver, derive_language, vocab_overlap, word_orders
from rmdlib.conll import SbdDoc  # the SBD example format; its home is the reader of real treebanks

__all__ = ["LABELS", "ENTITY_TYPES", "SPLITS", "WorldConfig", "SbdDoc", "Language", "ner_splits",
           "sbd_splits", "corpus", "derive_language", "vocab_overlap", "word_orders"]

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and rates of the micro-world; vary with `dataclasses.replace`."""

    ner_sizes: tuple[int, int, int] = (5000, 1000, 1000)  # sentences: 1/3 of CoNLL-2003; a CPU epoch in seconds
    sbd_sizes: tuple[int, int, int] = (400, 100, 100)  # documents of ~8 sentences each
    corpus_docs: int = 2000  # pretraining documents (~16k sentences): enough for a 4k WordPiece vocabulary
    doc_sentences: tuple[int, int] = (4, 12)  # sentences per document: fits one 256-subword window
    inventory: int = 600  # distinct entities per type and pool part: thousands in all, train ones seen repeatedly
    skew: float = 2.0  # mention index = n * u**skew: a few famous entities and a long tail, as in news
    surname_rate: float = 0.25  # PER mentions by surname alone ("Smith said"), as in later mentions
    heldout_rate: float = 0.5  # validation/test mentions built from held-out name parts: never seen in train
    ambiguous_rate: float = 0.1  # PER/LOC/ORG mentions with a form shared across types: context decides
    lowercase_rate: float = 0.08  # SBD: sentences starting lower-case (chat, OCR, careless writing)
    newline_rate: float = 0.25  # SBD: sentence gaps that are line breaks instead of spaces
    drop_period_rate: float = 0.4  # SBD: a sentence before a line break loses its final period
    headline_rate: float = 0.4  # SBD: documents opening with an unpunctuated headline line

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0.0 if f.name.endswith(("_rate", "_sizes")) else 1e-9  # counts, skew: positive
            high = 1.0 if f.name.endswith("_rate") else float("inf")
            if not all(low <= v <= high for v in (value if isinstance(value, tuple) else (value,))):
                raise ValueError(f"WorldConfig.{f.name} must lie in [{low:g}, {high:g}], got {value}")
        if self.doc_sentences[0] > self.doc_sentences[1]:
            raise ValueError(f"WorldConfig.doc_sentences must have low <= high, got {self.doc_sentences}")


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else noun + "s"


_VERBS = [tuple(pair.split(":")) for pair in W.VERBS]
_TEMPLATES = [line.split() for line in W.TEMPLATES.splitlines() if line.strip()]
_HEADLINES = [line.split() for line in W.HEADLINES.splitlines() if line.strip()]
_GROUP = (0, 0, 0, 1, 2)  # pool item i goes to part _GROUP[i % 5]: 0 train, 1 validation, 2 test


def _common_words() -> set[str]:
    """Lower-cased words that are not names, so no name part doubles as one."""
    words = [*W.NOUNS, *map(_plural, W.NOUNS), *(v for pair in _VERBS for v in pair), *W.ADJECTIVES,
             *W.ADVERBS, *" ".join(W.SAY).split(), *W.DAYS, *W.MONTHS, *W.TEMPLATES.split(),
             *W.HEADLINES.split(), *" ".join(W.ORG_SUFFIXES + W.ORG_OF + W.ORG_NAT + W.LOC_PREFIX
                                             + W.LOC_SUFFIX + W.MISC_CITY + W.MISC_NAT).split()]
    return {w.lower() for w in words}


def _name_parts() -> tuple[dict[str, list[str]], ...]:
    """Name pools made disjoint (from each other, common words, shared forms), split in 3 parts."""
    common, taken = _common_words(), set(W.AMBIGUOUS)
    pools = {}
    for key, pool in (("first", W.FIRST), ("last", W.LAST), ("city", W.CITIES),
                      ("country", W.COUNTRIES), ("nat", W.NATIONALITIES), ("letter", W.LETTERS)):
        pools[key] = [w for w in dict.fromkeys(pool) if w.lower() not in common and w not in taken]
        taken.update(pools[key])
    return tuple({k: [w for i, w in enumerate(p) if _GROUP[i % 5] == g] for k, p in pools.items()}
                 for g in range(3))


_PARTS = _name_parts()


def _per(r: random.Random, p: dict[str, list[str]]) -> tuple[str, ...]:
    first, last = r.choice(p["first"]), r.choice(p["last"])
    return (first, r.choice(W.LETTERS) + ".", last) if r.random() < 0.15 else (first, last)


def _org(r: random.Random, p: dict[str, list[str]]) -> tuple[str, ...]:
    k = r.random()
    if k < 0.3:  # a company named after a person ...
        return r.choice(p["last"]), r.choice(W.ORG_SUFFIXES)
    if k < 0.45:  # ... or after a place
        return r.choice(p["city"]), r.choice(W.ORG_SUFFIXES)
    if k < 0.6:
        return (*r.choice(W.ORG_OF).split(), r.choice(p["city"]))
    if k < 0.7:
        return (r.choice(p["nat"]), *r.choice(W.ORG_NAT).split())
    if k < 0.8:
        return r.choice(p["last"]), "&", r.choice(p["last"])
    if k < 0.9:
        return r.choice(p["last"]), r.choice(W.ORG_LEGAL)
    return (r.choice(p["letter"]) + "".join(r.choices(W.LETTERS, k=2)),)  # acronym


def _loc(r: random.Random, p: dict[str, list[str]]) -> tuple[str, ...]:
    k = r.random()
    if k < 0.7:
        return (r.choice(p["city"] if k < 0.45 else p["country"]),)
    if k < 0.85:
        return r.choice(W.LOC_PREFIX), r.choice(p["last"] + p["city"])
    return r.choice(p["last"]), r.choice(W.LOC_SUFFIX)


def _misc(r: random.Random, p: dict[str, list[str]]) -> tuple[str, ...]:
    if r.random() < 0.6:
        return (r.choice(p["city"]), *r.choice(W.MISC_CITY).split())
    return (r.choice(p["nat"]), *r.choice(W.MISC_NAT).split())


_BUILD = {"PER": _per, "ORG": _org, "LOC": _loc, "MISC": _misc}


@functools.lru_cache(maxsize=8)
def _world(seed: int, cfg: WorldConfig) -> tuple[dict[str, tuple[tuple[str, ...], ...]], ...]:
    """Entity inventories per pool part (train, validation, test) and type."""
    r = random.Random(f"{seed}:world")
    world = []
    for parts in _PARTS:
        inv = {}
        for etype, build in _BUILD.items():
            seen: dict[tuple[str, ...], None] = {}
            for _ in range(20 * cfg.inventory):
                seen.setdefault(build(r, parts), None)
                if len(seen) == cfg.inventory:
                    break
            inv[etype] = tuple(seen)
        world.append(inv)
    return tuple(world)


class _Ctx(NamedTuple):
    rng: random.Random
    world: tuple[dict[str, tuple[tuple[str, ...], ...]], ...]
    group: int  # 0 train, 1 validation, 2 test
    cfg: WorldConfig
    derive: _Deriver | None = None  # a derived language: applied to every finished sentence

    def part(self) -> int:
        """Pool part of the next mention: held-out only outside train."""
        return self.group if self.group and self.rng.random() < self.cfg.heldout_rate else 0


def _mention(c: _Ctx, etype: str) -> tuple[str, ...]:
    r = c.rng
    if etype != "MISC" and r.random() < c.cfg.ambiguous_rate:
        form = r.choice(W.AMBIGUOUS)
        return (form, r.choice(W.ORG_SUFFIXES)) if etype == "ORG" else (form,)
    inv = c.world[c.part()][etype]
    entity = inv[int(len(inv) * r.random() ** c.cfg.skew)]
    return entity[-1:] if etype == "PER" and r.random() < c.cfg.surname_rate else entity


_WORD_SLOTS = {
    "N": lambda r: [r.choice(W.NOUNS)],
    "NS": lambda r: [_plural(r.choice(W.NOUNS))],
    "VB": lambda r: [r.choice(_VERBS)[0]],
    "VD": lambda r: [r.choice(_VERBS)[1]],
    "ADJ": lambda r: [r.choice(W.ADJECTIVES)],
    "ADV": lambda r: [r.choice(W.ADVERBS)],
    "SAY": lambda r: r.choice(W.SAY).split(),
    "NUM": lambda r: [str(r.randint(2, 99))],
    "DEC": lambda r: [f"{r.randint(1, 999) / 10:.1f}"],
    "BIG": lambda r: [f"{r.randint(1000, 99999):,}"],
    "MONEY": lambda r: ["$", f"{r.randint(11, 999) / 10:.1f}", r.choice(("million", "billion"))],
    "DAY": lambda r: [r.choice(W.DAYS)],
    "MONTH": lambda r: [r.choice(W.MONTHS)],
    "DATE": lambda r: [r.choice(W.MONTHS), str(r.randint(1, 28))],
    "YEAR": lambda r: [str(r.randint(1950, 2030))],
    "TIME": lambda r: [str(r.randint(1, 12)), r.choice(("a.m.", "p.m."))],
}


def _slot(name: str, c: _Ctx) -> tuple[list[str], list[str]]:
    """Words and IOB2 tags for one template slot."""
    if name in _WORD_SLOTS:
        words = _WORD_SLOTS[name](c.rng)
        return words, ["O"] * len(words)
    if name == "TPER":
        words, tags = _slot("PER", c)
        return [c.rng.choice(W.TITLES), *words], ["O", *tags]
    if name == "NAT":
        etype, words = "MISC", [c.rng.choice(_PARTS[c.part()]["nat"])]
    elif name == "ORGX":
        etype, words = "ORG", [c.rng.choice(_PARTS[c.part()]["last"]), c.rng.choice(("Inc.", "Corp."))]
    elif name == "USA":
        etype, words = "LOC", ["U.S."]
    else:
        etype, words = name, list(_mention(c, name))
    return words, [f"B-{etype}"] + [f"I-{etype}"] * (len(words) - 1)


def _sentence(c: _Ctx, templates: list[list[str]]) -> Example:
    """One sentence as CoNLL-style tokens with IOB2 tags."""
    tokens: list[str] = []
    tags: list[str] = []
    for piece in c.rng.choice(templates):
        words, labels = _slot(piece[1:-1], c) if piece[0] == "{" else ([piece], ["O"])
        tokens += words
        tags += labels
    k = next(i for i, t in enumerate(tokens) if t[0].isalnum())  # skip an opening quote
    if tags[k] == "O":
        tokens[k] = tokens[k][0].upper() + tokens[k][1:]
    return c.derive(tokens, tags) if c.derive else (tokens, tags)


def _per_split(seed: int, kind: str, sizes: tuple[int | None, ...], defaults: tuple[int, ...],
               cfg: WorldConfig, make, language: Language | None = None) -> dict[str, list]:
    """`make(ctx)` called n times per split, each split with its own seeded stream."""
    sizes = tuple(d if n is None else n for d, n in zip(defaults, sizes))
    if min(sizes) < 0:
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    world, out = _world(seed, cfg), {}
    for g, (name, n) in enumerate(zip(SPLITS, sizes)):
        derive = _Deriver(language) if language else None  # the derived sentences never touch c.rng
        c = _Ctx(random.Random(f"{seed}:{kind}:{name}"), world, g, cfg, derive)
        out[name] = [make(c) for _ in range(n)]
    return out


def ner_splits(seed: int = 0, n_train: int | None = None, n_val: int | None = None,
               n_test: int | None = None, config: WorldConfig | None = None,
               language: Language | None = None) -> dict[str, list[Example]]:
    """Sentences as (tokens, IOB2 tags) for "train", "validation", "test"; sizes default to config.ner_sizes.

    ``language`` gives the same sentences in a derived language (entities and labels kept;
    equal to ``derive_language`` applied to each split). Used in chapters 1 and 9.
    """
    cfg = config or WorldConfig()
    return _per_split(seed, "ner", (n_train, n_val, n_test), cfg.ner_sizes, cfg, lambda c: _sentence(c, _TEMPLATES),
                      language)


_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "%", "'s", "..."}


def _detok(tokens: Sequence[str]) -> str:
    """Join tokens as written text: `" Yes , 3.5 % ! "` -> `"Yes, 3.5%!"`."""
    out, glue, quote_open = [], True, False
    for t in tokens:
        if t == '"':
            quote_open = not quote_open
            out.append(t if glue or not quote_open else " " + t)
            glue = quote_open
            continue
        clitic = t[:1] == "'" and t[1:].isalpha()  # 's, also after a change of script
        out.append(t if glue or clitic or t in _NO_SPACE_BEFORE else " " + t)
        glue = t in ("(", "$")
    return "".join(out)


def _joiner(r: random.Random, newline_rate: float) -> str:
    if r.random() < newline_rate:
        return "\n" if r.random() < 0.6 else "\n\n"
    return " " if r.random() < 0.8 else "  "


def _document(c: _Ctx) -> SbdDoc:
    """A document with headlines, dropped periods, lower-case starts and varied gaps."""
    r, cfg = c.rng, c.cfg
    pieces = []
    if r.random() < cfg.headline_rate:
        pieces.append([_detok(_sentence(c, _HEADLINES)[0]), r.choice(("\n", "\n\n"))])
    for _ in range(r.randint(*cfg.doc_sentences)):
        tokens, tags = _sentence(c, _TEMPLATES)
        gap = _joiner(r, cfg.newline_rate)
        if "\n" in gap and tokens[-1] == "." and r.random() < cfg.drop_period_rate:
            tokens = tokens[:-1]
        text = _detok(tokens)
        if tags[0] == "O" and tokens[0].isalpha() and r.random() < cfg.lowercase_rate:
            text = text[0].lower() + text[1:]
        pieces.append([text, gap])
    pieces[-1][1] = ""
    text, ends = "", []
    for sentence, gap in pieces:
        text += sentence
        ends.append(len(text))
        text += gap
    return SbdDoc(text, tuple(ends))


def sbd_splits(seed: int = 0, n_train: int | None = None, n_val: int | None = None,
               n_test: int | None = None, config: WorldConfig | None = None,
               language: Language | None = None) -> dict[str, list[SbdDoc]]:
    """Documents with sentence ends for "train", "validation", "test"; sizes default to config.sbd_sizes.

    ``language``: the same documents with every sentence in a derived language. Used in chapters 1, 5 and 8.
    """
    cfg = config or WorldConfig()
    return _per_split(seed, "sbd", (n_train, n_val, n_test), cfg.sbd_sizes, cfg, _document, language)


def corpus(seed: int = 0, n_docs: int | None = None, config: WorldConfig | None = None,
           language: Language | None = None) -> list[str]:
    """Running-text documents for tokenizer training and pretraining (train name parts only).

    ``language``: the same documents in a derived language. Used in chapters 2 and 9.
    """
    cfg = config or WorldConfig()
    c = _Ctx(random.Random(f"{seed}:corpus"), _world(seed, cfg), 0, cfg, _Deriver(language) if language else None)
    return [_document(c).text for _ in range(cfg.corpus_docs if n_docs is None else n_docs)]

