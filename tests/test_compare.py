"""rmdlib.compare: hand-worked cases, brute-force enumeration, known-null simulations."""

import itertools

import numpy as np
import pytest
from seqeval.metrics import f1_score

from rmdlib import compare
from rmdlib.compare import Comparison, paired_bootstrap, paired_f1, sentence_counts
from scipy import stats
from rmdlib.metrics import entity_scores


def test_hand_worked_two_items():
    # A is right on item 0 only, B on neither; stat = accuracy.  The 4 equally
    # likely resamples of 2 items give A - B = 1 (00), 1/2 (01, 10), 0 (11):
    # P(0) = 1/4, P(1/2) = 1/2, P(1) = 1/4.  The 30 % and 70 % quantiles are 1/2.
    cmp = paired_bootstrap(np.mean, [np.array([1.0, 0.0])], [np.array([0.0, 0.0])],
                           n_boot=4000, alpha=0.6)
    assert cmp.diff == 0.5
    assert (cmp.low, cmp.high) == (0.5, 0.5)
    # The 2.5 % and 97.5 % quantiles are the ends of the support.
    wide = paired_bootstrap(np.mean, [np.array([1.0, 0.0])], [np.array([0.0, 0.0])],
                            n_boot=4000)
    assert (wide.low, wide.high) == (0.0, 1.0)
    assert not wide.significant


def test_diff_is_the_mean_over_seeds_of_the_per_seed_differences():
    a = [np.array([1.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0])]
    b = [np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])]
    cmp = paired_bootstrap(np.mean, a, b, n_boot=10)
    assert cmp.diff == pytest.approx(((2 - 1) / 3 + (3 - 1) / 3) / 2)
    assert (cmp.n_seeds, cmp.n_items, cmp.n_boot) == (2, 3, 10)


def test_interval_matches_brute_force_enumeration():
    # All 3**3 resamples of 3 items are equally likely; their exact quantiles
    # are what a large bootstrap converges to.  Two seeds share the indices.
    a = [np.array([0.9, 0.2, 0.5]), np.array([0.7, 0.4, 0.6])]
    b = [np.array([0.1, 0.3, 0.5]), np.array([0.2, 0.1, 0.6])]
    exact = sorted(np.mean([np.mean(ra[list(i)]) - np.mean(rb[list(i)])
                            for ra, rb in zip(a, b)])
                   for i in itertools.product(range(3), repeat=3))
    cmp = paired_bootstrap(np.mean, a, b, n_boot=20000, alpha=0.2, seed_spread=False)
    assert cmp.low == pytest.approx(np.quantile(exact, 0.1), abs=0.02)
    assert cmp.high == pytest.approx(np.quantile(exact, 0.9), abs=0.02)


def test_same_indices_for_both_arms_make_a_constant_shift_certain():
    # B = A - 0.1 item by item: every paired resample gives exactly 0.1, even
    # though the items themselves vary a lot.  An unpaired bootstrap would not.
    rng = np.random.default_rng(1)
    a = [rng.normal(size=50) for _ in range(3)]
    b = [x - 0.1 for x in a]
    cmp = paired_bootstrap(np.mean, a, b, n_boot=200)
    assert cmp.low == pytest.approx(0.1) and cmp.high == pytest.approx(0.1)
    assert cmp.significant


def _null_rate(rng, *, seed_sd, seed_spread, n_sim=400, n_seeds=3, n_items=150, alpha=0.1):
    """Share of null comparisons called significant: both arms from one distribution.

    Sentence difficulty is shared by both arms (so pairing matters); with
    ``seed_sd`` > 0 every trained model also gets its own luck, a shift of its
    recall drawn once per model, the way another seed moves a fine-tuning run.
    """
    hits = 0
    for _ in range(n_sim):
        n_gold = rng.integers(0, 4, size=n_items)
        p = rng.beta(4, 2, size=n_items)

        def arm():
            luck = rng.normal(0, seed_sd, size=(n_seeds, 1))
            tp = rng.binomial(n_gold, np.clip(p + luck, 0, 1))
            fp = rng.poisson(0.3, size=(n_seeds, n_items))
            return np.stack([tp, fp, n_gold - tp], axis=-1)

        cmp = compare._paired_counts(arm(), arm(), n_boot=300, alpha=alpha,
                                     seed=int(rng.integers(1 << 30)), seed_spread=seed_spread)
        hits += cmp.significant
    return hits / n_sim


def test_known_null_false_positive_rate_is_near_alpha():
    # No seed luck: the sentence-only interval calls "significant" 0.1 of the
    # null pairs at alpha = 0.1, within 3 binomial standard deviations (0.045);
    # the interval with the seeds' spread is at least as cautious.
    alpha, sd = 0.1, np.sqrt(0.1 * 0.9 / 400)
    rate = _null_rate(np.random.default_rng(0), seed_sd=0.0, seed_spread=False)
    assert abs(rate - alpha) < 3 * sd
    assert _null_rate(np.random.default_rng(0), seed_sd=0.0, seed_spread=True) < alpha + 3 * sd


def test_seed_luck_fools_the_sentence_only_interval_but_not_the_seed_spread_one():
    # Each model's own luck (sd 0.05 of recall) is what 3 seeds of fine-tuning
    # look like; resampling test sentences cannot see it, so the sentence-only
    # interval calls far more than alpha of these null pairs "significant".
    alpha, sd = 0.1, np.sqrt(0.1 * 0.9 / 400)
    sentences_only = _null_rate(np.random.default_rng(1), seed_sd=0.05, seed_spread=False)
    with_seeds = _null_rate(np.random.default_rng(1), seed_sd=0.05, seed_spread=True)
    assert sentences_only > 3 * alpha
    assert with_seeds < alpha + 3 * sd


def test_seed_spread_interval_in_closed_form_when_every_sentence_agrees():
    # Within a seed every item is the same, so no resample moves anything
    # (v = 0): the interval is the t interval of the per-seed differences,
    # mean +- t(k - 1) * s / sqrt(k), with k - 1 = 3 degrees of freedom.
    per_seed = np.array([0.02, 0.05, -0.01, 0.04])
    a = [np.full(6, d) for d in per_seed]
    b = [np.zeros(6) for _ in per_seed]
    cmp = paired_bootstrap(np.mean, a, b, n_boot=200)
    half = stats.t.ppf(0.975, 3) * per_seed.std(ddof=1) / 2
    assert cmp.diff == pytest.approx(0.025)
    assert (cmp.low, cmp.high) == pytest.approx((0.025 - half, 0.025 + half))
    assert cmp.seed_spread and not cmp.significant
    # the sentence-only interval sees no doubt at all, and calls it significant
    narrow = paired_bootstrap(np.mean, a, b, n_boot=200, seed_spread=False)
    assert narrow.low == pytest.approx(0.025) == narrow.high and narrow.significant


def test_a_real_difference_is_found():
    rng = np.random.default_rng(0)
    n_gold = rng.integers(1, 4, size=(3, 300))
    good = rng.binomial(n_gold, 0.8)
    bad = rng.binomial(n_gold, 0.6)
    counts = [np.stack([tp, np.zeros_like(tp), n_gold - tp], -1) for tp in (good, bad)]
    cmp = compare._paired_counts(*counts, n_boot=500, alpha=0.05, seed=0)
    assert cmp.significant and cmp.low > 0.05


GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"], ["B-ORG", "O", "B-MISC"], ["I-LOC", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-LOC", "O"], ["B-ORG", "O", "O"], ["I-LOC", "O"]]


def test_sentence_counts_by_hand_and_against_seqeval():
    counts = sentence_counts(GOLD, PRED)
    # sentence 0: PER right, LOC predicted as ORG (1 fp + 1 fn); 1: spurious LOC;
    # 2: ORG right, MISC missed; 3: I-LOC after O starts an entity (conlleval).
    assert counts.tolist() == [[1, 1, 1], [0, 1, 0], [1, 0, 1], [1, 0, 0]]
    tp, fp, fn = counts.sum(0)
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(f1_score(GOLD, PRED))
    assert entity_scores(GOLD, PRED)["n_correct"] == tp


def test_paired_f1_point_estimate_is_the_seqeval_difference():
    rng = np.random.default_rng(3)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [list(rng.choice(tags, size=6)) for _ in range(40)]

    def noisy(p):
        return [[t if rng.random() > p else str(rng.choice(tags)) for t in s] for s in gold]

    preds_a, preds_b = [noisy(0.1), noisy(0.1)], [noisy(0.4), noisy(0.4)]
    cmp = paired_f1(gold, preds_a, preds_b, n_boot=200)
    expected = np.mean([f1_score(gold, pa) - f1_score(gold, pb)
                        for pa, pb in zip(preds_a, preds_b)])
    assert cmp.diff == pytest.approx(expected)
    assert cmp.low <= cmp.diff <= cmp.high
    assert (cmp.n_seeds, cmp.n_items) == (2, 40)


def test_arms_must_pair():
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        paired_f1(GOLD, [PRED], [PRED, PRED])
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap(np.mean, [np.ones(3)], [np.ones(4)])


def test_describe_and_significance():
    cmp = Comparison(0.0362, 0.0121, 0.0603, 0.05, 3, 1000)
    assert cmp.significant
    assert cmp.describe("RTD", "MLM") == (
        "RTD − MLM = +0.036 (95% CI +0.012 to +0.060, paired over 3 seeds, "
        "1,000 bootstrap resamples of 1,000 test sentences)")
    assert not Comparison(0.01, -0.002, 0.02, 0.05, 1, 10).significant
    assert "1 seed," in Comparison(0.01, -0.002, 0.02, 0.05, 1, 10).describe()
    assert "3 seeds (their spread included)," in Comparison(0.01, 0.002, 0.02, 0.05, 3, 10, 10, True).describe()


def test_a_comparison_survives_a_json_record():
    """A benchmark stores ``_asdict()`` (plus its verdict) as JSON; the chapters read it back."""
    import json

    cmp = Comparison(0.047, 0.030, 0.063, 0.05, 10, 1000, 1000, True)
    record = json.loads(json.dumps({**cmp._asdict(), "significant": cmp.significant}))
    back = Comparison.from_record(record)
    assert back == cmp and back.significant and back.describe("RTD", "MLM") == cmp.describe("RTD", "MLM")
    old = {k: v for k, v in record.items() if k != "n_boot"}  # a record without the default field
    assert Comparison.from_record(old).n_boot == 1000


def test_gold_b_scores_arm_b_against_its_own_version_of_the_sentences():
    gold = [["B-PER", "O"], ["B-LOC"], ["O"]]
    noisy_gold = [["O", "B-PER"], ["B-LOC"], ["O"]]  # the same items, words moved
    perfect_a, perfect_b = [gold], [noisy_gold]
    same = paired_f1(gold, perfect_a, perfect_b, gold_b=noisy_gold, n_boot=50)
    assert same.diff == 0.0 and same.low == 0.0 and same.high == 0.0
    worse = paired_f1(gold, perfect_a, [[["O", "O"], ["B-LOC"], ["O"]]], gold_b=noisy_gold, n_boot=50)
    assert worse.diff == pytest.approx(1.0 - 2 / 3)  # B finds 1 of 2 entities: F1 = 2/3
    with pytest.raises(ValueError, match="same items"):
        paired_f1(gold, perfect_a, perfect_b, gold_b=noisy_gold[:2])


def test_boundary_counts_by_hand_and_against_boundary_scores():
    from rmdlib.metrics import boundary_scores

    gold = [[5, 10], [3, 8, 12], [4]]
    pred = [[5], [3, 12], [2, 4]]
    counts = compare.boundary_counts(gold, pred)
    assert counts.tolist() == [[1, 0, 1], [2, 0, 1], [1, 1, 0]]
    tp, fp, fn = counts.sum(0)
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(boundary_scores(gold, pred)["f1"])  # 8/11


def test_paired_boundary_f1_difference_and_interval():
    gold = [[5, 10], [3, 8, 12], [4]] * 10
    perfect = [[5, 10], [3, 8, 12], [4]] * 10
    worse = [[5], [3, 12], [2, 4]] * 10  # F1 = 2*4 / (5 + 6) = 8/11
    out = compare.paired_boundary_f1(gold, [perfect], [worse], n_boot=500, seed=1)
    assert out.diff == pytest.approx(3 / 11)
    assert 0 < out.low <= out.diff <= out.high and out.significant and out.n_items == 30
    same = compare.paired_boundary_f1(gold, [worse], [worse], n_boot=200)
    assert (same.diff, same.low, same.high) == (0.0, 0.0, 0.0)  # paired: identical arms never differ
    # Two seeds: the point estimate is the mean of the per-seed differences.
    two = compare.paired_boundary_f1(gold, [perfect, worse], [worse, worse], n_boot=100)
    assert two.diff == pytest.approx(3 / 22) and two.n_seeds == 2
