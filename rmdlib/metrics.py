"""Evaluation metrics: entity-level P/R/F1 for NER and boundary P/R/F1 for SBD.

All functions are pure: lists in, numbers or a ``pandas.DataFrame`` out.

NER (chapters 4, 6, 7) is scored on *entities*, not tokens: a predicted entity
counts only if its type and its exact span equal a gold entity's.  Spans come
from seqeval's ``get_entities`` (its default mode, which reproduces the
``conlleval`` script of the CoNLL-2000/2003 shared tasks, Tjong Kim Sang and
De Meulder 2003).

Zero-division convention (everywhere in this module): a ratio whose
denominator is 0 is 0.0, never NaN.  So a model that predicts no entity gets
precision 0, and F1 is 0 when precision + recall is 0.  seqeval does the same
(``zero_division=0``); we just do it without a warning.

Sentence boundaries (chapter 5) are character offsets one past the last
non-space character of each sentence (``sentence_ends``, see
:mod:`rmdlib.synth`).  The end of a document's last sentence counts like any
other end, as in the published UD English EWT numbers, although every splitter
gets it right for free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import pandas as pd
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

__all__ = [
    "boundary_scores",
    "entity_confusion",
    "entity_scores",
    "entity_table",
    "prf",
    "sentence_scores",
    "token_accuracy",
]

Span = tuple[int, str, int, int]  # (sentence index, type, start, end exclusive)
MISSED = "missed"  # confusion column: no predicted entity has the gold span
SPURIOUS = "spurious"  # confusion row: no gold entity has the predicted span


def prf(n_correct: int, n_pred: int, n_true: int) -> dict[str, float | int]:
    """Precision, recall and F1 from counts, with 0 (not NaN) for 0/0.

    P = c / p, R = c / t, F1 = 2PR / (P + R) (van Rijsbergen's F with beta = 1).
    """
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_true if n_true else 0.0
    denom = precision + recall
    f1 = 2 * precision * recall / denom if denom else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "support": n_true, "n_pred": n_pred, "n_correct": n_correct}


def _check_tags(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> None:
    """Fail with the sentence index when the two taggings cannot be compared."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} sentences but y_pred has {len(y_pred)}")
    for i, (gold, pred) in enumerate(zip(y_true, y_pred)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise ValueError(f"sentence {i}: expected a list of tags, got a string")
        if len(gold) != len(pred):
            raise ValueError(f"sentence {i}: {len(gold)} gold tags but {len(pred)} predicted tags")
        for tag in (*gold, *pred):
            if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
                raise ValueError(f"sentence {i}: tag {tag!r} is not 'O', 'B-TYPE' or 'I-TYPE'")


def _spans(tags: Sequence[Sequence[str]], strict: bool) -> set[Span]:
    """Entity spans of every sentence; strict = seqeval's IOB2 strict mode."""
    if strict:
        return {(e.sent_id, e.tag, e.start, e.end)
                for sent in Entities([list(s) for s in tags], IOB2).entities for e in sent}
    return {(i, typ, start, end + 1)  # get_entities gives an inclusive end
            for i, sent in enumerate(tags) for typ, start, end in get_entities(list(sent))}


def _typed_counts(y_true, y_pred, strict: bool) -> tuple[Counter, Counter, Counter]:
    """Per-type counts of correct, predicted and gold entities."""
    _check_tags(y_true, y_pred)
    gold, pred = _spans(y_true, strict), _spans(y_pred, strict)
    return _count_types(gold & pred), _count_types(pred), _count_types(gold)


def _count_types(spans: set[Span]) -> Counter:
    """Number of spans per entity type."""
    return Counter(typ for _, typ, _, _ in spans)


def entity_scores(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *,
                  strict: bool = False) -> dict[str, float | int]:
    """Micro-averaged entity precision, recall and F1 (conlleval by default).

    ``y_true`` and ``y_pred`` are lists (one per sentence) of IOB tag lists of
    equal length.  An entity is correct when type, start and end all match.

    ``strict=False`` (default, = conlleval = seqeval's default mode): an
    ``I-X`` after ``O`` or after another type *starts* an entity.
    ``strict=True`` (seqeval ``mode="strict", scheme=IOB2``): only ``B-X``
    starts an entity, so an ``I-X`` after ``O`` is *dropped*, not counted; an
    ill-formed prediction then scores lower than under conlleval.

    Returns precision, recall, f1, support (gold entities), n_pred, n_correct;
    0/0 is 0.0.  Used in chapters 3, 4, 6, 7, 8 and 9.
    """
    correct, pred, gold = _typed_counts(y_true, y_pred, strict)
    return prf(sum(correct.values()), sum(pred.values()), sum(gold.values()))


def entity_table(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *,
                 strict: bool = False) -> pd.DataFrame:
    """Per-type precision, recall, f1 and support, plus a ``micro avg`` row.

    Types are every type seen in gold or prediction, sorted (as in seqeval's
    ``classification_report``).  Same conventions as :func:`entity_scores`.
    Used in chapter 4.
    """
    correct, pred, gold = _typed_counts(y_true, y_pred, strict)
    rows = {t: prf(correct[t], pred[t], gold[t]) for t in sorted(set(pred) | set(gold))}
    rows["micro avg"] = prf(sum(correct.values()), sum(pred.values()), sum(gold.values()))
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table[["precision", "recall", "f1", "support", "n_pred", "n_correct"]]


def entity_confusion(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *,
                     strict: bool = False) -> pd.DataFrame:
    """Entity-span confusion matrix: rows gold type, columns predicted type.

    Counts entity *spans*, not tokens.  Every gold entity adds 1 to
    ``[gold type, predicted type]`` if some predicted entity has exactly the
    same span (the diagonal = correct entities, off-diagonal = right span,
    wrong type), else to ``[gold type, "missed"]``.  Every predicted entity
    whose span is no gold span adds 1 to ``["spurious", predicted type]``.
    A boundary error (overlapping but unequal spans) therefore counts once as
    missed and once as spurious, exactly as conlleval counts it once as a false
    negative and once as a false positive.  Row sums = gold support per type;
    column sums = predictions per type.  Used in chapter 4.
    """
    correct, pred, gold = _typed_counts(y_true, y_pred, strict)  # also validates
    types = sorted(set(pred) | set(gold))
    table = pd.DataFrame(0, index=[*types, SPURIOUS], columns=[*types, MISSED])
    table.index.name, table.columns.name = "gold", "predicted"
    gold_spans = {(s, a, b): t for s, t, a, b in _spans(y_true, strict)}
    pred_spans = {(s, a, b): t for s, t, a, b in _spans(y_pred, strict)}
    for where, gold_type in gold_spans.items():
        table.loc[gold_type, pred_spans.get(where, MISSED)] += 1
    for where, pred_type in pred_spans.items():
        if where not in gold_spans:
            table.loc[SPURIOUS, pred_type] += 1
    return table


def token_accuracy(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose tag is right -- the WRONG headline number for NER.

    Most tokens are ``O``, so a tagger that never predicts an entity already
    scores the share of ``O`` tokens (about 0.83 on CoNLL-2003 English) while
    its entity F1 is 0.  Chapter 4 shows it only to make that point.
    """
    _check_tags(y_true, y_pred)
    n_tokens = sum(len(sent) for sent in y_true)
    n_right = sum(g == p for gold, pred in zip(y_true, y_pred) for g, p in zip(gold, pred))
    return n_right / n_tokens if n_tokens else 0.0


def _end_sets(true_ends, pred_ends) -> list[tuple[list[int], list[int]]]:
    """Sorted, checked sentence ends per document, gold and predicted."""
    true_ends, pred_ends = list(true_ends), list(pred_ends)
    if len(true_ends) != len(pred_ends):
        raise ValueError(f"{len(true_ends)} gold documents but {len(pred_ends)} predicted")
    docs = []
    for i, pair in enumerate(zip(true_ends, pred_ends)):
        checked = []
        for name, ends in zip(("gold", "predicted"), pair):
            ends = sorted(int(e) for e in ends)
            if any(e < 0 for e in ends) or len(set(ends)) != len(ends):
                raise ValueError(f"document {i}: {name} sentence ends must be distinct "
                                 f"non-negative offsets, got {ends}")
            checked.append(ends)
        docs.append((checked[0], checked[1]))
    return docs


def boundary_scores(true_ends: Iterable[Iterable[int]],
                    pred_ends: Iterable[Iterable[int]]) -> dict[str, float | int]:
    """Precision, recall and F1 of sentence-end offsets, micro-averaged over documents.

    ``true_ends`` / ``pred_ends``: one iterable of end offsets per document.
    A predicted end is correct when the same offset is a gold end.  The last
    end of each document counts (see the module docstring).  Used in chapters 5 and 8.
    """
    n_correct = n_pred = n_true = 0
    for gold, pred in _end_sets(true_ends, pred_ends):
        n_correct += len(set(gold) & set(pred))
        n_pred, n_true = n_pred + len(pred), n_true + len(gold)
    return prf(n_correct, n_pred, n_true)


def _sentence_spans(ends: list[int]) -> set[tuple[int, int]]:
    """(start, end) of each sentence; a sentence starts where the previous ended."""
    return set(zip([0, *ends[:-1]], ends))


def sentence_scores(true_ends: Iterable[Iterable[int]],
                    pred_ends: Iterable[Iterable[int]]) -> dict[str, float | int]:
    """Precision, recall and F1 of whole sentences, micro-averaged over documents.

    Sentence k is ``text[end[k-1]:end[k]]`` with ``end[-1] = 0``; a predicted
    sentence is correct only if both its start and its end match a gold
    sentence, so one missed boundary costs two gold sentences.  Used in chapter 5.
    """
    n_correct = n_pred = n_true = 0
    for gold, pred in _end_sets(true_ends, pred_ends):
        n_correct += len(_sentence_spans(gold) & _sentence_spans(pred))
        n_pred, n_true = n_pred + len(pred), n_true + len(gold)
    return prf(n_correct, n_pred, n_true)
