"""Comparing two arms: a paired bootstrap over test items, averaged over seeds.

The book's one rule for "A beats B" (see *How to use this book*): train both
arms with the same seeds, score both on the same test sentences, and report

    diff = mean over seeds s of [stat(A_s) - stat(B_s)]

with a percentile bootstrap interval (Efron and Tibshirani 1993, ch. 13).  Each
bootstrap resample draws n test items with replacement; the *same* item indices
are used for every seed and for both arms, so the variation that the two arms
share (hard sentences are hard for both) cancels out of the difference.  This is
the paired bootstrap of Koehn (2004) and Berg-Kirkpatrick et al. (2012), with
the seeds averaged inside each resample.  A verdict is "significant" when the
(1 - alpha) interval excludes 0.

What the interval covers: the sampling of the test set.  The seeds are averaged,
not resampled, so seed-to-seed variation narrows with more seeds but is not in
the interval; with 1 seed the verdict is about that one pair of models.

Used in chapters 1, 3, 5, 6, 7, 8 and 9.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from rmdlib.metrics import _check_tags, _end_sets, _spans

__all__ = ["Comparison", "boundary_counts", "paired_boundary_f1", "paired_bootstrap", "paired_f1", "sentence_counts"]


class Comparison(NamedTuple):
    """Difference A - B with its (1 - alpha) bootstrap interval [low, high]."""

    diff: float
    low: float
    high: float
    alpha: float
    n_seeds: int
    n_items: int
    n_boot: int = 1000

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 (A and B differ at level alpha)."""
        return self.low > 0 or self.high < 0

    def describe(self, name_a: str = "A", name_b: str = "B", fmt: str = ".3f", *,
                 items: str = "test sentences") -> str:
        """One sentence for the prose, e.g. ``A − B = +0.036 (95% CI ...)``."""
        seeds = f"{self.n_seeds} seed" + ("s" if self.n_seeds != 1 else "")
        return (f"{name_a} − {name_b} = {self.diff:+{fmt}} "
                f"({1 - self.alpha:.0%} CI {self.low:+{fmt}} to {self.high:+{fmt}}, "
                f"paired over {seeds}, {self.n_boot:,} bootstrap resamples "
                f"of {self.n_items:,} {items})")


def _per_seed(a: Sequence, b: Sequence) -> int:
    """Check that both arms have the same seeds and items; return the item count."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"arms need the same, non-zero number of seeds: {len(a)} vs {len(b)}")
    sizes = {len(records) for records in (*a, *b)}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every seed of both arms must score the same items, got sizes {sizes}")
    return sizes.pop()


def _take(records, idx: np.ndarray):
    """The records at positions ``idx`` (an array stays an array)."""
    if isinstance(records, np.ndarray):
        return records[idx]
    return [records[i] for i in idx]


def _interval(diffs: np.ndarray, alpha: float) -> tuple[float, float]:
    """Percentile interval of the bootstrap differences."""
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap(stat: Callable[[Any], float], a: Sequence, b: Sequence, *,
                     n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Comparison:
    """Paired bootstrap of ``stat(A) - stat(B)`` over items, averaged over seeds.

    ``a`` and ``b``: one sequence of per-item records per seed, paired by index
    (seed s of A with seed s of B; item i is the same test item everywhere).
    ``stat(records) -> float`` scores a subset of records (e.g. F1 from summed
    per-sentence counts).  Every resample draws the same n item indices for
    every seed and both arms.  Chapter 3 and 6 use it through :func:`paired_f1`.
    """
    n = _per_seed(a, b)
    rng = np.random.default_rng(seed)

    def diff(idx):
        return float(np.mean([stat(_take(ra, idx)) - stat(_take(rb, idx))
                              for ra, rb in zip(a, b)]))

    point = diff(np.arange(n))
    diffs = np.array([diff(rng.integers(0, n, size=n)) for _ in range(n_boot)])
    return Comparison(point, *_interval(diffs, alpha), alpha, len(a), n, n_boot)


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> np.ndarray:
    """Per-sentence entity counts (tp, fp, fn), shape (n_sentences, 3).

    Entities as in :func:`rmdlib.metrics.entity_scores` (seqeval's default
    mode = conlleval), so summing the rows gives that function's counts.
    """
    _check_tags(gold, pred)
    g, p = _spans(gold, strict=False), _spans(pred, strict=False)
    counts = np.zeros((len(gold), 3), dtype=np.int64)
    for column, spans in enumerate((g & p, p - g, g - p)):
        np.add.at(counts[:, column], [s for s, *_ in spans], 1)
    return counts


def _f1(counts: np.ndarray) -> np.ndarray:
    """F1 = 2 tp / (2 tp + fp + fn) over the last axis (tp, fp, fn); 0 for 0/0."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def _paired_counts(counts_a: np.ndarray, counts_b: np.ndarray, *, n_boot: int,
                   alpha: float, seed: int) -> Comparison:
    """:func:`paired_f1` on count arrays of shape (seeds, items, 3), vectorised."""
    n_seeds, n, _ = counts_a.shape
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(row, minlength=n)
                        for row in rng.integers(0, n, size=(n_boot, n))])  # (n_boot, n)
    per_seed = _f1(counts_a.sum(1)) - _f1(counts_b.sum(1))  # (seeds,)
    boot_a = _f1(np.einsum("bn,snk->bsk", weights, counts_a))  # (n_boot, seeds)
    boot_b = _f1(np.einsum("bn,snk->bsk", weights, counts_b))
    diffs = (boot_a - boot_b).mean(axis=1)  # (n_boot,)
    return Comparison(float(per_seed.mean()), *_interval(diffs, alpha), alpha,
                      n_seeds, n, n_boot)


def paired_f1(gold: Sequence[Sequence[str]], preds_a: Sequence, preds_b: Sequence, *,
              n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
              gold_b: Sequence[Sequence[str]] | None = None) -> Comparison:
    """Entity-F1 difference A - B, paired over seeds, bootstrapped over sentences.

    ``gold``: the test sentences' tag lists; ``preds_a`` / ``preds_b``: one
    list of predicted tag lists per seed (seed s of A paired with seed s of B).
    ``gold_b``: B's gold when B tags another version of the same sentences (a
    noisy copy, a derived language); sentence i must be the same item in both.
    F1 is seqeval's default-mode micro F1; each resample sums per-sentence
    (tp, fp, fn) counts, so it is one matrix product.
    """
    _per_seed(preds_a, preds_b)
    golds = (gold, gold if gold_b is None else gold_b)
    if len(golds[1]) != len(gold):
        raise ValueError(f"gold_b has {len(golds[1])} sentences, gold {len(gold)}: they must be the same items")
    counts = [np.stack([sentence_counts(g, p) for p in arm]) for g, arm in zip(golds, (preds_a, preds_b))]
    return _paired_counts(*counts, n_boot=n_boot, alpha=alpha, seed=seed)


def boundary_counts(true_ends: Sequence, pred_ends: Sequence) -> np.ndarray:
    """Per-document sentence-end counts (tp, fp, fn), shape (n_documents, 3).

    Ends as in :func:`rmdlib.metrics.boundary_scores` (character offsets, checked
    the same way), so summing the rows and taking 2 tp / (2 tp + fp + fn) gives
    that function's F1.
    """
    docs = _end_sets(true_ends, pred_ends)
    counts = [(len(set(g) & set(p)), len(set(p) - set(g)), len(set(g) - set(p))) for g, p in docs]
    return np.array(counts, dtype=np.int64).reshape(-1, 3)


def paired_boundary_f1(true_ends: Sequence, preds_a: Sequence, preds_b: Sequence, *,
                       n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Comparison:
    """Sentence-end F1 difference A - B, paired over seeds, bootstrapped over documents.

    The boundary twin of :func:`paired_f1`: ``preds_a`` / ``preds_b`` hold one
    list of predicted end offsets per document for each seed (a rule-based
    splitter has one "seed"; pair it with one seed of a model).
    """
    _per_seed(preds_a, preds_b)
    counts = [np.stack([boundary_counts(true_ends, p) for p in arm]) for arm in (preds_a, preds_b)]
    return _paired_counts(*counts, n_boot=n_boot, alpha=alpha, seed=seed)

