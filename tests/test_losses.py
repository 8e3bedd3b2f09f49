"""Tests for rmdlib.losses: closed forms from chapter 2 and PyTorch references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rmdlib.losses import (
    IGNORE_INDEX,
    RTDLoss,
    binary_cross_entropy,
    distillation_loss,
    mlm_loss,
    rtd_loss,
    token_cross_entropy,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _labels_with_ignored(B: int, T: int, C: int, g: torch.Generator, p_ignore: float = 0.3) -> torch.Tensor:
    labels = torch.randint(0, C, (B, T), generator=g)
    ignored = torch.rand(B, T, generator=g) < p_ignore
    return labels.masked_fill(ignored, IGNORE_INDEX)


# --- token cross-entropy ----------------------------------------------------------------------


@pytest.mark.parametrize("C", [2, 7, 1000])
def test_cross_entropy_of_uniform_logits_is_log_c(C: int) -> None:
    logits = torch.zeros(3, 5, C, dtype=torch.float64)
    labels = torch.randint(0, C, (3, 5), generator=_gen())
    assert token_cross_entropy(logits, labels).item() == pytest.approx(math.log(C), rel=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_cross_entropy_matches_pytorch(smoothing: float) -> None:
    g = _gen(1)
    logits = 3 * torch.randn(4, 9, 11, generator=g)
    labels = _labels_with_ignored(4, 9, 11, g)
    ours = token_cross_entropy(logits, labels, label_smoothing=smoothing)
    ref = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1),
                          ignore_index=IGNORE_INDEX, label_smoothing=smoothing)
    torch.testing.assert_close(ours, ref)


def test_cross_entropy_custom_ignore_index_matches_pytorch() -> None:
    g = _gen(2)
    logits = torch.randn(2, 6, 5, generator=g)
    labels = torch.randint(0, 5, (2, 6), generator=g)
    labels[0, :3] = 3  # ignore class 3 instead of -100
    ours = token_cross_entropy(logits, labels, ignore_index=3)
    ref = F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=3)
    torch.testing.assert_close(ours, ref)


def test_label_smoothing_closed_form() -> None:
    # Two classes, logits (0, log 3): p = (1/4, 3/4); target class 1, eps = 0.2.
    # Target distribution (1 - eps) onehot + eps / C = (0.1, 0.9).
    logits = torch.tensor([[[0.0, math.log(3.0)]]], dtype=torch.float64)
    labels = torch.tensor([[1]])
    expected = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    got = token_cross_entropy(logits, labels, label_smoothing=0.2)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_all_ignored_is_zero_with_gradient() -> None:
    logits = torch.randn(2, 3, 4, requires_grad=True)
    labels = torch.full((2, 3), IGNORE_INDEX)
    loss = token_cross_entropy(logits, labels)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_cross_entropy_ignored_positions_get_no_gradient() -> None:
    logits = torch.randn(1, 4, 3, requires_grad=True)
    labels = torch.tensor([[0, IGNORE_INDEX, 2, IGNORE_INDEX]])
    token_cross_entropy(logits, labels).backward()
    assert torch.equal(logits.grad[0, 1], torch.zeros(3))
    assert torch.equal(logits.grad[0, 3], torch.zeros(3))
    # kept positions: (softmax - onehot) / N with N = 2
    expected = (logits.detach()[0, 0].softmax(-1) - torch.tensor([1.0, 0.0, 0.0])) / 2
    torch.testing.assert_close(logits.grad[0, 0], expected)


def test_cross_entropy_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="labels of shape"):
        token_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))


def test_half_precision_logits_are_promoted() -> None:
    logits = torch.zeros(2, 3, 50, dtype=torch.bfloat16)
    labels = torch.zeros(2, 3, dtype=torch.long)
    loss = token_cross_entropy(logits, labels)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(math.log(50), rel=1e-6)


def test_mlm_loss_counts_only_masked_positions() -> None:
    g = _gen(3)
    logits = torch.randn(2, 5, 7, generator=g)
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 1], labels[1, 4] = 3, 6
    expected = -(logits[0, 1].log_softmax(-1)[3] + logits[1, 4].log_softmax(-1)[6]) / 2
    torch.testing.assert_close(mlm_loss(logits, labels), expected)


# --- binary cross-entropy and the RTD loss ----------------------------------------------------


def _rtd_inputs(seed: int, B: int = 3, T: int = 8, V: int = 13):
    g = _gen(seed)
    gen_logits = 2 * torch.randn(B, T, V, generator=g, dtype=torch.float64)
    mlm_labels = _labels_with_ignored(B, T, V, g, p_ignore=0.8)
    disc_logits = 2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    disc_labels = (torch.rand(B, T, generator=g) < 0.2).long()
    lengths = torch.tensor([T, T - 3, 2])
    attention_mask = (torch.arange(T) < lengths[:, None]).long()  # (B, T) trailing pads
    return gen_logits, mlm_labels, disc_logits, disc_labels, attention_mask


def test_rtd_loss_at_zero_logits_is_log_v_plus_lambda_log_2() -> None:
    _, mlm_labels, _, disc_labels, attention_mask = _rtd_inputs(4, V=13)
    mlm_labels[0, 0] = 5  # at least one masked position
    out = rtd_loss(torch.zeros(3, 8, 13, dtype=torch.float64), mlm_labels,
                   torch.zeros(3, 8, dtype=torch.float64), disc_labels, attention_mask, disc_weight=50.0)
    assert isinstance(out, RTDLoss)
    assert out.mlm.item() == pytest.approx(math.log(13), rel=1e-12)
    assert out.disc.item() == pytest.approx(math.log(2), rel=1e-12)
    assert out.total.item() == pytest.approx(math.log(13) + 50 * math.log(2), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rtd_loss_matches_pytorch_references(seed: int) -> None:
    gen_logits, mlm_labels, disc_logits, disc_labels, attention_mask = _rtd_inputs(seed)
    out = rtd_loss(gen_logits, mlm_labels, disc_logits, disc_labels, attention_mask, disc_weight=7.0)
    V = gen_logits.shape[-1]
    ref_mlm = F.cross_entropy(gen_logits.reshape(-1, V), mlm_labels.reshape(-1), ignore_index=IGNORE_INDEX)
    keep = attention_mask.bool()
    ref_disc = F.binary_cross_entropy_with_logits(disc_logits[keep], disc_labels[keep].double())
    torch.testing.assert_close(out.mlm, ref_mlm)
    torch.testing.assert_close(out.disc, ref_disc)
    torch.testing.assert_close(out.total, ref_mlm + 7.0 * ref_disc)


def test_rtd_loss_ignores_what_sits_under_the_pads() -> None:
    gen_logits, mlm_labels, disc_logits, disc_labels, attention_mask = _rtd_inputs(5)
    pads = ~attention_mask.bool()
    a = rtd_loss(gen_logits, mlm_labels, disc_logits, disc_labels, attention_mask)
    b = rtd_loss(gen_logits, mlm_labels, disc_logits.masked_fill(pads, 1e4),
                 disc_labels.masked_fill(pads, 1), attention_mask)
    torch.testing.assert_close(a.total, b.total)


def test_bce_gradient_is_sigma_minus_y_over_n() -> None:
    g = _gen(6)
    z = (3 * torch.randn(4, 10, generator=g, dtype=torch.float64)).requires_grad_()
    y = (torch.rand(4, 10, generator=g) < 0.3).long()
    keep = torch.rand(4, 10, generator=g) < 0.7
    binary_cross_entropy(z, y, keep).backward()
    n = keep.sum()
    expected = torch.where(keep, (torch.sigmoid(z.detach()) - y) / n, torch.zeros_like(z))
    torch.testing.assert_close(z.grad, expected)


def test_bce_is_stable_for_large_logits() -> None:
    z = torch.tensor([[200.0, -200.0]])
    y = torch.tensor([[0, 1]])
    loss = binary_cross_entropy(z, y, torch.ones(1, 2, dtype=torch.bool))
    assert loss.item() == pytest.approx(200.0)


# --- distillation -----------------------------------------------------------------------------


def test_distillation_loss_is_zero_when_student_equals_teacher() -> None:
    logits = torch.randn(3, 5, 6, generator=_gen(7))
    assert distillation_loss(logits, logits.clone(), temperature=2.0).abs().item() < 1e-6


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_distillation_gradient_is_t_times_q_minus_p_over_n(temperature: float) -> None:
    g = _gen(8)
    s = (2 * torch.randn(3, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    t = 2 * torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    mask = torch.rand(3, 5, generator=g) < 0.6
    distillation_loss(s, t, temperature=temperature, mask=mask).backward()
    q = torch.softmax(s.detach() / temperature, -1)
    p = torch.softmax(t / temperature, -1)
    expected = temperature * (q - p) / mask.sum()
    expected = torch.where(mask[..., None], expected, torch.zeros_like(expected))
    torch.testing.assert_close(s.grad, expected)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_distillation_matches_kl_div_batchmean_on_kept_tokens(temperature: float) -> None:
    g = _gen(9)
    s = torch.randn(4, 7, 10, generator=g)
    t = torch.randn(4, 7, 10, generator=g)
    mask = torch.rand(4, 7, generator=g) < 0.5
    ours = distillation_loss(s, t, temperature=temperature, mask=mask)
    ref = F.kl_div(F.log_softmax(s[mask] / temperature, -1), F.softmax(t[mask] / temperature, -1),
                   reduction="batchmean") * temperature**2
    torch.testing.assert_close(ours, ref)


def test_distillation_does_not_backpropagate_into_the_teacher() -> None:
    s = torch.randn(2, 3, 4, requires_grad=True)
    t = torch.randn(2, 3, 4, requires_grad=True)
    distillation_loss(s, t, temperature=2.0).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_distillation_rejects_bad_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), temperature=0.0)


# --- further closed forms derived in chapter 2 ------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing_gradient_is_p_minus_smoothed_target_over_n(smoothing: float) -> None:
    g = _gen(10)
    C = 9
    z = (2 * torch.randn(3, 6, C, generator=g, dtype=torch.float64)).requires_grad_()
    labels = _labels_with_ignored(3, 6, C, g)
    token_cross_entropy(z, labels, label_smoothing=smoothing).backward()
    keep = labels != IGNORE_INDEX
    target = (1 - smoothing) * F.one_hot(labels.clamp_min(0), C).double() + smoothing / C
    expected = (z.detach().softmax(-1) - target) / keep.sum()
    torch.testing.assert_close(z.grad, torch.where(keep[..., None], expected, torch.zeros_like(expected)))


def test_label_smoothing_optimum_has_the_closed_form_logit_gap() -> None:
    # The minimiser is softmax(z) = (1 - eps) onehot + eps / C: gap log(1 + C (1 - eps) / eps).
    C, eps = 9, 0.1
    gap = math.log(1 + C * (1 - eps) / eps)
    z = torch.zeros(1, 1, C, dtype=torch.float64)
    z[0, 0, 4] = gap
    z.requires_grad_()
    token_cross_entropy(z, torch.tensor([[4]]), label_smoothing=eps).backward()
    torch.testing.assert_close(z.grad, torch.zeros_like(z), atol=1e-12, rtol=0)


def test_distillation_gradient_tends_to_centered_logit_difference_at_high_temperature() -> None:
    # T^2 KL: gradient T (q - p) / N -> ((s - mean s) - (t - mean t)) / (C N) as T grows (Hinton et al. 2015).
    g = _gen(11)
    C = 7
    s = (torch.randn(2, 4, C, generator=g, dtype=torch.float64)).requires_grad_()
    t = torch.randn(2, 4, C, generator=g, dtype=torch.float64)
    distillation_loss(s, t, temperature=1e4).backward()
    centered = lambda x: x - x.mean(-1, keepdim=True)  # noqa: E731
    expected = (centered(s.detach()) - centered(t)) / (C * 8)
    torch.testing.assert_close(s.grad, expected, rtol=1e-3, atol=1e-7)


def test_bce_of_the_best_constant_logit_is_the_binary_entropy() -> None:
    y = torch.tensor([[1, 0, 0, 0, 1, 0, 0, 0, 0, 0]])
    r = 0.2
    z = torch.full((1, 10), math.log(r / (1 - r)), dtype=torch.float64)
    loss = binary_cross_entropy(z, y, torch.ones(1, 10, dtype=torch.bool))
    assert loss.item() == pytest.approx(-(r * math.log(r) + (1 - r) * math.log(1 - r)), rel=1e-12)
