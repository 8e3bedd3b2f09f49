"""rmdlib.distill: the teacher -> student loss against closed forms, and layer-dropping initialisation."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rmdlib.distill import TeacherCache, distill_loss_fn, student_from_teacher
from rmdlib.losses import IGNORE_INDEX, token_cross_entropy
from rmdlib.models import build_encoder, build_tagger

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one intra-op thread avoids spin-wait contention on a loaded CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Logits(nn.Module):
    """A "model" whose logits (B, T, C) are a parameter, so d loss / d logits is its .grad."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, input_ids: torch.Tensor, **_: object) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits)


def _tagger(layers: int = 4, hidden: int = 16, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    enc = build_encoder(vocab_size=40, hidden=hidden, layers=layers, heads=2, embedding_size=8, max_position=16)
    return build_tagger(enc, LABELS)


def _batch(seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 3 + [0] * 3])
    labels = torch.randint(0, len(LABELS), (3, 6), generator=g).masked_fill(mask == 0, IGNORE_INDEX)
    labels[:, 0] = IGNORE_INDEX
    return {"input_ids": torch.randint(1, 40, (3, 6), generator=g) * mask, "attention_mask": mask, "labels": labels}


def _logit_pair(seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(3, 6, len(LABELS), generator=g, dtype=torch.float64),
            3 * torch.randn(3, 6, len(LABELS), generator=g, dtype=torch.float64))


def test_zero_when_student_equals_teacher():
    teacher, batch = _tagger(), _batch()
    student = copy.deepcopy(teacher).eval()
    loss, logs = distill_loss_fn(teacher, temperature=3.0, alpha=1.0)(student, batch)
    assert abs(loss.item()) < 1e-6 and logs["kd"] < 1e-6


@pytest.mark.parametrize(("alpha", "temperature"), [(1.0, 2.0), (0.3, 4.0)])
def test_gradient_wrt_student_logits_is_closed_form(alpha, temperature):
    s, t = _logit_pair()
    batch = _batch()
    student = _Logits(s)
    loss, _ = distill_loss_fn(_Logits(t), temperature=temperature, alpha=alpha)(student, batch)
    loss.backward()
    keep = (batch["labels"] != IGNORE_INDEX).double()[..., None]  # (B, T, 1)
    n = keep.sum()
    q, p = F.softmax(s / temperature, -1), F.softmax(t / temperature, -1)
    onehot = F.one_hot(batch["labels"].clamp_min(0), len(LABELS)).double()
    # alpha * T (q - p) / N  +  (1 - alpha) (softmax(s) - y) / N, zero on ignored tokens
    expected = keep * (alpha * temperature * (q - p) + (1 - alpha) * (F.softmax(s, -1) - onehot)) / n
    torch.testing.assert_close(student.logits.grad, expected)


def test_alpha_zero_is_token_cross_entropy():
    s, t = _logit_pair()
    batch = _batch()
    loss, logs = distill_loss_fn(_Logits(t), alpha=0.0)(_Logits(s), batch)
    reference = F.cross_entropy(s.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(loss, reference)
    assert logs["ce"] == pytest.approx(reference.item())
    smoothed, _ = distill_loss_fn(_Logits(t), alpha=0.0, label_smoothing=0.1)(_Logits(s), batch)
    torch.testing.assert_close(smoothed, token_cross_entropy(s, batch["labels"], label_smoothing=0.1))


def test_mixture_matches_hinton_formula_with_batchmean():
    s, t = _logit_pair()
    batch, temp, alpha = _batch(), 2.5, 0.6
    loss, logs = distill_loss_fn(_Logits(t), temperature=temp, alpha=alpha)(_Logits(s), batch)
    keep = batch["labels"] != IGNORE_INDEX
    kl = F.kl_div(F.log_softmax(s[keep] / temp, -1), F.log_softmax(t[keep] / temp, -1), log_target=True,
                  reduction="batchmean") * temp**2
    ce = F.cross_entropy(s[keep], batch["labels"][keep])
    torch.testing.assert_close(loss, alpha * kl + (1 - alpha) * ce)
    assert logs["kd"] == pytest.approx(kl.item()) and logs["ce"] == pytest.approx(ce.item())


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_hard_targets_are_cross_entropy_with_the_teachers_top_class(alpha):
    """hard=True: CE(s, argmax t) over the labelled tokens; gradient (softmax(s) - onehot(argmax t)) / N."""
    s, t = _logit_pair()
    batch = _batch()
    student = _Logits(s)
    loss, logs = distill_loss_fn(_Logits(t), alpha=alpha, hard=True, temperature=7.0)(student, batch)
    keep = batch["labels"] != IGNORE_INDEX
    top = t.argmax(-1)  # (B, T)
    kd = F.cross_entropy(s[keep], top[keep])
    ce = F.cross_entropy(s[keep], batch["labels"][keep])
    torch.testing.assert_close(loss, alpha * kd + (1 - alpha) * ce)
    assert logs["kd"] == pytest.approx(kd.item())
    loss.backward()
    n = keep.sum()
    onehot_t = F.one_hot(top, len(LABELS)).double()
    onehot_y = F.one_hot(batch["labels"].clamp_min(0), len(LABELS)).double()
    probs = F.softmax(s, -1)
    expected = keep.double()[..., None] * (alpha * (probs - onehot_t) + (1 - alpha) * (probs - onehot_y)) / n
    torch.testing.assert_close(student.logits.grad, expected)


def test_hard_targets_are_the_low_temperature_limit_of_soft_ones():
    """As T -> 0 softmax(t/T) becomes the one-hot top class, so CE with it is CE with the hard tags."""
    s, t = _logit_pair()
    keep = _batch()["labels"] != IGNORE_INDEX
    p_cold = F.softmax(t[keep] / 1e-3, -1)  # (N, C): one-hot at the teacher's top class
    torch.testing.assert_close(p_cold, F.one_hot(t[keep].argmax(-1), len(LABELS)).double())
    soft_ce = -(p_cold * F.log_softmax(s[keep], -1)).sum(-1).mean()
    torch.testing.assert_close(soft_ce, F.cross_entropy(s[keep], t[keep].argmax(-1)))


def test_teacher_gets_no_gradient_and_stays_in_eval_mode():
    teacher, batch = _tagger(), _batch()
    student = student_from_teacher(teacher)
    teacher.train()  # whatever mode it was left in
    loss, _ = distill_loss_fn(teacher, alpha=0.5)(student, batch)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)


def test_hidden_state_matching_is_masked_mse_and_needs_equal_widths():
    teacher, batch = _tagger(), _batch()
    student = _tagger(seed=3).eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    loss_h, logs = distill_loss_fn(teacher, alpha=1.0, hidden_weight=2.0)(student, batch)
    loss_0, _ = distill_loss_fn(teacher, alpha=1.0)(student, batch)
    with torch.no_grad():
        h_s = student(**inputs, output_hidden_states=True).hidden_states[-1]
        h_t = teacher(**inputs, output_hidden_states=True).hidden_states[-1]
    real = batch["attention_mask"].bool()
    mse = F.mse_loss(h_s[real], h_t[real])  # mean over non-pad tokens and D
    assert logs["hidden"] == pytest.approx(mse.item(), rel=1e-5)
    torch.testing.assert_close(loss_h, loss_0 + 2.0 * mse)
    with pytest.raises(ValueError, match="equal widths"):
        distill_loss_fn(teacher, hidden_weight=1.0)(_tagger(hidden=8), batch)
    distill_loss_fn(teacher)(_tagger(hidden=8), batch)  # widths only matter when matched


@pytest.mark.parametrize(("every", "kept"), [(2, [0, 2]), (3, [0, 3]), (1, [0, 1, 2, 3])])
def test_student_copies_every_kth_layer_embeddings_and_head(every, kept):
    teacher = _tagger(layers=4)
    student = student_from_teacher(teacher, every=every)
    assert type(student) is type(teacher)
    assert student.config.num_hidden_layers == len(kept) == len(student.electra.encoder.layer)
    assert teacher.config.num_hidden_layers == 4  # the teacher's config is not touched
    for j, i in enumerate(kept):
        s_layer, t_layer = student.electra.encoder.layer[j].state_dict(), teacher.electra.encoder.layer[i].state_dict()
        assert s_layer.keys() == t_layer.keys()
        assert all(torch.equal(s_layer[k], t_layer[k]) for k in s_layer)
    t_state = teacher.state_dict()
    for key, value in student.state_dict().items():
        if ".encoder.layer." not in key:  # embeddings, embeddings_project, classifier
            assert torch.equal(value, t_state[key]), key
    n_student = sum(p.numel() for p in student.parameters())
    n_teacher = sum(p.numel() for p in teacher.parameters())
    layer_size = sum(p.numel() for p in teacher.electra.encoder.layer[0].parameters())
    assert n_teacher - n_student == (4 - len(kept)) * layer_size
    assert student.config.id2label == teacher.config.id2label and student.training


def test_student_from_teacher_rejects_bad_input():
    with pytest.raises(ValueError, match="every must be"):
        student_from_teacher(_tagger(layers=2), every=3)
    with pytest.raises(ValueError, match="encoder.layer"):
        student_from_teacher(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="needs labels"):
        batch = {k: v for k, v in _batch().items() if k != "labels"}
        distill_loss_fn(_tagger(), alpha=0.5)(_tagger(), batch)


def test_cached_teacher_gives_the_same_loss_with_one_teacher_pass_per_row():
    """cache=True: equal losses and gradients, whatever the padding; the teacher runs only for new rows."""
    teacher, batch = _tagger(), _batch()
    student = _tagger(layers=2, seed=3).eval()
    calls = []
    teacher.register_forward_hook(lambda module, args, output: calls.append(1))
    plain = distill_loss_fn(teacher, temperature=2.0, alpha=0.5)
    cached = distill_loss_fn(teacher, temperature=2.0, alpha=0.5, cache=True)
    expected, _ = plain(student, batch)
    assert len(calls) == 1
    first, _ = cached(student, batch)  # fills the cache
    again, _ = cached(student, batch)  # served from it
    assert len(calls) == 2  # one pass for plain, one for the first cached call
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(again, expected)
    # the same rows in another order, padded to a longer length: still no teacher pass, same loss
    order = torch.tensor([2, 0, 1])
    wider = {k: F.pad(v[order], (0, 3), value=IGNORE_INDEX if k == "labels" else 0) for k, v in batch.items()}
    student.zero_grad()
    loss_wide, _ = cached(student, wider)
    loss_wide.backward()
    grads_cached = [p.grad.clone() for p in student.parameters()]
    assert len(calls) == 2
    student.zero_grad()
    loss_plain, _ = plain(student, wider)
    loss_plain.backward()
    torch.testing.assert_close(loss_wide, loss_plain, atol=1e-6, rtol=1e-5)
    for g_c, p in zip(grads_cached, student.parameters()):
        torch.testing.assert_close(g_c, p.grad, atol=1e-6, rtol=1e-4)
    # a new row makes the teacher run again
    new = {k: v.clone() for k, v in batch.items()}
    new["input_ids"][0, 1] = (new["input_ids"][0, 1] % 39) + 1
    cached(student, new)
    assert len(calls) == 4  # plain's pass above, then this one
    with pytest.raises(ValueError, match="hidden_weight"):
        distill_loss_fn(teacher, cache=True, hidden_weight=1.0)


def test_a_shared_teacher_cache_serves_every_temperature_from_one_teacher_pass():
    """One TeacherCache given to losses at T = 1 and T = 4: one teacher pass, each loss equal to its uncached twin."""
    teacher, batch = _tagger(), _batch()
    student = _tagger(layers=2, seed=3).eval()
    calls = []
    teacher.register_forward_hook(lambda module, args, output: calls.append(1))
    shared = TeacherCache(teacher)
    for temperature in (1.0, 4.0):
        cached, _ = distill_loss_fn(teacher, temperature=temperature, alpha=1.0, cache=shared)(student, batch)
        n_calls = len(calls)
        plain, _ = distill_loss_fn(teacher, temperature=temperature, alpha=1.0)(student, batch)
        torch.testing.assert_close(cached, plain)
    assert n_calls == 2  # the cache's one pass at T = 1, plain's pass at T = 1; none for the cache at T = 4
    with torch.no_grad():  # called directly: the teacher's logits, zero at padding
        logits = shared({k: batch[k] for k in ("input_ids", "attention_mask")})
        expected = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    keep = batch["attention_mask"].bool()
    torch.testing.assert_close(logits[keep], expected[keep])
    assert torch.all(logits[~keep] == 0)
    with pytest.raises(ValueError, match="another teacher"):
        distill_loss_fn(_tagger(seed=5), cache=shared)
