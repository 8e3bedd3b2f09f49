"""rmdlib.transfer and the derived-language splits of rmdlib.synth: hand-worked distances, known answers."""

from __future__ import annotations

from collections import Counter

import matplotlib
import pytest
import torch

from rmdlib import synth, transfer, zoo
from rmdlib._synth_lang import _SCRIPTS
from rmdlib.synth import Language, derive_language

matplotlib.use("Agg")

LANG = Language(vocab_share=0.5, reorder=0.5, script=None, seed=3)


@pytest.fixture(scope="module")
def english():
    return synth.ner_splits(0, n_train=60, n_val=20, n_test=20)


# ------------------------------------------------------------------ derived-language splits
def test_derived_splits_are_derive_language_of_each_english_split(english):
    derived = synth.ner_splits(0, n_train=60, n_val=20, n_test=20, language=LANG)
    for split in synth.SPLITS:
        assert derived[split] == derive_language(english[split], vocab_share=0.5, reorder=0.5, script=None, seed=3)


def test_derived_splits_keep_entities_and_labels(english):
    derived = synth.ner_splits(0, n_train=60, n_val=20, n_test=20, language=Language(vocab_share=1.0, seed=3))
    for (words, tags), (dwords, dtags) in zip(english["train"], derived["train"]):
        assert dtags == tags  # no reordering: the same labels position by position
        assert [w for w, t in zip(dwords, tags) if t != "O"] == [w for w, t in zip(words, tags) if t != "O"]
    assert sum(d != w for (ws, _), (ds, _) in zip(english["train"], derived["train"]) for w, d in zip(ws, ds)) > 100


def test_reordered_splits_keep_every_word_and_its_label(english):
    derived = synth.ner_splits(0, n_train=60, n_val=20, n_test=20, language=Language(reorder=1.0, seed=3))
    for (words, tags), (dwords, dtags) in zip(english["test"], derived["test"]):
        assert Counter(zip(words, tags)) == Counter(zip(dwords, dtags))


def test_derived_splits_are_deterministic_and_seeded():
    a = synth.ner_splits(1, n_train=30, n_val=5, n_test=5, language=LANG)
    assert a == synth.ner_splits(1, n_train=30, n_val=5, n_test=5, language=LANG)
    other = Language(vocab_share=0.5, reorder=0.5, script=None, seed=4)
    assert a != synth.ner_splits(1, n_train=30, n_val=5, n_test=5, language=other)


def test_derived_sbd_documents_keep_their_sentence_count_and_change_script():
    english = synth.sbd_splits(0, n_train=5, n_val=1, n_test=1)
    greek = synth.sbd_splits(0, n_train=5, n_val=1, n_test=1, language=Language(script="greek", seed=0))
    for a, b in zip(english["train"], greek["train"]):
        assert len(a.sentence_ends) == len(b.sentence_ends)
        assert not any("a" <= ch <= "z" for ch in b.text)  # every Latin letter transliterated
        assert b.sentence_ends == a.sentence_ends  # letter for letter: the ends stay where they were


def test_derived_corpus_is_the_same_documents_in_the_derived_language():
    english = synth.corpus(0, n_docs=3)
    greek = synth.corpus(0, n_docs=3, language=Language(script="greek", seed=0))
    assert [t.translate(_SCRIPTS["greek"]) for t in english] == greek


def test_language_rejects_bad_values():
    with pytest.raises(ValueError, match="vocab_share"):
        Language(vocab_share=1.5)
    with pytest.raises(ValueError, match="unknown script"):
        Language(script="runic")


# ------------------------------------------------------------------ overlap metrics
def test_overlap_hand_worked():
    source = Counter({"the": 3, "cat": 1, "sat": 1})
    target = Counter({"the": 4, "dog": 5, "sat": 1})
    got = transfer.overlap(source, target)
    assert got["type"] == pytest.approx(2 / 4)  # {the, sat} of {the, cat, sat, dog}
    assert got["token"] == pytest.approx((4 + 1) / 10)  # 5 of the target's 10 running words


def test_word_overlap_counts_running_words_of_examples():
    got = transfer.word_overlap([(["a", "b", "a"], ["O"] * 3)], [(["a", "c", "c", "c"], ["O"] * 4)])
    assert got == {"type": pytest.approx(1 / 3), "token": pytest.approx(1 / 4)}


class _Pairs:
    """A tokenizer splitting each word into pieces of two letters, WordPiece-style."""

    @staticmethod
    def tokenize(word: str) -> list[str]:
        return [word[:2]] + ["##" + word[i:i + 2] for i in range(2, len(word), 2)]


def test_subword_overlap_hand_worked():
    # source pieces: ab ##cd, ab ; target pieces: ab ##ef, xy ##cd
    got = transfer.subword_overlap(_Pairs(), ["abcd ab"], ["abef xycd"])
    assert got["type"] == pytest.approx(2 / 4)  # {ab, ##cd} shared of {ab, ##cd, ##ef, xy}
    assert got["token"] == pytest.approx(2 / 4)  # ab and ##cd of the target's 4 pieces


def test_subword_overlap_falls_with_the_replaced_share(english):
    tok = zoo.tokenizer(_offline(), _TINY)
    base = english["train"]
    shares = [transfer.subword_overlap(tok, base, derive_language(base, vocab_share=s, reorder=0.0, script=None,
                                                                  seed=0))["token"] for s in (0.0, 0.5, 1.0)]
    assert shares[0] == pytest.approx(1.0) and shares[0] > shares[1] > shares[2]


def _offline():
    from rmdlib.profile import PROFILES

    return PROFILES["offline"]


_TINY = zoo.PretrainConfig(corpus_docs=40, vocab_size=300, hidden=32, layers=1, heads=2, max_length=32,
                           batch_size=4, steps=3, log_every=1)


# ------------------------------------------------------------------ word order
def test_kendall_distance_hand_worked():
    assert transfer.kendall_distance([0, 1, 2, 3]) == 0.0
    assert transfer.kendall_distance([3, 2, 1, 0]) == 1.0
    assert transfer.kendall_distance([2, 1, 0, 3]) == pytest.approx(3 / 6)


def test_word_order_distance_is_zero_without_and_grows_with_reordering(english):
    base = english["train"]
    assert transfer.word_order_distance(base, Language(vocab_share=1.0)) == 0.0
    half = transfer.word_order_distance(base, Language(reorder=0.5, seed=1))
    full = transfer.word_order_distance(base, Language(reorder=1.0, seed=1))
    assert 0.0 < half < full < 1.0  # < 1: final punctuation stays last and entities keep their inner order


def test_word_order_distance_of_one_hand_worked_sentence():
    example = [(["Bo", "saw", "New", "York", "."], ["B-PER", "O", "B-LOC", "I-LOC", "O"])]
    # reversed: New York saw Bo . -> order [2, 3, 1, 0, 4]: swapped pairs (2,1) (2,0) (3,1) (3,0) (1,0) = 5 of 10
    assert synth.word_orders(example, Language(reorder=1.0)) == [[2, 3, 1, 0, 4]]
    assert transfer.word_order_distance(example, Language(reorder=1.0)) == pytest.approx(5 / 10)


# ------------------------------------------------------------------ the noisy domain
def test_noisy_domain_keeps_every_entity_type_and_is_seeded(english):
    base = english["test"]
    noisy = transfer.noisy_domain(base, seed=0)
    assert noisy == transfer.noisy_domain(base, seed=0) and noisy != transfer.noisy_domain(base, seed=1)
    for (_, tags), (words, ntags) in zip(base, noisy):
        assert len(words) == len(ntags)
        assert [t for t in tags if t.startswith("B-")] == [t for t in ntags if t.startswith("B-")]
    assert any(w.startswith(("#", "@")) for words, _ in noisy for w in words)


def test_noisy_domain_merges_a_name_into_one_tagged_token():
    [(words, tags)] = transfer.noisy_domain([(["Bo", "Li", "met", "us"], ["B-PER", "I-PER", "O", "O"])],
                                            lower=0.0, tag_style=1.0, typo=0.0, filler=0.0)
    assert (words, tags) == (["@BoLi", "met", "us"], ["B-PER", "O", "O"])


# ------------------------------------------------------------------ the transfer matrix
def test_transfer_matrix_known_answer():
    data = {"a": ["x", "x", "y"], "b": ["y", "y", "y"]}

    def train(source):  # "model" = the majority label of the source
        return Counter(data[source]).most_common(1)[0][0]

    def score(model, target):  # accuracy of always answering the model's label
        return sum(y == model for y in target) / len(target)

    table = transfer.transfer_matrix(train, ["a", "b"], data, score)
    assert list(table.columns) == ["source", "target", "score"]
    got = {(r.source, r.target): r.score for r in table.itertuples()}
    assert got == {("a", "a"): pytest.approx(2 / 3), ("a", "b"): 0.0, ("b", "a"): pytest.approx(1 / 3),
                   ("b", "b"): 1.0}
    ax = transfer.plot_transfer_matrix(table)
    assert [t.get_text() for t in ax.texts] == ["0.67", "0.00", "0.33", "1.00"]


# ------------------------------------------------------------------ continued pretraining
def test_continue_pretraining_lowers_the_loss_on_target_text_and_leaves_the_input_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("RMD_CACHE", str(tmp_path))
    cfg = zoo.PretrainConfig(corpus_docs=40, vocab_size=300, hidden=32, layers=1, heads=2, max_length=32,
                             batch_size=4, steps=3, log_every=1, lr=3e-3)
    tok = zoo.tokenizer(_offline(), cfg)
    pair = zoo.new_pair(cfg, tok)
    before = {k: v.clone() for k, v in pair.state_dict().items()}
    texts = transfer.as_documents(transfer.noisy_domain(synth.ner_splits(0, 200, 0, 0)["train"]), 4)
    adapted, history = transfer.continue_pretraining(pair, tok, texts, steps=40, cfg=cfg, device="cpu")
    assert all(torch.equal(v, pair.state_dict()[k]) for k, v in before.items())
    assert adapted.generator.electra.embeddings is adapted.discriminator.electra.embeddings
    first, last = history.train[0]["mlm_loss"], history.train[-1]["mlm_loss"]
    assert last < first - 0.3  # nats: the generator learns the target text (0.58 measured)


class _UnknownPairs(_Pairs):
    unk_token = "[UNK]"

    @staticmethod
    def tokenize(word: str) -> list[str]:
        return ["[UNK]"] if word.startswith("z") else _Pairs.tokenize(word)


def test_subword_overlap_never_shares_unknown_pieces():
    # source pieces: ab, [UNK]; target pieces: ab, [UNK], [UNK]: only ab is shared
    got = transfer.subword_overlap(_UnknownPairs(), ["ab zz"], ["ab zq zr"])
    assert got["token"] == pytest.approx(1 / 3) and got["type"] == pytest.approx(1 / 2)
