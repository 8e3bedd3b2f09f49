"""Tests of rmdlib.custom (the registered BiLSTM tagger) and rmdlib.hub (pinned model revisions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, ElectraConfig

import rmdlib  # noqa: F401  (registers the architecture)
from rmdlib import hub
from rmdlib.custom import MODEL_TYPE, BiLstmTagger, BiLstmTaggerConfig, BiLstmTaggerEncoder, n_head_parameters, register
from rmdlib.models import build_encoder, load_tagger

from conftest import ROOT

LABELS = ["O", "B-PER", "I-PER"]
D, H = 16, 8


def tiny_config() -> BiLstmTaggerConfig:
    return BiLstmTaggerConfig(vocab_size=50, hidden_size=D, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=32, lstm_hidden=H,
                              id2label=dict(enumerate(LABELS)), label2id={x: i for i, x in enumerate(LABELS)})


@pytest.fixture()
def tagger() -> BiLstmTagger:
    torch.manual_seed(0)
    return BiLstmTagger(tiny_config()).eval()


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(3, 50, (3, 6), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    mask[2, 2:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_save_pretrained_writes_config_and_safetensors_and_the_auto_classes_rebuild_it(tagger, tmp_path) -> None:
    tagger.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == MODEL_TYPE and config["lstm_hidden"] == H
    assert "auto_map" not in config  # nothing in the folder points at code to run
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(tagger.state_dict())
    assert type(AutoConfig.from_pretrained(tmp_path)) is BiLstmTaggerConfig
    loaded = AutoModelForTokenClassification.from_pretrained(tmp_path)
    assert type(loaded) is BiLstmTagger and not loaded.training
    for name, value in tagger.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    before, after = tagger(**batch()).logits, loaded(**batch()).logits
    # same weights, same inputs; the LSTM kernel may round differently for a freshly loaded tensor layout
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    assert torch.equal(after.argmax(-1), before.argmax(-1))
    assert type(AutoModel.from_pretrained(tmp_path)) is BiLstmTaggerEncoder
    assert type(load_tagger(tmp_path)) is BiLstmTagger


def test_head_size_matches_its_closed_form_and_padding_does_not_change_a_sentence(tagger) -> None:
    head = sum(p.numel() for n, p in tagger.named_parameters() if not n.startswith("electra."))
    assert head == n_head_parameters(D, H, len(LABELS)) == 2 * 4 * (H * (D + H) + 2 * H) + 2 * H * 3 + 3
    b = batch()
    full = tagger(**b).logits  # row 2 has 2 real tokens among 6
    alone = tagger(input_ids=b["input_ids"][2:, :2], attention_mask=b["attention_mask"][2:, :2]).logits
    torch.testing.assert_close(alone[0], full[2, :2], rtol=0, atol=1e-6)


def test_a_fresh_process_without_rmdlib_cannot_load_the_folder_and_says_why(tagger, tmp_path) -> None:
    tagger.save_pretrained(tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from transformers import AutoModelForTokenClassification
        try:
            AutoModelForTokenClassification.from_pretrained({str(tmp_path)!r})
        except (ValueError, KeyError) as e:
            print("REFUSED:", e)
            sys.exit(0)
        print("LOADED")
    """)
    env = {**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "REFUSED:" in out.stdout and MODEL_TYPE in out.stdout, out.stdout
    # the same folder loads in a fresh process that imported rmdlib, with no trust_remote_code
    code = (f"import rmdlib; from transformers import AutoModelForTokenClassification as A; "
            f"print(type(A.from_pretrained({str(tmp_path)!r})).__name__)")
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip().endswith("BiLstmTagger"), out.stderr


def test_registering_a_name_transformers_owns_is_an_error() -> None:
    class Hijack(ElectraConfig):
        model_type = "electra"

    with pytest.raises(ValueError, match="belongs to transformers"):
        register("electra", Hijack)
    with pytest.raises(ValueError, match="model_type"):
        register("rmd-other-name", BiLstmTaggerConfig)
    register()  # idempotent: a second import of rmdlib must not fail
    assert type(AutoConfig.for_model(MODEL_TYPE)) is BiLstmTaggerConfig


def test_a_pickle_checkpoint_is_refused(tagger, tmp_path) -> None:
    tagger.config.save_pretrained(tmp_path)
    torch.save(tagger.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle: loading it could run code
    with pytest.raises(OSError, match="safetensors"):
        load_tagger(tmp_path)


def test_hub_revisions_are_pinned_and_passed(tmp_path, monkeypatch) -> None:
    for spec in hub.MODELS.values():
        assert hub.is_commit(spec.revision) or spec.revision == "main", spec
        assert spec.note
    assert hub.is_commit(hub.revision("bert-base-cased"))
    assert hub.is_commit(hub.revision("google/electra-small-discriminator"))  # the colab encoder: frozen
    assert hub.revision("google/electra-small-generator") == "main"  # a branch: the note says so
    assert hub.revision(tmp_path) is None  # local folders have no revision
    assert hub.revision("bert-base-cased", "v1") == "v1"
    with pytest.raises(ValueError, match="pinned"):
        hub.revision("someone/unpinned-model")
    seen = {}
    monkeypatch.setattr("rmdlib.models.AutoModel.from_pretrained", lambda *a, **kw: seen.update(kw))
    build_encoder("xlm-roberta-base")
    assert seen["revision"] == "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089"
