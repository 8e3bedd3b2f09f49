"""Tests for rmdlib.metrics: hand-worked fractions and agreement with seqeval."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from rmdlib.metrics import (
    boundary_scores,
    entity_confusion,
    entity_scores,
    entity_table,
    prf,
    sentence_scores,
    token_accuracy,
)

# Gold: PER(0-1), LOC(3) | ORG(0), MISC(2-3)  -> 4 entities.
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC", "I-MISC"]]
# Pred: PER right; LOC tagged ORG (wrong type); ORG right; MISC cut short
# (boundary error); plus a spurious LOC on token 1 of sentence 2.
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-LOC", "B-MISC", "O"]]


def test_two_of_three_entities_right():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"]]
    s = entity_scores(gold, pred)
    assert (s["n_correct"], s["n_pred"], s["support"]) == (2, 3, 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)


def test_hand_worked_counts_and_f1():
    s = entity_scores(GOLD, PRED)
    # correct: PER, ORG -> 2; predicted: PER, ORG, ORG, LOC, MISC -> 5; gold: 4
    assert (s["n_correct"], s["n_pred"], s["support"]) == (2, 5, 4)
    assert s["precision"] == pytest.approx(2 / 5)
    assert s["recall"] == pytest.approx(1 / 2)
    # F1 = 2PR/(P+R) = 2 * 0.4 * 0.5 / 0.9 = 4/9
    assert s["f1"] == pytest.approx(4 / 9)


def test_i_after_o_default_counts_it_strict_drops_it():
    gold = [["O", "B-ORG", "I-ORG", "O"]]
    pred = [["O", "I-ORG", "I-ORG", "O"]]  # ill-formed IOB2: I- after O
    default = entity_scores(gold, pred)
    strict = entity_scores(gold, pred, strict=True)
    assert default["f1"] == 1.0 and default["n_pred"] == 1  # conlleval starts an entity
    assert strict["n_pred"] == 0  # strict IOB2 drops the chunk
    assert (strict["precision"], strict["recall"], strict["f1"]) == (0.0, 0.0, 0.0)
    assert f1_score(gold, pred) == pytest.approx(1.0)
    assert f1_score(gold, pred, mode="strict", scheme=IOB2, zero_division=0) == 0.0


def _random_batch(seed: int, n: int = 60) -> tuple[list[list[str]], list[list[str]]]:
    """Random taggings, ill-formed sequences included, with some agreement."""
    rng = random.Random(seed)
    labels = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC"]
    gold, pred = [], []
    for _ in range(n):
        sent = [rng.choice(labels) for _ in range(rng.randint(1, 12))]
        gold.append(sent)
        pred.append([t if rng.random() < 0.7 else rng.choice(labels) for t in sent])
    return gold, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_seqeval_default_mode(seed):
    gold, pred = _random_batch(seed)
    s = entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(precision_score(gold, pred, zero_division=0))
    assert s["recall"] == pytest.approx(recall_score(gold, pred, zero_division=0))
    assert s["f1"] == pytest.approx(f1_score(gold, pred, zero_division=0))
    _assert_table_matches_report(entity_table(gold, pred),
                                 classification_report(gold, pred, output_dict=True,
                                                       zero_division=0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_seqeval_strict_mode(seed):
    gold, pred = _random_batch(seed)
    s = entity_scores(gold, pred, strict=True)
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    assert s["f1"] == pytest.approx(f1_score(gold, pred, **kw))
    assert s["precision"] == pytest.approx(precision_score(gold, pred, **kw))
    report = classification_report(gold, pred, output_dict=True, **kw)
    _assert_table_matches_report(entity_table(gold, pred, strict=True), report)


def _assert_table_matches_report(table, report):
    types = [k for k in report if not k.endswith("avg")]
    assert list(table.index) == sorted(types) + ["micro avg"]
    for name in [*types, "micro avg"]:
        row, ref = table.loc[name], report[name]
        assert row["precision"] == pytest.approx(ref["precision"])
        assert row["recall"] == pytest.approx(ref["recall"])
        assert row["f1"] == pytest.approx(ref["f1-score"])
        assert row["support"] == ref["support"]


def test_entity_table_hand_worked():
    t = entity_table(GOLD, PRED)
    assert list(t.index) == ["LOC", "MISC", "ORG", "PER", "micro avg"]
    assert list(t["support"]) == [1, 1, 1, 1, 4]
    assert list(t["n_pred"]) == [1, 1, 2, 1, 5]
    assert t.loc["ORG", "precision"] == pytest.approx(1 / 2)
    assert t.loc["ORG", "f1"] == pytest.approx(2 / 3)
    assert t.loc["LOC", "f1"] == 0.0 and t.loc["PER", "f1"] == 1.0
    assert t.loc["micro avg", "f1"] == pytest.approx(entity_scores(GOLD, PRED)["f1"])


def test_entity_confusion_hand_worked():
    c = entity_confusion(GOLD, PRED)
    assert list(c.index) == ["LOC", "MISC", "ORG", "PER", "spurious"]
    assert list(c.columns) == ["LOC", "MISC", "ORG", "PER", "missed"]
    expected = {("LOC", "ORG"): 1,  # right span, wrong type
                ("MISC", "missed"): 1,  # boundary error: missed ...
                ("spurious", "MISC"): 1,  # ... and spurious
                ("spurious", "LOC"): 1,
                ("ORG", "ORG"): 1, ("PER", "PER"): 1}
    for row in c.index:
        for col in c.columns:
            assert c.loc[row, col] == expected.get((row, col), 0), (row, col)


@pytest.mark.parametrize("seed", [0, 1])
def test_entity_confusion_margins_match_counts(seed):
    gold, pred = _random_batch(seed)
    c, t = entity_confusion(gold, pred), entity_table(gold, pred)
    types = list(t.index[:-1])
    for typ in types:
        assert c.loc[typ].sum() == t.loc[typ, "support"]
        assert c[typ].sum() == t.loc[typ, "n_pred"]
        assert c.loc[typ, typ] == t.loc[typ, "n_correct"]


def test_no_predicted_entities_gives_zero_not_nan_and_no_warning():
    gold = [["B-PER", "O", "B-LOC"]]
    pred = [["O", "O", "O"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = entity_scores(gold, pred)
        table = entity_table(gold, pred)
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert not table.isna().any().any()
    # nothing to find and nothing found: 0 as in conlleval, not 1
    assert entity_scores([["O"]], [["O"]])["f1"] == 0.0
    # all-O tagger: token accuracy looks good, entity F1 is 0
    assert token_accuracy(gold, pred) == pytest.approx(1 / 3)
    assert token_accuracy([["O"] * 8 + ["B-PER", "B-LOC"]], [["O"] * 10]) == pytest.approx(0.8)


def test_micro_f1_over_all_token_tags_is_token_accuracy():
    # The "common mistake" of chapter 4: scikit-learn's micro F1 over every token
    # tag, O included, equals token accuracy (each error is one FP and one FN).
    from sklearn.metrics import f1_score as sk_f1

    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(50)]
    pred = [[t if rng.random() < 0.8 else rng.choice(tags) for t in sent] for sent in gold]
    flat_gold, flat_pred = sum(gold, []), sum(pred, [])
    accuracy = token_accuracy(gold, pred)
    assert sk_f1(flat_gold, flat_pred, average="micro") == pytest.approx(accuracy, abs=1e-12)
    assert accuracy > entity_scores(gold, pred)["f1"]  # and it flatters the tagger


def test_prf_closed_form():
    assert prf(3, 4, 6) == {"precision": 0.75, "recall": 0.5, "f1": pytest.approx(0.6),
                            "support": 6, "n_pred": 4, "n_correct": 3}
    assert prf(0, 0, 0)["f1"] == 0.0


def test_bad_inputs_name_the_sentence():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 3 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O", "O", "O"]])
    with pytest.raises(ValueError, match="2 sentences but y_pred has 1"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: tag 'PER'"):
        entity_scores([["PER"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: expected a list"):
        token_accuracy(["O"], ["O"])


# Two documents: gold ends / predicted ends (one wrong end, one extra end).
TRUE_ENDS = [[10, 25, 40], [5, 12]]
PRED_ENDS = [[10, 30, 40], (12, 5, 8)]  # any iterable, any order


def test_boundary_scores_hand_worked():
    s = boundary_scores(TRUE_ENDS, PRED_ENDS)
    # correct ends: 10, 40 | 5, 12 -> 4; predicted 6; gold 5
    assert (s["n_correct"], s["n_pred"], s["support"]) == (4, 6, 5)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(4 / 5)
    assert s["f1"] == pytest.approx(8 / 11)


def test_sentence_scores_hand_worked():
    s = sentence_scores(TRUE_ENDS, PRED_ENDS)
    # gold (0,10)(10,25)(25,40) vs pred (0,10)(10,30)(30,40): 1 right;
    # gold (0,5)(5,12) vs pred (0,5)(5,8)(8,12): 1 right.
    assert (s["n_correct"], s["n_pred"], s["support"]) == (2, 6, 5)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(2 / 5)
    assert s["f1"] == pytest.approx(4 / 11)


def test_last_sentence_end_counts():
    # one-sentence document: the end of text is a real, counted boundary
    assert boundary_scores([[17]], [[17]])["f1"] == 1.0
    assert boundary_scores([[17]], [[]])["recall"] == 0.0
    assert boundary_scores([[17]], [[]])["precision"] == 0.0  # 0/0 -> 0
    # missing the middle boundary merges two gold sentences into one wrong one
    s = sentence_scores([[8, 17]], [[17]])
    assert (s["n_correct"], s["n_pred"], s["support"]) == (0, 1, 2)


def test_sentence_spans_use_text_offsets():
    text = "It rained. We stayed in. "
    gold = [[10, 24]]
    assert [text[a:b].strip() for a, b in zip([0, *gold[0][:-1]], gold[0])] == \
        ["It rained.", "We stayed in."]
    assert sentence_scores(gold, [[24]])["recall"] == 0.0
    assert sentence_scores(gold, [[10, 24]])["f1"] == 1.0


def test_boundary_bad_inputs():
    with pytest.raises(ValueError, match="2 gold documents but 1 predicted"):
        boundary_scores([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="document 0: predicted sentence ends must be distinct"):
        sentence_scores([[3]], [[3, 3]])
    with pytest.raises(ValueError, match="document 0: gold"):
        boundary_scores([[-1]], [[3]])
