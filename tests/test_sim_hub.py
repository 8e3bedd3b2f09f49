"""tools/sim_hub.py: the simulated Hub answers the real loaders (huggingface_hub, transformers, datasets).

The loading runs in a subprocess: this process has imported huggingface_hub with
HF_HUB_OFFLINE=1 (conftest), and HF_ENDPOINT is read at import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sim_hub  # noqa: E402

from rmdlib import data, hub  # noqa: E402

ELECTRA = "google/electra-small-discriminator"


def test_wordpiece_vocab_has_berts_special_ids_and_the_exact_size():
    texts = ["The EU rejects German call", "Peter Blackburn"] * 3
    uncased = sim_hub.wordpiece_vocab(30522, texts, lowercase=True, uncased_layout=True)
    assert len(uncased) == len(set(uncased)) == 30522
    assert [uncased.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 100, 101, 102, 103]
    assert uncased[1] == "[unused0]" and uncased[104] == "[unused99]" and uncased[998] == "[unused993]"
    assert "rejects" in uncased and "Rejects" not in uncased  # lower-cased words after the specials
    cased = sim_hub.wordpiece_vocab(28996, texts, lowercase=False, uncased_layout=False)
    assert len(cased) == 28996 and cased[1] == "[unused1]" and cased[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "EU" in cased and "##e" in cased


SCRIPT = r'''
import json, sys
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, ElectraForPreTraining
from rmdlib import data, hub
from dataclasses import replace

out = {}
name = "google/electra-small-discriminator"
tok = AutoTokenizer.from_pretrained(name, revision=hub.revision(name))
model = ElectraForPreTraining.from_pretrained(name, revision=hub.revision(name))
c = model.config
out["config"] = [c.hidden_size, c.num_hidden_layers, c.embedding_size, c.vocab_size, c.num_attention_heads]
out["vocab"] = len(tok)
out["special_ids"] = tok.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
ids = tok("The EU rejects German call", return_tensors="pt")
out["wordpieces"] = tok.convert_ids_to_tokens(ids["input_ids"][0])
# the weights served are the ones loaded: the embedding matrix equals the repository's file
folder = sys.argv[1]
weights = load_file(f"{folder}/model.safetensors")
key = next(k for k in weights if k.endswith("word_embeddings.weight"))
out["same_weights"] = bool(torch.equal(weights[key], model.electra.embeddings.word_embeddings.weight))
for rev in ("0" * 40, "v9.9"):
    try:
        AutoModel.from_pretrained(name, revision=rev)
        out[rev] = "loaded"
    except OSError as e:
        out[rev] = "not a valid git identifier" in str(e)
dsd = data.load_spec("conll2003")
out["sizes"] = {k: v.num_rows for k, v in dsd.items()}
out["labels"] = dsd["train"].features["ner_tags"].feature.names
bad = replace(data.REGISTRY["conll2003"], split_sizes={**data.REGISTRY["conll2003"].split_sizes, "test": 3454})
try:
    data.load_spec(bad)
except ValueError as e:
    out["wrong_size"] = str(e)
labels = data.CONLL2003_LABELS
bad = replace(data.REGISTRY["conll2003"], label_names=(labels[0], labels[2], labels[1], *labels[3:]))
try:
    data.load_spec(bad)
except ValueError as e:
    out["wrong_labels"] = str(e)
print("RESULT", json.dumps(out))
'''


@pytest.fixture(scope="module")
def simulated_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim-hub")
    sim_hub.build(root, models=[ELECTRA], datasets=["conll2003"], real_data=False)
    return root


def test_real_loaders_read_the_pinned_revisions_through_the_simulated_hub(simulated_hub, tmp_path):
    index = json.loads((simulated_hub / "index.json").read_text())
    sha = index["model"][ELECTRA]["refs"]["main"]
    log = tmp_path / "requests.log"
    server, endpoint = sim_hub.serve(simulated_hub, 0, log)
    try:
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(simulated_hub / "model" / ELECTRA / sha)],
                              env=sim_hub.hub_env(endpoint, tmp_path / "hf-home"), capture_output=True, text=True,
                              timeout=600)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["config"] == [256, 12, 128, 30522, 4]  # ELECTRA-Small's real shape
    assert out["vocab"] == 30522 and out["special_ids"] == [0, 100, 101, 102, 103]
    pieces = out["wordpieces"]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "[UNK]" not in pieces
    assert " ".join(pieces[1:-1]).replace(" ##", "") == "the eu rejects german call"  # uncased WordPiece
    assert out["same_weights"] is True
    assert out["0" * 40] is True and out["v9.9"] is True  # an unknown revision is refused, not defaulted
    assert out["sizes"] == data.REGISTRY["conll2003"].split_sizes
    assert tuple(out["labels"]) == data.CONLL2003_LABELS
    assert out["wrong_size"] == ("conll2003: split 'test' has 3,453 rows, expected 3,454 "
                                 "(eriktks/conll2003 @ refs/convert/parquet)")
    assert "has label names" in out["wrong_labels"] and "in this order" in out["wrong_labels"]
    # the download went through the Hub's protocol into the standard cache layout
    cache = tmp_path / "hf-home" / "hub" / "models--google--electra-small-discriminator"
    assert hub.is_commit(sha) and sha == hub.revision(ELECTRA)  # pinned to a commit: no branch is asked for
    assert not (cache / "refs" / "main").exists()
    assert (cache / "snapshots" / sha / "model.safetensors").exists()
    requests = log.read_text()
    assert f"/{ELECTRA}/resolve/{sha}/config.json" in requests
    assert not [line for line in requests.splitlines() if ELECTRA in line and "/main" in line]
    assert "/api/datasets/eriktks/conll2003/revision/refs%2Fconvert%2Fparquet" in requests
    assert "UNHANDLED" not in requests
