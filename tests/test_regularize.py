"""rmdlib.regularize: dropout settings, FGM and PGD against closed forms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rmdlib.models import build_encoder, build_tagger, tagging_loss_fn
from rmdlib.regularize import fgm, pgd, set_dropout
from rmdlib.train import TrainConfig, evaluate, fit

EPS = 0.7


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one intra-op thread avoids spin-wait contention on a loaded CPU (500x here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Linear(nn.Module):
    """Loss linear in the embeddings: L = sum_b sum_{t real} w . e_bt, so dL/de_bt = w on real tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 5)
        self.w = nn.Parameter(torch.randn(5))

    def get_input_embeddings(self) -> nn.Module:
        return self.emb

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.emb(input_ids)  # (B, T, E)


def _linear_loss(model: _Linear, batch: dict) -> torch.Tensor:
    e = model(batch["input_ids"])  # (B, T, E)
    return ((e @ model.w) * batch["attention_mask"]).sum()


def _linear_setup():
    torch.manual_seed(0)
    model = _Linear().double()
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    batch = {"input_ids": torch.randint(1, 11, (3, 4)) * mask, "attention_mask": mask}
    grad_norms = model.w.detach().norm() * mask.sum(1).double().sqrt()  # ||g_b|| = ||w|| sqrt(n_b)
    return model, batch, grad_norms


def _tagger(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    enc = build_encoder(vocab_size=30, hidden=16, layers=2, heads=2, embedding_size=8, max_position=16)
    return build_tagger(enc, ["O", "B-PER", "I-PER"])


def _tag_batch() -> dict:
    g = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    labels = torch.randint(0, 3, (3, 7), generator=g).masked_fill(mask == 0, -100)
    labels[:, 0] = -100  # [CLS]
    return {"input_ids": torch.randint(1, 30, (3, 7), generator=g) * mask, "attention_mask": mask,
            "labels": labels}


def _perturbations(model: nn.Module, wrapped, batch: dict) -> list[torch.Tensor]:
    """Word embeddings + r of every forward pass, read at the embeddings' LayerNorm input."""
    seen: list[torch.Tensor] = []
    hook = model.electra.embeddings.LayerNorm.register_forward_hook(lambda m, a, o: seen.append(a[0].detach()))
    try:
        wrapped(model, batch)
    finally:
        hook.remove()
    return [x - seen[0] for x in seen]  # positions and token types cancel: what is left is r


def test_set_dropout_sets_each_kind_and_the_config():
    model = set_dropout(_tagger(), hidden=0.2, attention=0.3, head=0.4)
    rates = {name: m.p for name, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert rates["dropout"] == 0.4
    assert rates["electra.encoder.layer.1.attention.self.dropout"] == 0.3
    assert rates["electra.embeddings.dropout"] == 0.2
    assert rates["electra.encoder.layer.0.attention.output.dropout"] == 0.2
    assert rates["electra.encoder.layer.1.output.dropout"] == 0.2
    assert sorted(rates.values()) == [0.2] * 5 + [0.3] * 2 + [0.4]
    cfg = model.config
    assert (cfg.hidden_dropout_prob, cfg.attention_probs_dropout_prob, cfg.classifier_dropout) == (0.2, 0.3, 0.4)
    set_dropout(model, attention=0.0)  # None leaves the others alone
    assert sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout)) == [0.0] * 2 + [0.2] * 5 + [0.4]


def test_set_dropout_rejects_bad_rates_and_missing_heads():
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        set_dropout(_tagger(), hidden=1.0)
    with pytest.raises(ValueError, match="no head dropout"):
        set_dropout(build_encoder(vocab_size=30, hidden=16, layers=1, heads=2), head=0.1)


def test_fgm_linear_loss_rises_by_eps_times_grad_norm_and_grads_get_both_terms():
    model, batch, grad_norms = _linear_setup()
    clean = _linear_loss(model, batch)
    total, logs = fgm(_linear_loss, epsilon=EPS)(model, batch)
    # L(e + r) = L(e) + sum_b r_b . g_b = L(e) + eps * sum_b ||g_b||
    torch.testing.assert_close(total - clean, clean + EPS * grad_norms.sum())
    assert logs["clean"] == pytest.approx(clean.item())
    assert logs["adv"] == pytest.approx((clean + EPS * grad_norms.sum()).item())
    total.backward()
    # d/dw: clean term sum e + adversarial term sum (e + r), r constant = eps w / (||w|| sqrt(n_b)) per real token
    mask = batch["attention_mask"].double()
    e = model.emb(batch["input_ids"]).detach()
    n = mask.sum(1)
    r_sum = EPS * model.w.detach() / model.w.detach().norm() * (n / n.sqrt()).sum()
    torch.testing.assert_close(model.w.grad, 2 * (e * mask[..., None]).sum((0, 1)) + r_sum)
    assert model.emb.weight.grad[batch["input_ids"][0, 0]].abs().sum() > 0


def test_pads_stay_unperturbed_even_where_the_loss_has_gradient_there():
    model, batch, grad_norms = _linear_setup()

    def every_position(m, b):  # dL/de = w at pads too
        return (m(b["input_ids"]) @ m.w).sum()

    clean = every_position(model, batch)
    for wrapped, moved in ((fgm(every_position, epsilon=EPS), 2 * clean), (pgd(every_position, epsilon=EPS), clean)):
        total, _ = wrapped(model, batch)
        # r lives on the n_b real tokens only: r_b . g_b = eps ||w|| sqrt(n_b)
        torch.testing.assert_close(total, moved + EPS * grad_norms.sum())


def test_fgm_perturbation_has_norm_eps_per_example_and_zero_on_pads():
    model, batch = _tagger(), _tag_batch()
    deltas = _perturbations(model, fgm(tagging_loss_fn(), epsilon=EPS), batch)
    assert len(deltas) == 2 and torch.equal(deltas[0], torch.zeros_like(deltas[0]))
    r, pad = deltas[1], batch["attention_mask"] == 0
    torch.testing.assert_close(r.flatten(1).norm(dim=1), torch.full((3,), EPS), atol=1e-5, rtol=0)
    assert torch.equal(r[pad], torch.zeros_like(r[pad]))
    assert (r[~pad].abs().sum(-1) > 0).all()  # every real token is moved


@pytest.mark.parametrize(("steps", "moved"), [(2, 2 * 0.3), (5, EPS)])
def test_pgd_linear_closed_form_stays_in_ball(steps, moved):
    model, batch, grad_norms = _linear_setup()
    clean = _linear_loss(model, batch)
    # constant gradient: delta_K = min(K alpha, eps) g / ||g|| per example
    total, logs = pgd(_linear_loss, epsilon=EPS, alpha=0.3, steps=steps)(model, batch)
    torch.testing.assert_close(total, clean + moved * grad_norms.sum())
    both, _ = pgd(_linear_loss, epsilon=EPS, alpha=0.3, steps=steps, add_clean=True)(model, batch)
    torch.testing.assert_close(both, 2 * clean + moved * grad_norms.sum())
    assert logs["clean"] == pytest.approx(clean.item())


def test_pgd_final_perturbation_in_eps_ball_and_zero_on_pads():
    model, batch = _tagger(), _tag_batch()
    model.eval()  # no dropout: the ascent sees one function
    deltas = _perturbations(model, pgd(tagging_loss_fn(), epsilon=EPS, alpha=0.5, steps=4), batch)
    assert len(deltas) == 5
    pad = batch["attention_mask"] == 0
    for delta in deltas:
        assert (delta.flatten(1).norm(dim=1) <= EPS + 1e-6).all()
        assert torch.equal(delta[pad], torch.zeros_like(delta[pad]))
    torch.testing.assert_close(deltas[-1].flatten(1).norm(dim=1), torch.full((3,), EPS), atol=1e-5, rtol=0)


def test_wrappers_train_with_fit_and_evaluate_the_clean_loss():
    batch = _tag_batch()
    for wrap in (lambda f: fgm(f, epsilon=EPS), lambda f: pgd(f, epsilon=EPS, steps=2)):
        model = _tagger()
        before = [p.detach().clone() for p in model.parameters()]
        loss, _ = wrap(tagging_loss_fn())(model, batch)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
        model.zero_grad(set_to_none=True)
        hist = fit(model, wrap(tagging_loss_fn()), [batch], cfg=TrainConfig(max_steps=2, log_every=1, lr=1e-2,
                                                                          progress=False), device="cpu")
        assert {"clean", "adv"} <= set(hist.train[-1])
        assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
        clean = evaluate(model, [batch], tagging_loss_fn(), device="cpu")["loss"]
        assert evaluate(model, [batch], wrap(tagging_loss_fn()), device="cpu")["loss"] == pytest.approx(clean)


def test_loss_fn_must_call_embeddings_once():
    model, batch, _ = _linear_setup()

    def twice(m, b):
        return _linear_loss(m, b) + _linear_loss(m, b)

    with pytest.raises(ValueError, match="2 times"):
        fgm(twice)(model, batch)
    with pytest.raises(ValueError, match="epsilon"):
        fgm(_linear_loss, epsilon=0.0)
