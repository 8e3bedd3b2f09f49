"""Tests of rmdlib.adapt and rmdlib.multitask: trainable counts against closed forms, identity at
initialisation, LoRA merging, virtual-token slicing, checkpoints, and adapter switching."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import ElectraForTokenClassification

from rmdlib.adapt import (AdaptConfig, adapt, closed_form_trainable, count_parameters, load_trainable,
                          save_trainable)
from rmdlib.losses import IGNORE_INDEX, token_cross_entropy
from rmdlib.models import build_encoder, build_tagger, tagging_loss_fn
from rmdlib.multitask import MultiTaskTagger
from rmdlib.train import TrainConfig, fit

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
V, D, L, I, C = 40, 16, 2, 24, len(LABELS)


def encoder():
    torch.manual_seed(0)
    return build_encoder(vocab_size=V, hidden=D, layers=L, heads=2, intermediate=I, max_position=48)


def tagger():
    return build_tagger(encoder(), LABELS).eval()


def batch(b: int = 3, t: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[0, -2:] = 0
    labels = torch.randint(0, C, (b, t), generator=g)
    labels[mask == 0] = IGNORE_INDEX
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def inputs(b):
    return {k: b[k] for k in ("input_ids", "attention_mask")}


CASES = [AdaptConfig("head"), AdaptConfig("top_k", top_k=1), AdaptConfig("top_k", top_k=2),
         AdaptConfig("bottleneck", bottleneck=4), AdaptConfig("lora", r=4),
         AdaptConfig("lora", r=2, lora_targets=("query", "key", "value", "dense")), AdaptConfig("ia3"),
         AdaptConfig("prefix", virtual_tokens=3), AdaptConfig("prompt", virtual_tokens=3)]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: f"{c.method}-{c.top_k}-{c.r}-{len(c.lora_targets)}")
def test_trainable_parameters_match_the_closed_forms(cfg) -> None:
    model = adapt(tagger(), cfg)
    trainable, _ = count_parameters(model)
    assert trainable == closed_form_trainable(model.config, C, cfg)
    head = D * C + C
    by_hand = {"head": 0, "top_k": cfg.top_k * (4 * D * D + 2 * D * I + 9 * D + I),
               "bottleneck": 2 * L * (2 * 4 * D + D + 4), "ia3": L * (2 * D + I), "prefix": 2 * 3 * L * D,
               "prompt": 3 * D,
               "lora": L * (2 * 4 * 2 * D if len(cfg.lora_targets) == 2 else 2 * (3 * 2 * D + 2 * D + 2 * (D + I)))}
    assert trainable == by_hand[cfg.method] + head


def test_full_trains_everything_and_bottleneck_count_is_2md_plus_d_plus_m_per_adapter() -> None:
    model = adapt(tagger(), AdaptConfig("full"))
    trainable, total = count_parameters(model)
    assert trainable == total
    model = adapt(tagger(), AdaptConfig("bottleneck", bottleneck=5))
    adapters = [m for m in model.modules() if type(m).__name__ == "Bottleneck"]
    assert len(adapters) == 2 * L
    assert all(sum(p.numel() for p in a.parameters()) == 2 * 5 * D + D + 5 for a in adapters)


@pytest.mark.parametrize("method", ["bottleneck", "lora", "ia3"])
def test_additive_methods_start_as_the_identity(method) -> None:
    b = batch()
    base = tagger()(**inputs(b)).logits
    adapted = adapt(tagger(), AdaptConfig(method)).eval()
    torch.testing.assert_close(adapted(**inputs(b)).logits, base, rtol=0, atol=1e-6)


def test_all_linear_lora_excludes_the_head_which_peft_would_otherwise_break() -> None:
    from peft import LoraConfig, TaskType, get_peft_model

    with pytest.raises(TypeError, match="modules_to_save"):  # the quirk itself
        get_peft_model(tagger(), LoraConfig(task_type=TaskType.TOKEN_CLS, r=2, target_modules="all-linear"))
    model = adapt(tagger(), AdaptConfig("lora", r=2, lora_targets="all-linear"))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert not any("classifier" in n and "lora_" in n for n in names)
    assert count_parameters(model)[0] == closed_form_trainable(
        model.config, C, AdaptConfig("lora", r=2, lora_targets=("query", "key", "value", "dense")))


def test_lora_merge_and_unload_gives_the_unmerged_predictions() -> None:
    model = adapt(tagger(), AdaptConfig("lora", r=4)).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:  # B = 0 at init; give the update some size so that merging matters
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    b = batch()
    unmerged = model(**inputs(b)).logits
    assert not torch.allclose(unmerged, tagger()(**inputs(b)).logits, atol=1e-3)
    merged = model.merge_and_unload()
    assert type(merged) is ElectraForTokenClassification
    assert count_parameters(merged)[1] == count_parameters(tagger())[1]  # no extra weights left
    torch.testing.assert_close(merged(**inputs(b)).logits, unmerged, rtol=1e-5, atol=1e-5)
    assert torch.equal(merged(**inputs(b)).logits.argmax(-1), unmerged.argmax(-1))


def test_prefix_keeps_the_length_and_prompt_slices_virtual_tokens_like_minus_100_padding() -> None:
    b = batch()
    prefix = adapt(tagger(), AdaptConfig("prefix", virtual_tokens=3)).eval()
    out = prefix(**inputs(b)).logits
    assert out.shape == (3, 7, C)  # prefix enters as past key/values, not as sequence positions
    assert not torch.allclose(out, tagger()(**inputs(b)).logits, atol=1e-4)  # and it does change the output
    prompt = adapt(tagger(), AdaptConfig("prompt", virtual_tokens=3)).eval()
    sliced = prompt(**inputs(b)).logits
    full = prompt.model(**inputs(b)).logits
    assert full.shape == (3, 3 + 7, C) and sliced.shape == (3, 7, C)
    padded = torch.cat([torch.full((3, 3), IGNORE_INDEX), b["labels"]], dim=1)  # (B, n + T)
    torch.testing.assert_close(token_cross_entropy(sliced, b["labels"]), token_cross_entropy(full, padded))


def test_prompt_tuning_fits_narrow_word_embeddings_like_electra_small() -> None:
    # ELECTRA-Small embeds words in 128 dimensions and projects them to a hidden size of 256;
    # the prompt is concatenated with the word embeddings, so it must be 128 wide
    torch.manual_seed(0)
    narrow = build_tagger(build_encoder(vocab_size=V, hidden=D, layers=L, heads=2, intermediate=I,
                                       embedding_size=D // 2, max_position=48), LABELS).eval()
    cfg = AdaptConfig("prompt", virtual_tokens=3)
    prompt = adapt(narrow, cfg).eval()
    assert prompt(**inputs(batch())).logits.shape == (3, 7, C)
    trainable, _ = count_parameters(prompt)
    assert trainable == 3 * (D // 2) + D * C + C == closed_form_trainable(narrow.config, C, cfg)


def test_adapter_checkpoint_holds_only_the_trainable_tensors_and_reloads(tmp_path) -> None:
    model = adapt(tagger(), AdaptConfig("lora", r=4))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.1)
    size = save_trainable(model, tmp_path / "a.safetensors")
    n = count_parameters(model)[0]
    assert 4 * n <= size < 4 * n + 4096  # fp32 tensors + a small JSON header
    fresh = adapt(tagger(), AdaptConfig("lora", r=4)).eval()
    load_trainable(fresh, tmp_path / "a.safetensors")
    b = batch()
    torch.testing.assert_close(fresh(**inputs(b)).logits, model.eval()(**inputs(b)).logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no parameter"):
        load_trainable(adapt(tagger(), AdaptConfig("ia3")), tmp_path / "a.safetensors")


def test_one_frozen_encoder_serves_two_tasks_by_switching_adapters(tmp_path) -> None:
    mt = MultiTaskTagger(encoder(), r=2)
    mt.add_task("ner", LABELS).add_task("sbd", ["O", "END"])
    base = [p.clone() for n, p in mt.named_parameters() if "lora_" not in n and not n.startswith("heads.")]
    cfg = TrainConfig(lr=1e-2, max_steps=5, warmup_ratio=0.0)
    loader = [batch(seed=s) for s in range(5)]
    mt.set_task("ner")
    assert sorted(n for n, p in mt.named_parameters() if p.requires_grad and "lora_" not in n) == \
        ["heads.ner.bias", "heads.ner.weight"]
    fit(mt, tagging_loss_fn(), loader, cfg=cfg, device="cpu")
    b = inputs(batch(seed=9))
    mt.eval()
    ner_before = mt(**b).logits
    sbd_batches = [{**x, "labels": x["labels"].clamp(max=1)} for x in loader]
    fit(mt.set_task("sbd"), tagging_loss_fn(), sbd_batches, cfg=cfg, device="cpu")
    mt.eval()
    sbd_out = mt(**b).logits
    assert sbd_out.shape == (3, 7, 2) and mt.config.id2label == {0: "O", 1: "END"}
    torch.testing.assert_close(mt.set_task("ner")(**b).logits, ner_before, rtol=0, atol=0)  # untouched
    after = [p for n, p in mt.named_parameters() if "lora_" not in n and not n.startswith("heads.")]
    assert all(torch.equal(x, y) for x, y in zip(base, after))  # the shared encoder never moved
    # switching really changes the encoder: the two adapters give different hidden states
    h = {t: mt.set_task(t).encoder(**b).last_hidden_state for t in ("ner", "sbd")}
    assert not torch.allclose(h["ner"], h["sbd"], atol=1e-4)
    # each adapter alone, loaded on a fresh copy of the same encoder, reproduces its own predictions
    size = mt.save_task("ner", tmp_path / "ner.safetensors")
    assert size < 4 * sum(p.numel() for p in mt.parameters()) / 2
    alone = MultiTaskTagger(encoder(), r=2).add_task("ner", LABELS).load_task("ner", tmp_path / "ner.safetensors")
    torch.testing.assert_close(alone.eval()(**b).logits, ner_before, rtol=0, atol=0)
