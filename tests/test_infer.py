"""Tests of rmdlib.infer: entities with exact character offsets, lossless sentence splitting, windowing.

The taggers here have predictions we control: ``LookupTagger`` scores each token
id by a hand-set table (so a given word always gets a given tag, whatever the
window), and one real ``build_tagger`` model has its head set by hand.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rmdlib.infer import SBD_LABELS, Entity, InferError, predict_sentence_ends, predict_tags, split_sentences, tag
from rmdlib.models import build_encoder, build_tagger
from rmdlib.synth import LABELS
from rmdlib.tokens import train_wordpiece

CORPUS = ["John Smith visited Paris in May. Acme Corp hired John.",
          "Dr. Ann Lee left. She came back! It rained in Paris"]


class LookupTagger(nn.Module):
    """Logits depend on the token id only: ``rules[id]`` scores 5, every other class 0 (class 0 wins ties)."""

    def __init__(self, vocab_size: int, labels: tuple[str, ...], rules: dict[int, int]) -> None:
        super().__init__()
        self.config = SimpleNamespace(id2label=dict(enumerate(labels)),
                                      label2id={x: i for i, x in enumerate(labels)}, max_position_embeddings=512)
        self.scores = nn.Embedding(vocab_size, len(labels))
        with torch.no_grad():
            self.scores.weight.zero_()
            for token_id, label in rules.items():
                self.scores.weight[token_id, label] = 5.0
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        self.calls += 1
        return SimpleNamespace(logits=self.scores(input_ids))  # (B, T, C)


@pytest.fixture(scope="module")
def tok():
    return train_wordpiece(CORPUS, vocab_size=200, min_frequency=1)


def rules_for(tok, word_tags: dict[str, str], labels: tuple[str, ...]) -> dict[int, int]:
    ids = {}
    for word, label in word_tags.items():
        (token_id,) = tok(word, add_special_tokens=False)["input_ids"]  # each rule word is one token
        ids[token_id] = labels.index(label)
    return ids


@pytest.fixture(scope="module")
def ner(tok) -> LookupTagger:
    rules = rules_for(tok, {"John": "B-PER", "Smith": "I-PER", "Paris": "B-LOC", "Acme": "B-ORG",
                            "Corp": "I-ORG", "May": "B-MISC"}, LABELS)
    return LookupTagger(len(tok), LABELS, rules)


@pytest.fixture(scope="module")
def sbd(tok) -> LookupTagger:
    return LookupTagger(len(tok), SBD_LABELS, rules_for(tok, {".": "END"}, SBD_LABELS))


TEXT = "John Smith visited Paris in May. Acme Corp hired John."
EXPECTED = [Entity("John Smith", "PER", 0, 10), Entity("Paris", "LOC", 19, 24), Entity("May", "MISC", 28, 31),
            Entity("Acme Corp", "ORG", 33, 42), Entity("John", "PER", 49, 53)]


def test_entities_and_character_offsets_of_a_hand_made_text(ner, tok) -> None:
    assert tag(ner, tok, TEXT, device="cpu") == EXPECTED
    assert all(TEXT[e.start:e.end] == e.text for e in EXPECTED)


def test_raw_text_keeps_original_whitespace_and_unicode_offsets(ner, tok) -> None:
    text = "\n  Ça va?\tJohn  Smith\n\nvisited  Paris\u200b!"
    assert tag(ner, tok, text, device="cpu") == [Entity("John  Smith", "PER", 10, 21), Entity("Paris", "LOC", 32, 37)]


def test_token_lists_are_read_as_space_joined_text(ner, tok) -> None:
    tokens = ["Acme", "Corp", "hired", "John", "Smith", "."]
    out = tag(ner, tok, [tokens, "in Paris"], device="cpu")
    assert out == [[Entity("Acme Corp", "ORG", 0, 9), Entity("John Smith", "PER", 16, 26)],
                   [Entity("Paris", "LOC", 3, 8)]]
    assert predict_tags(ner, tok, [tokens], device="cpu") == [["B-ORG", "I-ORG", "O", "B-PER", "I-PER", "O"]]
    with pytest.raises(InferError, match="batch of word lists"):
        predict_tags(ner, tok, tokens, device="cpu")
    with pytest.raises(InferError, match="input 1"):
        tag(ner, tok, ["fine", 3], device="cpu")


def test_long_text_in_many_windows_equals_the_unwindowed_result(ner, tok) -> None:
    sep = [" ", "\n", "  ", "\n\n"]
    text = "".join(TEXT + sep[i % 4] for i in range(12))
    n_tokens = len(tok(text)["input_ids"])
    ner.calls = 0
    windowed = tag(ner, tok, text, max_length=16, stride=4, batch_size=3, device="cpu")
    assert ner.calls > 1 and n_tokens > 16 * 8  # many windows, several forward passes
    assert windowed == tag(ner, tok, text, max_length=512, device="cpu")
    starts = [0]
    for i in range(11):
        starts.append(starts[-1] + len(TEXT) + len(sep[i % 4]))
    assert windowed == [e._replace(start=e.start + s, end=e.end + s) for s in starts for e in EXPECTED]


def test_real_tagger_with_a_hand_set_head_and_mode_restored(tok) -> None:
    torch.manual_seed(0)
    model = build_tagger(build_encoder(vocab_size=len(tok), hidden=16, layers=1, heads=2), LABELS)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.eye(len(LABELS))[LABELS.index("B-LOC")])  # B-LOC everywhere
    model.train()
    out = tag(model, tok, "Ann met Bob.", device="cpu")
    assert out == [Entity("Ann", "LOC", 0, 3), Entity("met", "LOC", 4, 7), Entity("Bob", "LOC", 8, 11),
                   Entity(".", "LOC", 11, 12)]
    assert model.training  # eval during prediction, then the previous mode


def test_split_sentences_by_hand(sbd, tok) -> None:
    text = "Dr. Ann Lee left.  She came back!\nIt rained in Paris\n"
    assert predict_sentence_ends(sbd, tok, text, device="cpu") == [3, 17, 52]  # last word always ends a sentence
    assert split_sentences(sbd, tok, text, device="cpu") == ["Dr. ", "Ann Lee left.  ", "She came back!\nIt rained in Paris\n"]


def test_no_predicted_end_is_one_sentence(sbd, tok) -> None:
    text = "  she came back and it rained\n"
    assert predict_sentence_ends(sbd, tok, text, device="cpu") == [len(text.rstrip())]
    assert split_sentences(sbd, tok, text, device="cpu") == [text]
    assert split_sentences(sbd, tok, "", device="cpu") == [] and split_sentences(sbd, tok, " \n ", device="cpu") == [" \n "]


@pytest.mark.parametrize("text", [
    "\n\n  Dr. Lee left. Then. \t",
    "Ça. Très bien.\n日本語のテキスト。終わり. 😀.  \u200b. \x07x.",
    "no end at all",
    ". . .",
    "a.b.c. " * 30 + "\n",
])
def test_split_sentences_loses_nothing(sbd, tok, text) -> None:
    pieces = split_sentences(sbd, tok, text, max_length=16, stride=4, device="cpu")
    assert "".join(pieces) == text
    assert pieces == split_sentences(sbd, tok, text, device="cpu")  # windowing changes nothing
    assert all(p.strip() for p in pieces[1:])  # no piece is whitespace only (only the first may be)


HARD = ('He moved to the U.S.A. in 2020. Pi is 3.14 today.\nMail a.b@c.org or https://x.org/a.b?c=1 now...\n\n'
        '"Done." (Really.) End')


def test_split_sentences_never_cuts_inside_a_whitespace_free_token(sbd, tok) -> None:
    """Even a tagger that says END at every period (or everywhere) cuts only between runs."""
    runs = {m.end() for m in re.finditer(r"\S+", HARD)}
    ends = predict_sentence_ends(sbd, tok, HARD, device="cpu")  # END on "." sub-tokens: U.S.A., 2020., today., now...
    assert ends == [HARD.index(w) + len(w) for w in ("U.S.A.", "2020.", "today.", "now...", "End")]
    everywhere = LookupTagger(len(tok), SBD_LABELS, {i: 1 for i in range(len(tok))})
    assert predict_sentence_ends(everywhere, tok, HARD, device="cpu") == sorted(runs)  # every run ends, none is cut
    for model in (sbd, everywhere):
        pieces = split_sentences(model, tok, HARD, max_length=12, stride=4, device="cpu")
        assert "".join(pieces) == HARD
        for token in ("U.S.A.", "3.14", "a.b@c.org", "https://x.org/a.b?c=1", "now...", '"Done."', "(Really.)"):
            assert any(token in p for p in pieces), token  # each hard token whole in one piece


def test_threshold_and_line_breaks_carry_the_end(tok) -> None:
    """A line break is a candidate of its own: END on [SEP] alone ends the sentence before the break."""
    sep = tok.convert_tokens_to_ids("[SEP]")
    breaks = LookupTagger(len(tok), SBD_LABELS, {sep: 1})
    text = "It rained in Paris\nJohn left\n\nAnn came"
    assert predict_sentence_ends(breaks, tok, text, device="cpu") == [18, 28, 38]
    assert split_sentences(breaks, tok, text, device="cpu") == ["It rained in Paris\n", "John left\n\n", "Ann came"]
    # P(END) = e^5 / (e^5 + 1) = 0.9933 on a break: a threshold above it drops the break ends
    assert predict_sentence_ends(breaks, tok, text, threshold=0.995, device="cpu") == [38]
    assert predict_sentence_ends(breaks, tok, text, threshold=0.99, device="cpu") == [18, 28, 38]


def test_sentence_ends_of_a_batch_equal_one_by_one(sbd, tok) -> None:
    texts = ["A. B.", "", "x y", "Paris. Paris."]
    assert predict_sentence_ends(sbd, tok, texts, device="cpu") == [predict_sentence_ends(sbd, tok, t, device="cpu") for t in texts]
    assert predict_sentence_ends(sbd, tok, texts, device="cpu") == [[2, 5], [], [3], [6, 13]]


def test_a_bare_list_of_words_is_refused_not_read_as_many_texts(ner, tok) -> None:
    words = ["John", "Smith", "visited", "Paris"]
    with pytest.raises(InferError, match=r"4 strings without whitespace .* pass \[words\] for one pre-split"):
        tag(ner, tok, words, device="cpu")
    assert tag(ner, tok, [words], device="cpu") == [[Entity("John Smith", "PER", 0, 10), Entity("Paris", "LOC", 19, 24)]]
    assert tag(ner, tok, [[w] for w in words], device="cpu")[3] == [Entity("Paris", "LOC", 0, 5)]  # one-word texts, said so
    assert tag(ner, tok, ["John Smith", "in Paris"], device="cpu")[1] == [Entity("Paris", "LOC", 3, 8)]  # texts still work


@pytest.mark.parametrize("call", [
    lambda m, t: tag(m, t, "Paris \ud800 is nice", device="cpu"),
    lambda m, t: predict_tags(m, t, [["Paris", "x\udc80"]], device="cpu"),
    lambda m, t: split_sentences(m, t, "Hello.\ud800 Bye.", device="cpu"),
])
def test_a_lone_surrogate_is_the_librarys_error_not_a_tokenizer_type_error(ner, tok, call) -> None:
    with pytest.raises(InferError, match=r"input 0: the word .* holds a lone surrogate"):
        call(ner, tok)
