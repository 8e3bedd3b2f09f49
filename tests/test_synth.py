"""Tests for rmdlib.synth: determinism, label validity, held-out entities, hard SBD cases, derived languages."""

from __future__ import annotations

import collections
import dataclasses
import re

import pytest

from rmdlib import synth
from rmdlib.synth import LABELS, SbdDoc, WorldConfig, derive_language, vocab_overlap

SMALL = dict(n_train=1500, n_val=300, n_test=600)


@pytest.fixture(scope="module")
def ner():
    return synth.ner_splits(seed=0, **SMALL)


@pytest.fixture(scope="module")
def sbd():
    return synth.sbd_splits(seed=0, n_train=60, n_val=20, n_test=60)


def iob2_valid(tags):
    """Reference check: every I-X follows B-X or I-X of the same type."""
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def spans(tags):
    """(start, end, type) of each entity in an IOB2 sequence."""
    out, start = [], None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not tag.startswith("I-"):
            out.append((start, i, tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    return out


def entity_strings(examples):
    return [(" ".join(toks[i:j]), t) for toks, tags in examples for i, j, t in spans(tags)]


# ---------------------------------------------------------------- NER view
def test_determinism_and_seed_sensitivity():
    a = synth.ner_splits(seed=3, n_train=50, n_val=20, n_test=20)
    assert a == synth.ner_splits(seed=3, n_train=50, n_val=20, n_test=20)
    assert a["train"] != synth.ner_splits(seed=4, n_train=50, n_val=20, n_test=20)["train"]
    sizes = dict(n_train=5, n_val=2, n_test=2)
    assert synth.sbd_splits(seed=3, **sizes) == synth.sbd_splits(seed=3, **sizes)
    assert synth.sbd_splits(seed=3, **sizes) != synth.sbd_splits(seed=4, **sizes)
    assert synth.corpus(seed=3, n_docs=4) == synth.corpus(seed=3, n_docs=4)
    assert synth.corpus(seed=3, n_docs=4) != synth.corpus(seed=4, n_docs=4)


def test_sizes_honoured():
    cfg = WorldConfig(ner_sizes=(7, 5, 3), sbd_sizes=(4, 2, 1), corpus_docs=6)
    assert [len(v) for v in synth.ner_splits(seed=1, config=cfg).values()] == [7, 5, 3]
    assert [len(v) for v in synth.ner_splits(seed=1, n_val=0, config=cfg).values()] == [7, 0, 3]
    assert [len(v) for v in synth.sbd_splits(seed=1, config=cfg).values()] == [4, 2, 1]
    assert len(synth.corpus(seed=1, config=cfg)) == 6
    assert list(synth.ner_splits(seed=1, config=cfg)) == ["train", "validation", "test"]
    no_headlines = dataclasses.replace(cfg, headline_rate=0.0)
    counts = {len(d.sentence_ends) for d in synth.sbd_splits(seed=1, n_train=40, config=no_headlines)["train"]}
    assert counts <= set(range(4, 13)) and len(counts) >= 6  # doc_sentences = (4, 12), inclusive


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="heldout_rate"):
        WorldConfig(heldout_rate=1.5)
    with pytest.raises(ValueError, match="doc_sentences"):
        WorldConfig(doc_sentences=(5, 2))
    with pytest.raises(ValueError, match="sizes"):
        synth.ner_splits(seed=0, n_train=-1)


def test_tokens_and_tags_are_conll_like(ner):
    for split in ner.values():
        for tokens, tags in split:
            assert len(tokens) == len(tags) > 0
            assert all(t and not re.search(r"\s", t) for t in tokens)
            assert set(tags) <= set(LABELS)
            assert iob2_valid(tags), (tokens, tags)
    flat = {t for tokens, _ in ner["train"] for t in tokens}
    assert {"Dr.", "U.S.", "a.m.", "Inc.", "...", ",", ".", '"'} <= flat  # abbreviations keep their period
    assert any(re.fullmatch(r"\d+\.\d", t) for t in flat)  # decimals are one token


def test_all_types_with_multi_token_names(ner):
    ents = entity_strings(ner["train"])
    for etype in synth.ENTITY_TYPES:
        names = {s for s, t in ents if t == etype}
        assert sum(" " in s for s in names) >= 50, etype
    assert len(set(ents)) > 1000  # thousands of distinct entities in the default sizes


def test_ambiguous_form_takes_two_types_by_context(ner):
    types = collections.defaultdict(set)
    for s, t in entity_strings(ner["train"]):
        types[s].add(t)
    shared = {s for s, ts in types.items() if {"PER", "LOC"} <= ts}
    assert "Washington" in shared or len(shared) >= 5
    # the context decides: "in X" is a place, "X said" a person, for one and the same form
    form = sorted(shared)[0]
    before = {(toks[i - 1], tags[i]) for toks, tags in ner["train"] for i, w in enumerate(toks) if w == form and i}
    assert ("in", "B-LOC") in before and all(tag == "B-LOC" for prev, tag in before if prev == "in")


def test_test_split_has_unseen_entities_and_no_leak(ner):
    train_strings = {s for s, _ in entity_strings(ner["train"])}
    test_mentions = [s for s, _ in entity_strings(ner["test"])]
    unseen = sum(s not in train_strings for s in test_mentions) / len(test_mentions)
    assert 0.4 <= unseen <= 0.8  # heldout_rate = 0.5 of mentions use held-out name parts

    corpus_words = {w for text in synth.corpus(seed=0, n_docs=300) for w in re.findall(r"[A-Za-z]+", text)}
    train_side = corpus_words | {w for toks, _ in ner["train"] for w in toks}

    def new_words(split):  # entity words that occur nowhere on the train side
        return {w for s, _ in entity_strings(ner[split]) for w in s.split()} - train_side

    test_only, val_only = new_words("test"), new_words("validation")
    assert len(test_only) > 60 and len(val_only) > 30  # many name parts never seen on the train side


def test_held_out_name_parts_never_reach_training_text(ner):
    """White-box: the held-out parts of every name pool are absent from train sentences and the corpus."""
    held = {w for g in (1, 2) for key, pool in synth._PARTS[g].items() if key != "letter" for w in pool}
    letters = {c for g in (1, 2) for c in synth._PARTS[g]["letter"]}
    assert not held & {w for pool in synth._PARTS[0].values() for w in pool}
    words = {w for toks, _ in ner["train"] for w in toks}
    words |= {w for text in synth.corpus(seed=0, n_docs=300) for w in re.findall(r"[A-Za-z]+", text)}
    assert not held & words
    acronyms = {w for w in words if re.fullmatch(r"[A-Z]{3}", w)}
    assert acronyms and not {w[0] for w in acronyms} & letters
    assert held & {w for toks, _ in ner["test"] for w in toks}  # while the test split uses them


def test_memorising_baseline_is_far_from_perfect(ner):
    """Looking up each gold test span among train entities (majority type) must not solve the test split."""
    lookup = collections.defaultdict(collections.Counter)
    for s, t in entity_strings(ner["train"]):
        lookup[s][t] += 1
    gold = {(k, i, j, t) for k, (toks, tags) in enumerate(ner["test"]) for i, j, t in spans(tags)}
    pred = {(k, i, j, lookup[" ".join(ner["test"][k][0][i:j])].most_common(1)[0][0])
            for k, i, j, _ in gold if " ".join(ner["test"][k][0][i:j]) in lookup}
    tp = len(gold & pred)
    precision, recall = tp / len(pred), tp / len(gold)
    assert 0.3 < recall < 0.7 and precision < 0.99  # unseen entities and ambiguous forms


# ---------------------------------------------------------------- SBD view
def sentences_of(doc: SbdDoc):
    starts = [0, *doc.sentence_ends[:-1]]
    return [doc.text[s:e].strip() for s, e in zip(starts, doc.sentence_ends)]


def test_sbd_documents_are_consistent(sbd):
    for doc in (d for docs in sbd.values() for d in docs):
        ends = doc.sentence_ends
        assert all(a < b for a, b in zip(ends, ends[1:])) and ends[-1] <= len(doc.text)
        assert all(not doc.text[e - 1].isspace() for e in ends)  # an end follows a visible character
        assert all(doc.text[e].isspace() for e in ends[:-1])  # sentences are separated by whitespace
        assert doc.text[ends[-1]:].strip() == "" and not doc.text[0].isspace()  # nothing outside sentences
        sents = sentences_of(doc)
        assert all(sents) and " ".join(sents).split() == doc.text.split()  # nothing lost


def test_every_hard_case_occurs(sbd):
    docs = [d for docs in sbd.values() for d in docs]
    sents = [s for d in docs for s in sentences_of(d)]
    gaps = {re.match(r"\s*", d.text[e:]).group() for d in docs for e in d.sentence_ends[:-1]}
    assert {" ", "  ", "\n", "\n\n"} <= gaps
    assert any(re.search(r"(a\.m\.|p\.m\.|U\.S\.|Inc\.|Corp\.)$", s) for s in sents)  # abbreviation ends it
    assert any(re.search(r"\b(Dr|Mr|Mrs|Prof)\. [A-Z]", s) for s in sents)  # abbreviation inside
    assert any(s[0].islower() for s in sents)  # lower-case start
    assert any(s[-1].isalnum() for s in sents)  # no final punctuation
    assert any(s[-1].isalnum() for d in docs for s in sentences_of(d)[1:])  # ... also past the headline
    assert any(re.search(r"\d\.\d", s) for s in sents)  # decimal
    assert any(re.search(r'[.!?]"$', s) for s in sents)  # ends inside a closing quote
    assert any(s.endswith("...") for s in sents) and any("... " in s for s in sents)  # ellipses


def test_detokenizer_hand_worked():
    assert synth._detok(['"', "Yes", ",", '"', "Kim", "said", "."]) == '"Yes," Kim said.'
    assert synth._detok(["Up", "3.5", "%", "to", "$", "2", "million", "(", "e.g.", "now", ")", "..."]) == (
        "Up 3.5% to $2 million (e.g. now)...")
    assert synth._detok(["He", "said", ":", '"', "Done", ".", '"']) == 'He said: "Done."'


def test_naive_regex_splitter_is_imperfect(sbd):
    tp = fp = fn = 0
    for doc in sbd["test"]:
        pred = {m.start() + 1 for m in re.finditer(r"[.!?](?=\s+[A-Z])", doc.text)} | {len(doc.text.rstrip())}
        gold = set(doc.sentence_ends)
        tp, fp, fn = tp + len(pred & gold), fp + len(pred - gold), fn + len(gold - pred)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert 0.6 < f1 < 0.95 and fp > 0 and fn > 0


# ---------------------------------------------------------------- derived languages
def test_derive_identity(ner):
    base = ner["train"][:300]
    assert derive_language(base, vocab_share=0.0, reorder=0.0, script=None, seed=5) == [
        (list(t), list(g)) for t, g in base]


def test_derive_is_a_function_of_the_seed(ner):
    base = ner["validation"][:200]
    kw = dict(vocab_share=0.5, reorder=0.5, script=None)
    assert derive_language(base, seed=7, **kw) == derive_language(base, seed=7, **kw)
    assert derive_language(base, seed=7, **kw) != derive_language(base, seed=8, **kw)
    [([word], _)] = derive_language([(["market"], ["O"])], vocab_share=1.0, reorder=0.0, script=None, seed=0)
    assert word.isalpha() and word.islower() and word != "market"


def test_full_vocab_share_replaces_every_plain_word(ner):
    base = ner["train"]
    derived = derive_language(base, vocab_share=1.0, reorder=0.0, script=None, seed=1)
    plain = {w for toks, tags in base for w, t in zip(toks, tags) if t == "O" and w.isalpha()}
    kept = {w for toks, tags in derived for w, t in zip(toks, tags) if t == "O" and w in plain}
    assert not kept
    assert [g for _, g in derived] == [g for _, g in base]
    assert entity_strings(derived) == entity_strings(base)  # names cross languages unchanged
    mapping = {}
    for (bt, btags), (dt, _) in zip(base, derived):
        for b, d, t in zip(bt, dt, btags):
            if t == "O" and b.isalpha():
                assert mapping.setdefault(b.lower(), d.lower()) == d.lower()  # consistent
    assert len(set(mapping.values())) == len(mapping)  # no two words merged on this vocabulary


def test_same_seed_same_language_across_splits(ner):
    kw = dict(vocab_share=0.5, reorder=0.0, script=None, seed=2)
    mapping = {}
    for split in ("train", "test"):
        for (bt, tags), (dt, _) in zip(ner[split], derive_language(ner[split], **kw)):
            for b, d, t in zip(bt, dt, tags):
                assert t != "O" or mapping.setdefault(b, d) == d


def test_overlap_falls_monotonically_with_vocab_share(ner):
    base = ner["validation"]
    shares = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    overlaps = [vocab_overlap(base, derive_language(base, vocab_share=s, reorder=0.0, script=None, seed=0))
                for s in shares]
    assert overlaps[0] == 1.0
    assert all(a > b for a, b in zip(overlaps, overlaps[1:])), overlaps
    assert overlaps[-1] < 0.6


def test_vocab_overlap_hand_worked():
    assert vocab_overlap([["a", "b"]], [["b", "c"]]) == pytest.approx(1 / 3)
    assert vocab_overlap([(["a", "b"], ["O", "O"])], [(["a", "b"], ["O", "O"])]) == 1.0


def test_reorder_keeps_entities_whole():
    tokens = ["Dr.", "John", "Smith", "visited", "New", "York", "."]
    tags = ["O", "B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    [(words, labels)] = derive_language([(tokens, tags)], vocab_share=0.0, reorder=1.0, script=None, seed=0)
    assert words == ["New", "York", "visited", "John", "Smith", "Dr.", "."]
    assert labels == ["B-LOC", "I-LOC", "O", "B-PER", "I-PER", "O", "O"]


def test_reorder_keeps_iob2_and_entities(ner):
    base = ner["train"][:500]
    derived = derive_language(base, vocab_share=0.0, reorder=0.5, script=None, seed=0)
    assert all(iob2_valid(tags) for _, tags in derived)
    for (bt, bg), (dt, dg) in zip(base, derived):
        assert sorted(zip(bt, bg)) == sorted(zip(dt, dg))  # tags travel with their words
        assert sorted(entity_strings([(bt, bg)])) == sorted(entity_strings([(dt, dg)]))
        assert bt[-1] not in {".", "!", "?", "...", '"'} or dt[-1] == bt[-1]  # final punctuation stays last
    moved = sum(bt != dt for (bt, _), (dt, _) in zip(base, derived))
    assert 200 < moved < 300  # about half of the 500 sentences reordered


def test_script_change():
    [(words, tags)] = derive_language([(["abc", "Washington", "."], ["O", "B-LOC", "O"])],
                                      vocab_share=0.0, reorder=0.0, script="greek", seed=0)
    assert words[0] == "αβψ" and tags == ["O", "B-LOC", "O"] and words[2] == "."
    text = " ".join(words)
    assert not re.search("[A-Za-z]", text) and any(ord(ch) > 127 and ch.isalpha() for ch in text)
    [(cyr, _)] = derive_language([(["Hello"], ["O"])], vocab_share=0.0, reorder=0.0, script="cyrillic", seed=0)
    assert cyr == ["Хелло"]


def test_derive_rejects_bad_input():
    with pytest.raises(ValueError, match="example 1, token 0"):
        derive_language([(["a"], ["O"]), (["b"], ["I-PER"])], vocab_share=0, reorder=0, script=None, seed=0)
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        derive_language([(["a", "b"], ["O"])], vocab_share=0, reorder=0, script=None, seed=0)
    with pytest.raises(ValueError, match="script"):
        derive_language([], vocab_share=0, reorder=0, script="klingon", seed=0)
    with pytest.raises(ValueError, match="vocab_share"):
        derive_language([], vocab_share=2, reorder=0, script=None, seed=0)
