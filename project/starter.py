# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Project starter: what transfers?
#
# This notebook is the skeleton of the book's course project. It
# runs as it is: it fine-tunes the course encoder on a **source** (the micro-world
# in the offline profile), scores it on the source's test split and zero-shot on a
# **target** (here a derived micro-world language with half of its plain vocabulary
# replaced, the kind chapter 9 studies), over three seeds, and compares the
# pretrained encoder with one trained from scratch on the target, with the course's
# paired interval. Replace the source and the target with yours; keep the
# structure: the seeds, the table, the interval, the run card.

# %% tags=["remove-cell"]
# Colab only: install rmdlib from the course repository, keeping Colab's torch.
import sys

if "google.colab" in sys.modules:
    import subprocess

    import torch

    REPO = "https://github.com/rmd-course/replaced-token-detection-in-practice"
    TAG = "v0.2.3"  # the rmdlib release this chapter was tested with, never the moving main
    with open("/tmp/keep-torch.txt", "w") as f:
        f.write(f"torch=={torch.__version__}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/keep-torch.txt",
         f"rmdlib @ git+{REPO}@{TAG}"],
        check=True,
    )

# %%
import rmdlib
from rmdlib.report import run_card

P = rmdlib.setup(seed=0)
print(run_card(P))

# %% [markdown]
# ## 1. Source and target
#
# `data.load_ner` reads the micro-world, a registry dataset, a folder of CoNLL
# files or a mapping from split names to files (see *How to use this book*). For
# a real target, replace `target_test` with the test split of, say, WikiANN German
# (`data.load_ner({"test": "/path/to/wikiann/de/test"}, token_prefix="de:")`), and
# map its labels onto the source's if they differ.

# %%
import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from transformers import AutoModel

from rmdlib import compare, data, infer, models, synth, zoo
from rmdlib.tagging import TaggingConfig, finetune_tagger, label_names
from rmdlib.train import TrainConfig

source = data.load_ner(P.ner_data)
names = label_names(source)


def tags(ds):
    return [[names[t] for t in row] for row in ds["ner_tags"]]


test = list(zip(source["test"]["tokens"], tags(source["test"])))
target = synth.derive_language(test, vocab_share=0.5, reorder=0.0, script=None,
                               seed=P.seed)
print(f"source: {len(source['train'])} training sentences; "
      f"target test: {len(target)} sentences")
print("source:", " ".join(test[0][0]))
print("target:", " ".join(target[0][0]))

# %% [markdown]
# ## 2. Fine-tune over three seeds
#
# Both arms get the same recipe and the same number of steps; only the encoder's
# starting point differs (pretrained by the course, or random). The budget is tiny
# so that the notebook runs in about a minute on a laptop; raise `max_steps` for
# your project.

# %%
SEEDS = [0, 1, 2]
TAGGING = TaggingConfig(batch_size=32)
tok = zoo.tokenizer(P)
pretrained = models.build_encoder(zoo.encoder(P)).to(P.device)


def run(encoder, seed):
    """Fine-tune ``encoder`` on the source with ``seed``; predict both test sets."""
    cfg = TrainConfig(lr=P.finetune_lr, max_steps=P.n(120),
                      warmup_ratio=0.1, seed=seed, log_every=40)
    torch.manual_seed(seed)
    model, _ = finetune_tagger(encoder, source, tok, cfg, TAGGING, device=P.device)
    model.to(P.device)

    def predict(sentences):
        return infer.predict_tags(model, tok, sentences,
                                  max_length=TAGGING.max_length,
                                  stride=TAGGING.stride,
                                  batch_size=TAGGING.eval_batch_size, device=P.device)

    return predict([w for w, _ in test]), predict([w for w, _ in target])


preds = {"pretrained": [], "from scratch": []}
for seed in SEEDS:
    torch.manual_seed(seed)
    scratch = AutoModel.from_config(pretrained.config).to(P.device)
    preds["pretrained"].append(run(pretrained, seed))
    preds["from scratch"].append(run(scratch, seed))

# %% [markdown]
# ## 3. The results table: entity F1, mean ± std over seeds

# %%
from rmdlib.metrics import entity_scores

gold = {"source test": [t for _, t in test], "target zero-shot": [t for _, t in target]}
rows = {}
for arm, runs in preds.items():
    for k, split in enumerate(gold):
        f1 = [entity_scores(gold[split], r[k])["f1"] for r in runs]
        rows[(arm, split)] = {"F1 mean": np.mean(f1), "F1 std": np.std(f1, ddof=1)}
table = pd.DataFrame(rows).T
table.index.names = ["encoder", "test set"]
table.style.format("{:.3f}")

# %% [markdown]
# ## 4. One comparison with its interval
#
# The claim to test: *pretraining helps on the target*. Both arms are scored on the
# same target sentences with the same seeds, so `compare.paired_f1` can pair them.

# %%
result = compare.paired_f1(gold["target zero-shot"],
                           [r[1] for r in preds["pretrained"]],
                           [r[1] for r in preds["from scratch"]], seed=P.seed)
print(result.describe("pretrained", "from scratch"))
print("the interval excludes 0" if result.significant
      else "the interval includes 0: no verdict")

# %% [markdown]
# ## 5. What to add for the project
#
# - Your own source and target, with the label mapping stated.
# - A run with a little target training data (a few hundred sentences).
# - The error analysis: `metrics.entity_table` per type, seen against unseen
#   entities (chapter 4), and at least one figure.
# - The report: question, setup, this table, the interval, the analysis, and what
#   the run cannot show. The rubric on the book's project page says how it is graded.
