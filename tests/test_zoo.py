"""rmdlib.zoo: tokenizer and pretrained pair per profile, the cache, FLOP counting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModel, AutoTokenizer, ElectraModel

from rmdlib import rtd, zoo
from rmdlib.profile import PROFILES

OFFLINE = PROFILES["offline"]
TINY = zoo.PretrainConfig(corpus_docs=40, vocab_size=300, hidden=32, layers=1, heads=2, max_length=32,
                          batch_size=4, steps=3, log_every=1)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RMD_CACHE", str(tmp_path / "cache"))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_tokenizer_is_deterministic_cached_and_bert_style(monkeypatch) -> None:
    a = zoo.tokenizer(OFFLINE, TINY)
    cached = list(zoo.cache_root().glob("wordpiece-*"))
    assert len(cached) == 1
    monkeypatch.setattr(zoo, "train_wordpiece", lambda *a, **k: pytest.fail("trained again despite the cache"))
    assert zoo.tokenizer(OFFLINE, TINY).get_vocab() == a.get_vocab()
    monkeypatch.undo()
    monkeypatch.setenv("RMD_CACHE", str(zoo.cache_root().parent / "other"))
    b = zoo.tokenizer(OFFLINE, TINY)  # trained afresh in another cache: the same vocabulary
    assert b.get_vocab() == a.get_vocab() and len(a) <= TINY.vocab_size
    assert [a.pad_token_id, a.unk_token_id, a.cls_token_id, a.sep_token_id, a.mask_token_id] == [0, 1, 2, 3, 4]


def test_pack_cuts_the_concatenation_into_cls_sep_rows() -> None:
    tok = zoo.tokenizer(OFFLINE, TINY)
    texts = ["Smith went home.", "The bank opened in Paris on Monday.", "Yes."]
    pieces = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    stream = [i for p in pieces for i in (*p, tok.sep_token_id)]
    rows = zoo.pack(tok, texts, max_length=6)  # 4 body tokens per row
    n = len(stream) // 4
    assert rows.shape == (n, 6)
    assert (rows[:, 0] == tok.cls_token_id).all() and (rows[:, -1] == tok.sep_token_id).all()
    assert rows[:, 1:-1].reshape(-1).tolist() == stream[: n * 4]
    with pytest.raises(ValueError, match="do not fill one row"):
        zoo.pack(tok, ["Yes."], max_length=64)


def test_second_call_hits_the_cache_and_returns_identical_weights(monkeypatch) -> None:
    first = zoo.cached_pretrain(TINY, zoo.tokenizer(OFFLINE, TINY), zoo.pretraining_texts(OFFLINE, TINY), device="cpu")
    assert len(first.history.train) == TINY.steps and first.history.train[-1]["step"] == TINY.steps
    assert {"gen_acc", "disc_acc", "tokens_per_s"} <= set(first.history.train[0])
    weights = _state(first.pair)
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("pretrained again despite the cache"))
    pair = zoo.electra_pair(OFFLINE, TINY)
    again = zoo.cached_pretrain(TINY, zoo.tokenizer(OFFLINE, TINY), zoo.pretraining_texts(OFFLINE, TINY), device="cpu")
    for other in (pair, again.pair):
        assert other.state_dict().keys() == weights.keys()
        for k, v in other.state_dict().items():
            assert torch.equal(v, weights[k]), k
    assert again.history == first.history and again.seconds == first.seconds
    assert [p.name for p in zoo.cache_root().iterdir() if p.name.startswith(".")] == []  # no temp dirs left


def test_loaded_pair_shares_embeddings_again() -> None:
    pair = zoo.electra_pair(OFFLINE, TINY)
    g, d = pair.generator.electra.embeddings, pair.discriminator.electra.embeddings
    assert g is d
    assert pair.generator.generator_lm_head.weight is d.word_embeddings.weight


def test_cache_key_follows_config_texts_and_vocabulary() -> None:
    tok, texts = zoo.tokenizer(OFFLINE, TINY), zoo.pretraining_texts(OFFLINE, TINY)
    key = zoo.run_key(TINY, tok, texts)
    assert zoo.run_key(replace(TINY), tok, list(texts)) == key
    assert zoo.run_key(replace(TINY, steps=4), tok, texts) != key
    assert zoo.run_key(replace(TINY, lr=TINY.lr / 2), tok, texts) != key
    assert zoo.run_key(TINY, tok, texts[:-1]) != key
    other_tok = zoo.tokenizer(OFFLINE, replace(TINY, vocab_size=200))
    assert zoo.run_key(TINY, other_tok, texts) != key


def _edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_cache_key_follows_the_code_that_trains_not_its_prose(tmp_path, monkeypatch) -> None:
    """A copy of the package: a code change in rtd, train or synth changes the key; a docstring or comment does not."""
    package = tmp_path / "rmdlib"
    package.mkdir()
    for src in Path(zoo.__file__).parent.glob("*.py"):
        (package / src.name).write_bytes(src.read_bytes())
    digest = zoo.code_digest(package)
    assert digest == zoo.code_digest(Path(zoo.__file__).parent)  # the copy is the same code
    _edit(package / "rtd.py", '"""Build an ELECTRA generator/discriminator pair', '"""Build a generator and a discriminator')
    _edit(package / "train.py", "# peak learning rate", "# the top learning rate")
    _edit(package / "metrics.py", "def ", "def _unused() -> None:\n    pass\n\n\ndef ")  # not imported by the zoo
    assert zoo.code_digest(package) == digest
    for module, old, new in [("rtd", "mask_prob: float = 0.15", "mask_prob: float = 0.2"),
                             ("train", "grad_clip: float | None = 1.0", "grad_clip: float | None = 2.0"),
                             ("synth", "import random", "import random  # noqa\nSEED_SHIFT = 1")]:
        _edit(package / f"{module}.py", old, new)
        assert zoo.code_digest(package) != digest, module
        digest = zoo.code_digest(package)
    tok, texts = zoo.tokenizer(OFFLINE, TINY), zoo.pretraining_texts(OFFLINE, TINY)
    key = zoo.run_key(TINY, tok, texts)
    monkeypatch.setattr(zoo, "code_digest", lambda: digest)  # what run_key sees after such an edit
    assert zoo.run_key(TINY, tok, texts) != key


def test_pretraining_is_a_function_of_the_config_and_leaves_global_rng_alone() -> None:
    tok, texts = zoo.tokenizer(OFFLINE, TINY), zoo.pretraining_texts(OFFLINE, TINY)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a, hist_a, _ = zoo.pretrain(TINY, tok, texts, device="cpu")
    assert torch.equal(torch.rand(3), expected_next)
    b, hist_b, _ = zoo.pretrain(TINY, tok, texts, device="cpu")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert [r["loss"] for r in hist_a.train] == [r["loss"] for r in hist_b.train]


def test_encoder_folder_loads_with_auto_classes() -> None:
    path = zoo.encoder(OFFLINE, TINY)
    pair = zoo.electra_pair(OFFLINE, TINY)
    model = AutoModel.from_pretrained(path).eval()
    assert isinstance(model, ElectraModel) and model.config.hidden_size == TINY.hidden
    tok = AutoTokenizer.from_pretrained(path)  # the folder carries its tokenizer
    batch = tok(["Smith went to Paris."], return_tensors="pt")
    with torch.no_grad():
        expected = pair.discriminator.electra(**batch).last_hidden_state
        torch.testing.assert_close(model(**batch).last_hidden_state, expected)


def test_hub_profile_loads_the_pair_and_tokenizer_from_local_folders(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    tok = zoo.tokenizer(OFFLINE, TINY)
    made = rtd.build_pair(len(tok), hidden=32, layers=1, heads=2, max_position=32)
    disc_dir, gen_dir = tmp_path / "disc", tmp_path / "gen"
    made.save_discriminator(disc_dir)
    tok.save_pretrained(disc_dir)
    made.generator.save_pretrained(gen_dir)
    monkeypatch.setattr(zoo, "HUB_GENERATORS", {str(disc_dir): str(gen_dir)})
    P = replace(PROFILES["colab"], encoder=str(disc_dir))
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: pytest.fail("the colab profile must not pretrain"))
    pair = zoo.electra_pair(P)
    assert zoo.encoder(P) == str(disc_dir)
    assert zoo.tokenizer(P).get_vocab() == tok.get_vocab()
    for k, v in made.state_dict().items():
        assert torch.equal(pair.state_dict()[k], v), k
    assert pair.generator.electra.embeddings is pair.discriminator.electra.embeddings
    with pytest.raises(ValueError, match="no known generator"):
        zoo.electra_pair(replace(P, encoder="someone/else"))


@pytest.mark.parametrize("kind", ["discriminator", "generator", "mlm"])
def test_forward_flops_match_pytorchs_flop_counter(kind: str) -> None:
    torch.manual_seed(0)
    B, T, V = 2, 24, 97
    pair = rtd.build_pair(V, hidden=32, layers=2, heads=4, max_position=T)
    model = {"discriminator": pair.discriminator, "generator": pair.generator,
             "mlm": rtd.build_mlm(V, hidden=32, layers=2, heads=4, max_position=T)}[kind].eval()
    # eager attention: FlopCounterMode has no formula for the CPU flash-attention kernel that sdpa
    # dispatches to, so under sdpa it would count no attention FLOPs at all
    model.set_attn_implementation("eager")
    ids = torch.randint(5, V, (B, T))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert zoo.flops_per_token(model, T) * B * T == counter.get_total_flops()


def test_training_flops_are_about_three_forward_passes() -> None:
    torch.manual_seed(0)
    B, T, V = 2, 24, 97
    model = rtd.build_mlm(V, hidden=32, layers=2, heads=4, max_position=T)
    model.set_attn_implementation("eager")  # see above
    ids = torch.randint(5, V, (B, T))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.sum().backward()
    # the first layer needs no gradient for its input (the embeddings are a look-up): a bit under 3x
    ratio = counter.get_total_flops() / (zoo.flops_per_token(model, T) * B * T)
    assert 2.7 < ratio <= 3.0


def test_each_networks_own_weights_train_at_its_scale_and_the_shared_embeddings_at_lr() -> None:
    from rmdlib.train import build_optimizer

    cfg = replace(zoo.PRETRAIN, hidden=32, heads=2, gen_scale=0.5, lr=1e-4, gen_lr_scale=3.0, disc_lr_scale=2.0,
                  mlm_lr_scale=4.0)
    pair = rtd.build_pair(60, hidden=32, layers=1, heads=2, gen_scale=0.5, max_position=16)
    lrs = {id(p): g["lr"] for g in build_optimizer(pair, zoo.train_config(cfg), device="cpu").param_groups
           for p in g["params"]}
    shared = {id(p) for p in pair.discriminator.electra.embeddings.parameters()}
    own_gen = [p for p in pair.generator.parameters() if id(p) not in shared]
    own_disc = [p for p in pair.discriminator.parameters() if id(p) not in shared]
    assert own_gen and all(lrs[id(p)] == pytest.approx(3e-4) for p in own_gen)  # layers, head and its bias
    assert own_disc and all(lrs[id(p)] == pytest.approx(2e-4) for p in own_disc)  # layers and RTD head
    assert shared and all(lrs[i] == 1e-4 for i in shared)
    # the MLM baseline: embeddings (and the output weight tied to them) at lr, the rest at mlm_lr_scale
    mlm = rtd.build_mlm(60, hidden=32, layers=1, heads=2, max_position=16)
    lrs = {id(p): g["lr"] for g in build_optimizer(mlm, zoo.train_config(cfg, objective="mlm"),
                                                      device="cpu").param_groups for p in g["params"]}
    emb = {id(p) for p in mlm.electra.embeddings.parameters()}  # the output weight is tied to one of them
    assert emb and all(lrs[i] == 1e-4 for i in emb)
    body = [p for p in mlm.parameters() if id(p) not in emb]
    assert body and all(lrs[id(p)] == pytest.approx(4e-4) for p in body)  # encoder, MLM head, output bias


@pytest.mark.slow
def test_the_books_pretraining_run_teaches_both_networks_on_held_out_micro_world_text() -> None:
    """``zoo.PRETRAIN`` (450 steps on the micro-world): each network beats its input-blind answer on unseen documents.

    The discriminator's baseline answers "original" for every token, so its accuracy is
    1 - r (r: the share of replaced tokens); any constant answer has ROC AUC 0.5.  The
    generator's is the most frequent token of the pretraining text, guessed at every
    picked position.  Measured with the three learning rates of ``PRETRAIN``: accuracy
    0.868 against 0.855, AUC 0.67, top-1 0.144 against 0.121; on the last training
    batches, accuracy 0.871 against 0.854.  With one lr of 1e-4 for
    everything the top-1 equalled the most frequent token's (chapter 1); with one lr of
    1e-3 the AUC was 0.55 and the accuracy at the baseline (chapter 3's collapse).
    """
    tok = zoo.tokenizer(OFFLINE)
    texts = zoo.pretraining_texts(OFFLINE)
    pair, history, _ = zoo.pretrain(zoo.PRETRAIN, tok, texts, device="cpu")
    rows = zoo.pack(tok, zoo.pretraining_texts(OFFLINE, split="heldout"), zoo.PRETRAIN.max_length)[:256]
    with torch.no_grad():
        out = rtd.rtd_step(pair, {"input_ids": rows, "attention_mask": torch.ones_like(rows)},
                           mask_token_id=tok.mask_token_id, special_ids=tok.all_special_ids,
                           generator=torch.Generator().manual_seed(1))
    z, y = out.disc_logits.flatten(), out.disc_labels.flatten().bool()  # (N,)
    baseline = 1 - y.float().mean().item()  # all "original"
    accuracy = ((z > 0) == y).float().mean().item()
    ranks = z.argsort().argsort().float() + 1  # 1-based ranks; ties are absent for float logits
    auc = ((ranks[y].sum() - y.sum() * (y.sum() + 1) / 2) / (y.sum() * (~y).sum())).item()  # Mann-Whitney U / n1 n0
    assert 0.8 < baseline < 0.95, baseline  # about 15 % of tokens are picked and most samples differ
    assert accuracy > baseline + 0.01, (accuracy, baseline)  # the error rate falls by a tenth or more
    assert auc > 0.6, auc
    sel = out.masked.selected  # (B, T) picked positions
    train_ids = zoo.pack(tok, texts, zoo.PRETRAIN.max_length)
    counts = torch.bincount(train_ids.flatten(), minlength=len(tok))
    counts[tok.all_special_ids] = 0
    top1 = (out.gen_logits[sel].argmax(-1) == rows[sel]).float().mean().item()
    most_frequent = (rows[sel] == counts.argmax()).float().mean().item()
    assert top1 > most_frequent + 0.01, (top1, most_frequent)
    last = history.train[-1]
    assert last["disc_acc"] > 1 - last["replaced_frac"] + 0.005, last  # on the training batches as well


def test_pretrain_loader_keeps_full_batches_or_one_short_batch_when_rows_are_fewer():
    rows = torch.arange(3 * 4).reshape(3, 4)
    short = list(zoo.pretrain_loader(rows, batch_size=8, seed=0))
    assert len(short) == 1 and sorted(short[0]["input_ids"][:, 0].tolist()) == [0, 4, 8]
    full = list(zoo.pretrain_loader(torch.arange(10 * 4).reshape(10, 4), batch_size=4, seed=0))
    assert [b["input_ids"].shape[0] for b in full] == [4, 4]  # the last 2 rows are dropped
