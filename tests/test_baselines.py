"""Tests for rmdlib.baselines: hand-made behaviour, and the micro-world is not trivial."""

from __future__ import annotations

import pytest

from rmdlib.baselines import Gazetteer, micro_world_baselines, regex_split

TRAIN = [
    ("John Smith works for Acme Corp in New York".split(),
     ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]),
    ("Jordan visited Jordan and York".split(),
     ["B-PER", "O", "B-LOC", "O", "B-LOC"]),
    ("Jordan met John".split(), ["B-PER", "O", "B-PER"]),
]


def _sentences(text: str, ends: list[int]) -> list[str]:
    return [text[a:b].strip() for a, b in zip([0, *ends[:-1]], ends)]


def test_gazetteer_collects_entities_with_most_frequent_type():
    g = Gazetteer.fit(TRAIN)
    assert g.entries == {("John", "Smith"): "PER", ("Acme", "Corp"): "ORG",
                         ("New", "York"): "LOC", ("Jordan",): "PER",  # PER twice, LOC once
                         ("York",): "LOC", ("John",): "PER"}
    assert g.max_len == 2


def test_gazetteer_ties_break_alphabetically():
    g = Gazetteer.fit([(["Paris"], ["B-LOC"]), (["Paris"], ["B-PER"])])
    assert g.entries == {("Paris",): "LOC"}


def test_gazetteer_tags_longest_match_left_to_right():
    g = Gazetteer.fit(TRAIN)
    tokens = "John Smith and John left New York for Acme Corp and Jordan".split()
    assert g.tag(tokens) == ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC",
                             "O", "B-ORG", "I-ORG", "O", "B-PER"]
    # adjacent entries: two entities, each with its own B-
    assert g.tag(["York", "York"]) == ["B-LOC", "B-LOC"]
    # unseen names and wrong case are not found: the gazetteer's blind spots
    assert g.tag(["Mary", "john", "Acme"]) == ["O", "O", "O"]
    assert g.tag([]) == []


def test_gazetteer_rejects_misaligned_examples():
    with pytest.raises(ValueError, match="example 0: 2 tokens but 1 tags"):
        Gazetteer.fit([(["a", "b"], ["O"])])


def test_empty_gazetteer_tags_everything_o():
    g = Gazetteer.fit([(["nothing", "here"], ["O", "O"])])
    assert g.max_len == 0 and g.tag(["John"]) == ["O"]


def test_regex_split_simple_text_with_last_end():
    text = "It rained. We stayed in! Did you? Yes"
    ends = regex_split(text)
    assert ends == [10, 24, 33, 37]
    assert _sentences(text, ends) == ["It rained.", "We stayed in!", "Did you?", "Yes"]


def test_regex_split_known_failure_after_abbreviation():
    text = "Dr. Smith arrived. The U.S. Army left."
    # splits after "Dr." and "U.S." -- the rule cannot know abbreviations
    assert _sentences(text, regex_split(text)) == ["Dr.", "Smith arrived.", "The U.S.",
                                                   "Army left."]


def test_regex_split_keeps_decimals_and_lower_case_continuations():
    text = "Prices rose 3.5 percent, e.g. in oil. Then 2 fell... but not much."
    ends = regex_split(text)
    # no split inside 3.5 (no space), after "e.g." (lower case follows) or
    # after "..." (lower case follows); a digit after ". " starts a sentence
    assert _sentences(text, ends) == ["Prices rose 3.5 percent, e.g. in oil.",
                                      "Then 2 fell... but not much."]
    assert regex_split("It cost 12. 3 people paid.") == [11, 26]


def test_regex_split_quotes_and_brackets():
    text = 'He said "Stop." "Why?" she asked. (It was late.) \u201cFine.\u201d Done'
    ends = regex_split(text)
    assert _sentences(text, ends) == ['He said "Stop."', '"Why?" she asked.',
                                      "(It was late.)", "\u201cFine.\u201d", "Done"]


def test_regex_split_blank_line_and_single_newline():
    text = "Results\n\nThe model wins.  It is\nsmall.  \n \n  Next part\n"
    ends = regex_split(text)
    assert ends == [7, 24, 38, 54]  # no end at the wrapped single newline
    assert _sentences(text, ends) == ["Results", "The model wins.", "It is\nsmall.",
                                      "Next part"]


def test_regex_split_empty_and_whitespace():
    assert regex_split("") == []
    assert regex_split("  \n ") == []
    assert regex_split("  Hi.  ") == [5]


@pytest.fixture(scope="module")
def micro_world():
    return micro_world_baselines(seed=0)


def test_micro_world_is_not_trivial_but_baselines_are_meaningful(micro_world):
    gaz = micro_world["gazetteer"]["f1"]
    boundary = micro_world["regex_boundary"]["f1"]
    sentence = micro_world["regex_sentence"]["f1"]
    assert 0.2 < gaz < 0.95, gaz
    assert 0.2 < boundary < 0.95, boundary
    assert 0.0 < sentence <= boundary  # a wrong end spoils up to two sentences


def test_micro_world_baselines_are_deterministic(micro_world):
    assert micro_world_baselines(seed=0) == micro_world
