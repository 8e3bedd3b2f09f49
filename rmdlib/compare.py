"""Comparing two arms: a paired bootstrap over test items, and the spread between seeds.

The book's one rule for "A beats B" (see *How to use this book*): train both
arms with the same seeds, score both on the same test sentences, and report

    diff = mean over seeds s of d_s,     d_s = stat(A_s) - stat(B_s)

with an interval that covers both sources of chance in it:

* **the test sentences.** A paired percentile bootstrap (Efron and Tibshirani
  1993, ch. 13): each resample draws n test items with replacement, the *same*
  indices for every seed and for both arms, so what the arms share (hard
  sentences are hard for both) cancels out of the difference (Koehn 2004;
  Berg-Kirkpatrick et al. 2012).  Its variance is v.
* **the training runs.** Another seed moves fine-tuning results as much as
  many a method does (Dodge et al. 2020), and no test-set resampling sees
  that.  With k >= 2 seeds their spread enters as a = s_d^2 / k, s_d the
  standard deviation of the k paired differences d_s, less the part of it
  that v already counts: the seeds' different errors on the same sentences
  (mean over s of the bootstrap variance of d_s, minus v, over k - 1; the
  crossed seeds-by-sentences design of a two-way random-effects model).

With several seeds the interval is diff +- t * sqrt(a + v), t the Student
quantile at the Welch-Satterthwaite degrees of freedom
nu = (c + v)^2 / (c^2 / (k - 1) + v^2 / (n - 1)), c = s_d^2 / k the seed term
before the correction (Satterthwaite 1946; the "effective degrees of freedom"
of the GUM, JCGM 100:2008, annex G): close to
k - 1 when the seeds dominate (3 seeds give t = 4.3), close to the normal
quantile when the test sentences do.  ``seed_spread=False``, or a single
seed, gives the sentence-only percentile interval: a statement about these
trained models on this test set, not about the recipes.  A verdict is
"significant" when the (1 - alpha) interval excludes 0.

Used in chapters 1, 3, 5, 6, 7, 8 and 9.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from rmdlib.metrics import _check_tags, _end_sets, _spans

__all__ = ["Comparison", "boundary_counts", "paired_boundary_f1", "paired_bootstrap", "paired_f1", "sentence_counts"]


class Comparison(NamedTuple):
    """Difference A - B with its (1 - alpha) interval [low, high].

    ``seed_spread``: whether the interval includes the spread between seeds
    (the t interval of the module docstring) or covers the test items only.
    """

    diff: float
    low: float
    high: float
    alpha: float
    n_seeds: int
    n_items: int
    n_boot: int = 1000
    seed_spread: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Comparison:
        """The Comparison that ``_asdict()`` wrote, e.g. into a benchmark's JSON; other keys are ignored."""
        return cls(**{k: record[k] for k in cls._fields if k in record})

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 (A and B differ at level alpha)."""
        return self.low > 0 or self.high < 0

    def describe(self, name_a: str = "A", name_b: str = "B", fmt: str = ".3f", *,
                 items: str = "test sentences") -> str:
        """One sentence for the prose, e.g. ``A − B = +0.036 (95% CI ...)``."""
        seeds = f"{self.n_seeds} seed" + ("s" if self.n_seeds != 1 else "")
        spread = " (their spread included)" if self.seed_spread else ""
        return (f"{name_a} − {name_b} = {self.diff:+{fmt}} "
                f"({1 - self.alpha:.0%} CI {self.low:+{fmt}} to {self.high:+{fmt}}, "
                f"paired over {seeds}{spread}, {self.n_boot:,} bootstrap resamples "
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


def _comparison(per_seed: np.ndarray, boot: np.ndarray, alpha: float, n_items: int,
                seed_spread: bool) -> Comparison:
    """The Comparison of per-seed differences (k,) and their bootstrap resamples (n_boot, k).

    One seed, or ``seed_spread=False``: the percentile interval of the
    resamples' seed means.  Otherwise diff +- t_nu * sqrt(a + v) (module
    docstring), with the seed-by-sentence part taken out of a once.
    """
    k, diff = len(per_seed), float(np.mean(per_seed))
    means = boot.mean(axis=1)  # (n_boot,)
    if k == 1 or not seed_spread:
        return Comparison(diff, *_interval(means, alpha), alpha, k, n_items, len(boot))
    v = float(np.var(means, ddof=1))
    # s_d^2 / k also holds the part of the sentence noise that differs between
    # seeds, which v already counts: (mean per-seed bootstrap variance - v) / (k - 1)
    spread = float(np.var(per_seed, ddof=1)) / k
    shared = (float(np.var(boot, axis=0, ddof=1).mean()) - v) / (k - 1)
    a = max(0.0, spread - shared)
    if a + v == 0:  # every seed and every resample agree: no doubt left
        return Comparison(diff, diff, diff, alpha, k, n_items, len(boot), True)
    # the degrees of freedom count the seed term as measured, before the shared
    # part is taken out: with 3 seeds a smaller one made the interval too narrow
    # in the null simulations of tests/test_compare.py
    nu = (spread + v) ** 2 / (spread**2 / (k - 1) + v**2 / max(n_items - 1, 1))
    half = float(stats.t.ppf(1 - alpha / 2, nu)) * np.sqrt(a + v)
    return Comparison(diff, diff - half, diff + half, alpha, k, n_items, len(boot), True)


def paired_bootstrap(stat: Callable[[Any], float], a: Sequence, b: Sequence, *,
                     n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                     seed_spread: bool = True) -> Comparison:
    """Paired bootstrap of ``stat(A) - stat(B)`` over items, averaged over seeds.

    ``a`` and ``b``: one sequence of per-item records per seed, paired by index
    (seed s of A with seed s of B; item i is the same test item everywhere).
    ``stat(records) -> float`` scores a subset of records (e.g. F1 from summed
    per-sentence counts).  Every resample draws the same n item indices for
    every seed and both arms.  With several seeds and ``seed_spread`` the
    interval includes the seeds' spread (module docstring).  Chapter 1 uses it.
    """
    n = _per_seed(a, b)
    rng = np.random.default_rng(seed)

    def diffs(idx):
        return np.array([stat(_take(ra, idx)) - stat(_take(rb, idx)) for ra, rb in zip(a, b)])

    boot = np.stack([diffs(rng.integers(0, n, size=n)) for _ in range(n_boot)])  # (n_boot, k)
    return _comparison(diffs(np.arange(n)), boot, alpha, n, seed_spread)


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
                   alpha: float, seed: int, seed_spread: bool = True) -> Comparison:
    """:func:`paired_f1` on count arrays of shape (seeds, items, 3), vectorised."""
    n_seeds, n, _ = counts_a.shape
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(row, minlength=n)
                        for row in rng.integers(0, n, size=(n_boot, n))])  # (n_boot, n)
    per_seed = _f1(counts_a.sum(1)) - _f1(counts_b.sum(1))  # (seeds,)
    boot_a = _f1(np.einsum("bn,snk->bsk", weights, counts_a))  # (n_boot, seeds)
    boot_b = _f1(np.einsum("bn,snk->bsk", weights, counts_b))
    return _comparison(per_seed, boot_a - boot_b, alpha, n, seed_spread)


def paired_f1(gold: Sequence[Sequence[str]], preds_a: Sequence, preds_b: Sequence, *,
              n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
              gold_b: Sequence[Sequence[str]] | None = None, seed_spread: bool = True) -> Comparison:
    """Entity-F1 difference A - B, paired over seeds, bootstrapped over sentences.

    ``gold``: the test sentences' tag lists; ``preds_a`` / ``preds_b``: one
    list of predicted tag lists per seed (seed s of A paired with seed s of B).
    ``gold_b``: B's gold when B tags another version of the same sentences (a
    noisy copy, a derived language); sentence i must be the same item in both.
    F1 is seqeval's default-mode micro F1; each resample sums per-sentence
    (tp, fp, fn) counts, so it is one matrix product.  With several seeds the
    interval includes their spread unless ``seed_spread=False`` (module docstring).
    """
    _per_seed(preds_a, preds_b)
    golds = (gold, gold if gold_b is None else gold_b)
    if len(golds[1]) != len(gold):
        raise ValueError(f"gold_b has {len(golds[1])} sentences, gold {len(gold)}: they must be the same items")
    counts = [np.stack([sentence_counts(g, p) for p in arm]) for g, arm in zip(golds, (preds_a, preds_b))]
    return _paired_counts(*counts, n_boot=n_boot, alpha=alpha, seed=seed, seed_spread=seed_spread)


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
                       n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                       seed_spread: bool = True) -> Comparison:
    """Sentence-end F1 difference A - B, paired over seeds, bootstrapped over documents.

    The boundary twin of :func:`paired_f1`: ``preds_a`` / ``preds_b`` hold one
    list of predicted end offsets per document for each seed (a rule-based
    splitter has one "seed"; pair it with one seed of a model).
    """
    _per_seed(preds_a, preds_b)
    counts = [np.stack([boundary_counts(true_ends, p) for p in arm]) for arm in (preds_a, preds_b)]
    return _paired_counts(*counts, n_boot=n_boot, alpha=alpha, seed=seed, seed_spread=seed_spread)

