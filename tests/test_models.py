"""Tests of rmdlib.models: encoder building, the tagger's weights and head, save/load, the tagging loss."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoModelForTokenClassification, ElectraForPreTraining, ElectraForTokenClassification,
                          ElectraModel)

from rmdlib.losses import IGNORE_INDEX
from rmdlib.models import (build_encoder, build_tagger, effective_rank, load_tagger, mean_pairwise_cosine, predict_logits,
                           tagging_loss_fn)

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
VOCAB, HIDDEN = 40, 16


@pytest.fixture()
def encoder() -> ElectraModel:
    torch.manual_seed(0)
    return build_encoder(vocab_size=VOCAB, hidden=HIDDEN, layers=1, heads=2, max_position=32)


def make_batch(b: int = 3, t: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[0, -2:] = 0  # one padded row
    labels = torch.randint(0, len(LABELS), (b, t), generator=g)
    labels[mask == 0] = IGNORE_INDEX
    labels[:, 0] = IGNORE_INDEX  # [CLS]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_fresh_encoder_has_the_requested_size(encoder) -> None:
    assert isinstance(encoder, ElectraModel)
    c = encoder.config
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (VOCAB, HIDDEN, 1, 2)
    assert (c.intermediate_size, c.embedding_size) == (4 * HIDDEN, HIDDEN)
    out = encoder(input_ids=make_batch()["input_ids"]).last_hidden_state
    assert out.shape == (3, 7, HIDDEN)
    with pytest.raises(ValueError, match="vocab_size"):
        build_encoder()
    with pytest.raises(ValueError, match="divisible"):
        build_encoder(vocab_size=10, hidden=10, heads=4)


def test_encoder_from_a_local_directory_never_trusts_remote_code(encoder, tmp_path, monkeypatch) -> None:
    encoder.save_pretrained(tmp_path)
    loaded = build_encoder(tmp_path)
    assert type(loaded) is ElectraModel
    for name, value in encoder.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    seen = {}
    monkeypatch.setattr("transformers.AutoModel.from_pretrained", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr("rmdlib.models.AutoModel.from_pretrained", lambda *a, **kw: seen.update(kw))
    build_encoder("some/hub-id", revision="abc123")
    assert seen == {"revision": "abc123", "trust_remote_code": False}


def test_tagger_copies_the_encoder_exactly_and_adds_a_fresh_head(encoder, tmp_path) -> None:
    encoder.save_pretrained(tmp_path)
    discriminator = ElectraForPreTraining(encoder.config)  # what chapter 3's pretraining hands over
    discriminator.electra.load_state_dict(encoder.state_dict())
    for source in (encoder, str(tmp_path), discriminator):
        tagger = build_tagger(source, LABELS, dropout=0.2)
        assert isinstance(tagger, ElectraForTokenClassification)
        body = tagger.electra.state_dict()
        assert body.keys() == encoder.state_dict().keys()
        for name, value in encoder.state_dict().items():
            assert torch.equal(body[name], value), name
        assert tagger.classifier.weight.shape == (len(LABELS), HIDDEN)  # the head: Linear D -> C
        assert torch.equal(tagger.classifier.bias, torch.zeros(len(LABELS)))  # freshly initialised
        std = tagger.classifier.weight.std().item()
        assert 0.3 * tagger.config.initializer_range < std < 3 * tagger.config.initializer_range
        assert tagger.dropout.p == 0.2 and tagger.config.classifier_dropout == 0.2
        assert tagger.config.id2label == dict(enumerate(LABELS))
        assert tagger.config.label2id == {label: i for i, label in enumerate(LABELS)}
    word = tagger.electra.embeddings.word_embeddings.weight
    assert word.data_ptr() != encoder.embeddings.word_embeddings.weight.data_ptr()  # a copy, not shared


def test_tagger_rejects_bad_label_lists(encoder) -> None:
    for bad in ([], ["O", "O"], ["O", 1]):
        with pytest.raises(ValueError, match="distinct"):
            build_tagger(encoder, bad)


def test_head_output_shape_and_predict_logits(encoder) -> None:
    tagger = build_tagger(encoder, LABELS)
    batches = [make_batch(3, 7, 0), make_batch(2, 4, 1)]
    tagger.train()
    logits = predict_logits(tagger, batches, device="cpu")
    assert [tuple(x.shape) for x in logits] == [(3, 7, len(LABELS)), (2, 4, len(LABELS))]  # (B, T, C)
    assert tagger.training  # mode restored
    tagger.eval()
    direct = tagger(input_ids=batches[1]["input_ids"], attention_mask=batches[1]["attention_mask"]).logits
    torch.testing.assert_close(logits[1], direct)
    assert all(x.device.type == "cpu" and x.dtype == torch.float32 for x in logits)


def test_save_and_load_round_trip(encoder, tmp_path) -> None:
    tagger = build_tagger(encoder, LABELS).eval()
    tagger.save_pretrained(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    batch = make_batch()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    expected = tagger(**inputs).logits
    for loaded in (load_tagger(tmp_path), AutoModelForTokenClassification.from_pretrained(tmp_path)):
        assert isinstance(loaded, ElectraForTokenClassification)
        assert loaded.config.id2label == dict(enumerate(LABELS))
        assert loaded.config.label2id == tagger.config.label2id
        torch.testing.assert_close(loaded.eval()(**inputs).logits, expected)


def test_load_tagger_refuses_pickled_weights(encoder, tmp_path) -> None:
    tagger = build_tagger(encoder, LABELS)
    tagger.config.save_pretrained(tmp_path)
    torch.save(tagger.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(OSError, match="model.safetensors"):
        load_tagger(tmp_path)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_tagging_loss_is_cross_entropy_over_labelled_tokens(encoder, smoothing) -> None:
    tagger = build_tagger(encoder, LABELS).eval()  # no dropout: the two forward passes agree
    batch = make_batch()
    loss = tagging_loss_fn(label_smoothing=smoothing)(tagger, batch)
    logits = tagger(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX,
                               label_smoothing=smoothing)
    torch.testing.assert_close(loss, expected)
    hf_loss = tagger(**batch).loss  # the model's own loss agrees without smoothing, but is never used
    if smoothing == 0.0:
        torch.testing.assert_close(loss, hf_loss)


@pytest.mark.slow
def test_a_tagger_learns_a_toy_tagging_task(encoder) -> None:
    from rmdlib.train import TrainConfig, fit

    batch = make_batch(4, 6, 3)
    batch["labels"] = torch.where(batch["labels"] == IGNORE_INDEX, batch["labels"], batch["input_ids"] % len(LABELS))
    tagger = build_tagger(encoder, LABELS, dropout=0.0)
    cfg = TrainConfig(lr=1e-2, max_steps=60, warmup_steps=0, log_every=1, progress=False)
    history = fit(tagger, tagging_loss_fn(), [batch], cfg=cfg, device="cpu")
    assert history.train[-1]["loss"] < 0.1 * history.train[0]["loss"]


class _FixedStates(nn.Module):
    """An 'encoder' whose last hidden states are given: a known answer for mean_pairwise_cosine."""

    def __init__(self, states: torch.Tensor) -> None:
        super().__init__()
        self.states = states

    @property
    def base_model(self) -> nn.Module:
        return self

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(last_hidden_state=self.states)


@pytest.mark.parametrize("rows, expected", [
    ([[1.0, 0.0], [2.0, 0.0], [5.0, 0.0]], 1.0),  # one direction: collapsed
    ([[1.0, 0.0], [0.0, 3.0]], 0.0),  # orthogonal
    ([[1.0, 1.0], [-2.0, -2.0]], -1.0),  # opposite
    ([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], (0 + 2 ** -0.5 + 2 ** -0.5) / 3),  # the mean over the 3 pairs
])
def test_mean_pairwise_cosine_known_answers(rows, expected) -> None:
    states = torch.tensor([rows])  # (1, N, 2)
    ids = torch.zeros(1, len(rows), dtype=torch.long)
    assert mean_pairwise_cosine(_FixedStates(states), ids) == pytest.approx(expected, abs=1e-6)


def test_mean_pairwise_cosine_ignores_padding() -> None:
    states = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [0.0, 9.0]]])  # the last position is padding
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pairwise_cosine(_FixedStates(states), torch.zeros(1, 3, dtype=torch.long), mask) == pytest.approx(1.0)


def _states(x: torch.Tensor):
    """A fixed-state encoder and its input ids for an (N, D) set of vectors."""
    return _FixedStates(x[None]), torch.zeros(1, x.shape[0], dtype=torch.long)


D = 8
RANK_ONE = torch.arange(1.0, 21.0)[:, None] * torch.linspace(-1, 1, D)[None]  # 20 points on one line
ISOTROPIC = torch.cat([torch.eye(D), -torch.eye(D)])  # mean 0, all D singular values equal
ANISOTROPIC = ISOTROPIC + 10.0  # the same spread around a large common offset


@pytest.mark.parametrize("x, cosine, rank", [
    (RANK_ONE, 1.0, 1.0),  # collapsed onto one direction
    (ISOTROPIC, -1 / (2 * D - 1), float(D)),  # each vector's only non-orthogonal partner is its opposite
    (ANISOTROPIC, None, float(D)),  # cosine near 1, but nothing collapsed
])
def test_effective_rank_separates_collapse_from_anisotropy(x, cosine, rank) -> None:
    model, ids = _states(x)
    assert effective_rank(model, ids) == pytest.approx(rank, abs=1e-6)
    if cosine is not None:
        assert mean_pairwise_cosine(model, ids) == pytest.approx(cosine, abs=1e-6)


def test_anisotropy_fools_the_cosine_but_not_the_centred_rank() -> None:
    model, ids = _states(ANISOTROPIC)
    assert mean_pairwise_cosine(model, ids) > 0.98  # would read as "collapsed"
    assert effective_rank(model, ids) == pytest.approx(D)  # the spread keeps all D directions
    assert effective_rank(model, ids, centre=False) < 2.0  # the offset dominates uncentred


def test_effective_rank_closed_form_and_degenerate_cases() -> None:
    # Orthogonal directions with singular values 3 and 1: p = (3/4, 1/4).
    x = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]]) / 2 ** 0.5
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(*_states(x)) == pytest.approx(expected)
    assert effective_rank(*_states(torch.ones(5, 3))) == 0.0  # identical states: no variation


def test_build_tagger_copies_a_bert_encoder_but_its_pooler():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32))  # with a pooler, as AutoModel loads bert-base-cased
    tagger = build_tagger(bert, ["O", "B-PER", "I-PER"])
    copied = tagger.base_model.state_dict()
    assert "pooler.dense.weight" not in copied
    assert all(torch.equal(copied[k], v) for k, v in bert.state_dict().items() if not k.startswith("pooler."))
