"""rmdlib.tagging: windowed prediction maps back to words exactly; fine-tuning learns the micro-world."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rmdlib import synth
from rmdlib.data import load_ner
from rmdlib.metrics import entity_scores
from rmdlib.models import build_encoder
from rmdlib.infer import predict_tags
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger, predict_split, windows
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig


@pytest.fixture(scope="module")
def world():
    ds = load_ner("synthetic", seed=0, n_train=600, n_val=100, n_test=200)
    tok = train_wordpiece(synth.corpus(seed=0, n_docs=300), vocab_size=1500)
    return ds, tok


class _IdTagger(nn.Module):
    """Tags every sub-token with label (token id mod C): a known answer for any windowing."""

    def __init__(self, n_labels: int, names: list[str]) -> None:
        super().__init__()
        self.n, self.dummy = n_labels, nn.Parameter(torch.zeros(()))
        self.config = SimpleNamespace(id2label=dict(enumerate(names)))

    def forward(self, input_ids, attention_mask=None, **_):
        return SimpleNamespace(logits=nn.functional.one_hot(input_ids % self.n, self.n).float() + self.dummy)


def test_windowed_prediction_gives_every_word_its_first_subtoken_tag(world):
    ds, tok = world
    names = ds["test"].features["ner_tags"].feature.names
    model, split = _IdTagger(len(names), names), ds["test"].select(range(40))
    cfg = TaggingConfig(max_length=12, stride=4, eval_batch_size=7)  # many windows per sentence
    assert len(windows(split, tok, cfg)) > len(split)  # windowing really happens
    expected = [[names[tok(w, add_special_tokens=False)["input_ids"][0] % len(names)] for w in words]
                for words in split["tokens"]]
    pred = predict_tags(model, tok, split["tokens"], max_length=12, stride=4, batch_size=7, device="cpu")
    assert pred == expected
    gold = [[names[t] for t in tags] for tags in split["ner_tags"]]
    assert evaluate_tagger(model, tok, split, cfg, device="cpu") == entity_scores(gold, expected)
    assert predict_split(model, tok, split, cfg, device="cpu") == (gold, expected)


@pytest.mark.slow
def test_finetuning_beats_the_majority_baseline_by_a_margin(world):
    torch.manual_seed(0)
    ds, tok = world
    encoder = build_encoder(None, vocab_size=tok.vocab_size, hidden=64, layers=2, heads=2)
    cfg = TaggingConfig(batch_size=16, max_length=64)
    train_cfg = TrainConfig(lr=3e-3, epochs=4, warmup_ratio=0.1, monitor="f1", mode="max", seed=0)
    model, history = finetune_tagger(encoder, ds, tok, train_cfg, cfg, device="cpu")
    test = evaluate_tagger(model, tok, ds["test"], cfg, device="cpu")
    names = ds["train"].features["ner_tags"].feature.names
    gold = [[names[t] for t in tags] for tags in ds["test"]["ner_tags"]]
    majority = entity_scores(gold, [["O"] * len(g) for g in gold])["f1"]  # "O" everywhere finds nothing
    assert majority == 0.0
    assert test["f1"] > majority + 0.2, test
    assert history.best is not None and history.best[1] == max(e["f1"] for e in history.evals)
    assert [e["step"] for e in history.evals][-1] == history.train[-1]["step"]


def test_sbd_windows_label_each_candidate_once(world):
    from rmdlib.tagging import sbd_windows
    from rmdlib.tokens import sbd_labels

    docs = synth.sbd_splits(seed=0, n_train=6, n_val=0, n_test=0)["train"]
    cfg = TaggingConfig(max_length=24, stride=8)  # short windows: every document is cut into several
    win = sbd_windows(docs, world[1], cfg)
    assert len(win) > len(docs) and max(len(ids) for ids in win["input_ids"]) <= 24
    labelled = [y for row in win["labels"] for y in row if y != -100]
    gold = [y for d in docs for y in sbd_labels(d.text, d.sentence_ends)[2]]
    assert labelled == gold  # every candidate once, in text order
    n_ends = sum(len(d.sentence_ends) for d in docs)
    n_break_ends = sum(d.text[e:e + 1] == "\n" for d in docs for e in d.sentence_ends)
    n_blank = sum(d.text[e:e + 2] == "\n\n" for d in docs for e in d.sentence_ends)
    assert n_break_ends > 0 and sum(labelled) == n_ends + n_break_ends + n_blank  # + each break after an end


def test_weighted_loss_is_the_weighted_mean_of_token_cross_entropies():
    from rmdlib.models import tagging_loss_fn
    from rmdlib.tagging import weighted_loss_fn

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 2)
    labels = torch.tensor([[-100, 0, 1, 0, -100], [0, 0, 0, 1, -100]])
    model = lambda input_ids, attention_mask=None: SimpleNamespace(logits=logits)  # noqa: E731
    batch = {"input_ids": torch.zeros(2, 5, dtype=torch.long), "labels": labels}
    nll = -logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]  # (B, T)
    w = torch.where(labels == 1, 4.0, 1.0) * (labels != -100)
    expected = (w * nll).sum() / w.sum()  # by hand: END counts four times
    assert torch.allclose(weighted_loss_fn([1.0, 4.0])(model, batch), expected)
    assert torch.allclose(weighted_loss_fn([1.0, 1.0])(model, batch), tagging_loss_fn()(model, batch))
    none = {**batch, "labels": torch.full((2, 5), -100)}
    assert weighted_loss_fn([1.0, 4.0])(model, none).item() == 0.0


def test_finetune_tagger_trains_a_given_tagger_with_a_given_loss(world):
    """``model=`` is trained in place (its head kept); ``loss_fn=`` is what fit minimises."""
    from rmdlib.models import build_tagger, tagging_loss_fn

    ds, tok = world
    small = type(ds)(train=ds["train"].select(range(64)))
    names = ds["train"].features["ner_tags"].feature.names
    torch.manual_seed(0)
    tagger = build_tagger(build_encoder(None, vocab_size=tok.vocab_size, hidden=32, layers=1, heads=2), names)
    head = tagger.classifier.weight.detach().clone()
    calls = []

    def counting_loss(model, batch):
        calls.append(model)
        return tagging_loss_fn()(model, batch)

    cfg = TaggingConfig(batch_size=16, max_length=64)
    model, history = finetune_tagger(None, small, tok, TrainConfig(lr=1e-3, max_steps=3, seed=0), cfg,
                                     loss_fn=counting_loss, model=tagger, device="cpu")
    assert model is tagger and len(calls) == 3 and all(m is tagger for m in calls)
    assert not torch.equal(tagger.classifier.weight, head)  # trained, starting from the given head
    with pytest.raises(ValueError, match="not both"):
        finetune_tagger(build_encoder(None, vocab_size=tok.vocab_size, hidden=32, layers=1, heads=2), small, tok,
                        TrainConfig(max_steps=1), cfg, model=tagger, device="cpu")
    with pytest.raises(ValueError, match="label smoothing"):
        finetune_tagger(None, small, tok, TrainConfig(max_steps=1), TaggingConfig(label_smoothing=0.1),
                        loss_fn=counting_loss, model=tagger, device="cpu")
    other = build_tagger(build_encoder(None, vocab_size=tok.vocab_size, hidden=32, layers=1, heads=2), ["O", "X"])
    with pytest.raises(ValueError, match="labels"):
        finetune_tagger(None, small, tok, TrainConfig(max_steps=1), cfg, model=other, device="cpu")


def test_context_head_reads_exactly_k_subtokens_on_each_side():
    from rmdlib.tagging import ContextHead

    torch.manual_seed(0)
    head = ContextHead(8, 2, context=1)
    h = torch.randn(1, 7, 8)
    base = head(h)
    assert base.shape == (1, 7, 2)
    for moved, changed in ((4, {3, 4, 5}), (0, {0, 1})):  # a change at t moves outputs t-1, t, t+1 only
        h2 = h.clone()
        h2[0, moved] += 1.0
        diff = (head(h2) - base).abs().sum(-1)[0]
        assert {t for t in range(7) if diff[t] > 1e-6} == changed


def test_sbd_tagger_has_two_classes_and_the_chosen_head(world):
    from rmdlib.infer import SBD_LABELS
    from rmdlib.tagging import ContextHead, sbd_tagger

    tok = world[1]
    encoder = build_encoder(None, vocab_size=len(tok), hidden=16, layers=1, heads=2)
    with_context, linear = sbd_tagger(encoder, context=2), sbd_tagger(encoder, context=None)
    assert isinstance(with_context.classifier, ContextHead) and isinstance(linear.classifier, nn.Linear)
    assert with_context.classifier.conv.kernel_size == (5,)
    ids = torch.tensor([tok("Dr. Lee left. He came")["input_ids"]])
    for model in (with_context, linear):
        assert tuple(model.config.id2label.values()) == SBD_LABELS
        assert model(input_ids=ids).logits.shape == (1, ids.shape[1], 2)


def test_watching_a_run_does_not_change_it(world):
    """Validation during training (loss and F1, every 2 steps) draws nothing from the global RNG:
    a watched run with dropout, over several epochs, ends with exactly the weights of an unwatched one."""
    from rmdlib.models import build_tagger

    ds, tok = world
    small = type(ds)(train=ds["train"].select(range(32)), validation=ds["validation"].select(range(16)))
    names = ds["train"].features["ner_tags"].feature.names
    cfg = TaggingConfig(batch_size=8, max_length=64, dropout=0.3)

    def run(watch: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        encoder = build_encoder(None, vocab_size=tok.vocab_size, hidden=32, layers=1, heads=2, dropout=0.3)
        data = small if watch else type(ds)(train=small["train"])
        model, history = finetune_tagger(encoder, data, tok, TrainConfig(lr=1e-3, max_steps=12, eval_every=2,
                                                                          seed=0, restore_best=False), cfg,
                                         device="cpu")
        assert bool(history.evals) == watch
        return {k: v.clone() for k, v in model.state_dict().items()}

    watched, unwatched = run(True), run(False)
    assert all(torch.equal(watched[k], unwatched[k]) for k in watched)
