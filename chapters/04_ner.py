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
# (ch-04)=
# # 4. Fine-tuning for NER
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. read {term}`IOB2 tagging scheme` tags and turn them into entity spans;
# 2. align word labels to {term}`subword` tokens with the {term}`ignore index` $-100$,
#    and measure what a misaligned labelling costs;
# 3. put a {term}`task adapter head` on a pretrained encoder and fine-tune it with the
#    library's one training loop;
# 4. evaluate at the entity level (conlleval rules) and explain why
#    {term}`token accuracy` is the wrong headline number;
# 5. analyse errors by type, by confusion, by boundary, and for seen against
#    {term}`unseen entities <unseen entity>`, next to a {term}`gazetteer` baseline and
#    an encoder without pretraining;
# 6. tag new text and get entities with character offsets.
# :::
#
# What the chapter assumes (the Transformer block, tokenizers, PyTorch basics) is in
# {ref}`app-prerequisites`.
#
# **Time:** about 75 minutes to read and run; the code ran in
# {glue:text}`run_minutes:.1f` minutes when this page was built (the run card below
# names the profile and the machine).

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
from rmdlib.report import glue, run_card, source

P = rmdlib.setup(seed=0)
glue("run_card", run_card(P), markdown=True);

# %% [markdown]
# {glue:md}`run_card`
#
# ## 1. The data and its IOB2 tags
#
# {term}`Named-entity recognition` (NER) finds the spans of a text that name a
# person (PER), an organisation (ORG), a location (LOC) or something else with a
# name (MISC: events, nationalities, titles), the four types of the CoNLL-2003 shared
# task {cite}`tjong2003introduction`. It is posed as tagging: every word gets one tag.
# In the IOB2 scheme a `B-X` tag begins an entity of type X, `I-X` continues it,
# and `O` marks words outside every entity {cite}`ramshaw1995text`. Two adjacent
# entities of the same type stay apart because the second one starts with `B-` again.
#
# In the offline {term}`profile` the data is the synthetic {term}`micro-world`
# (`rmdlib.synth`), with CoNLL-2003's four types and label order; in the colab profile
# it is CoNLL-2003 itself at a pinned revision. `rmdlib.data.load_ner` returns either
# as the same `DatasetDict`: words in `tokens`, tag ids in `ner_tags`.

# %%
import math
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from datasets import DatasetDict
from IPython.display import display
from seqeval.metrics.sequence_labeling import get_entities
from transformers import AutoModel

from rmdlib import data, infer, metrics, models, tokens, zoo
from rmdlib.baselines import Gazetteer
from rmdlib.losses import IGNORE_INDEX
from rmdlib.tagging import (TaggingConfig, evaluate_tagger, finetune_tagger,
                            label_names, windows)
from rmdlib.train import TrainConfig

# The offline sizes; a Colab run (scale 8) reads every CoNLL-2003 sentence.
ner = P.head(data.load_ner(P.ner_data), train=5000, validation=1000, test=1000)
names = label_names(ner)  # tag names in class-id order
gold = {split: [[names[t] for t in row] for row in ds["ner_tags"]]
        for split, ds in ner.items()}
words = {split: ds["tokens"] for split, ds in ner.items()}
print(ner)
print("labels:", names)

# %% [markdown]
# One test sentence, word by word, and the entities that seqeval's `get_entities`
# reads from its tags (type, first word, last word):

# %%
example = next(i for i, tags in enumerate(gold["test"])  # two entities, one multi-word
               if len(get_entities(tags)) >= 2
               and any(b > a for _, a, b in get_entities(tags)))
display(pd.DataFrame({"word": words["test"][example], "tag": gold["test"][example]}).T)
print(get_entities(gold["test"][example]))

# %% [markdown]
# The splits have this many sentences, words and entities; most words are `O`:

# %%
def split_stats(split):
    tags = gold[split]
    n_words = sum(map(len, tags))
    types = Counter(t for s in tags for t, _, _ in get_entities(s))
    return {"sentences": len(tags), "words": n_words, "entities": sum(types.values()),
            "share of O words": sum(t == "O" for s in tags for t in s) / n_words,
            **{f"{k} entities": types[k] for k in sorted(types)}}


stats = pd.DataFrame({split: split_stats(split) for split in ner}).T
display(stats.style.format({"share of O words": "{:.1%}"}, precision=0, thousands=","))

# %% tags=["remove-cell"]
glue("n_train", len(gold["train"]))
glue("n_val", len(gold["validation"]))
glue("n_test", len(gold["test"]))
glue("n_test_entities", int(stats.loc["test", "entities"]))
glue("o_share_test", float(stats.loc["test", "share of O words"]));

# %% [markdown]
# There are {glue:text}`n_train:,` training, {glue:text}`n_val:,` validation and
# {glue:text}`n_test:,` test sentences; the test split holds
# {glue:text}`n_test_entities:,` entities, and {glue:text}`o_share_test:.1%` of its
# words are `O`. Remember that last number for section 5.
#
# ## 2. From word labels to sub-token labels
#
# The data labels *words*; the encoder reads *sub-tokens*. A {term}`WordPiece`
# {term}`tokenizer` cuts a word it has no entry for into pieces, so one word can
# become several tokens, and the tokenizer adds `[CLS]` and `[SEP]` around the
# sentence. For every token the fast tokenizer reports which word it came from
# (`word_ids`, `None` for special tokens), and `rmdlib.tokens.align_labels` uses
# it: the **first** sub-token of a word carries the word's label, every other
# position gets `IGNORE_INDEX` $= -100$, the convention of BERT's NER experiments
# {cite}`devlin2019bert` and of the Hugging Face token-classification recipe
# {cite}`wolf2020transformers`.

# %% tags=["hide-input"]
source(tokens.align_labels)

# %% [markdown]
# Here is a sentence whose name the model cannot have seen in training, with both
# labellings the function offers: first sub-token only (the default) and every
# sub-token, later pieces of a `B-X` word relabelled `I-X` (`b_to_i`).

# %%
tok = zoo.tokenizer(P)
label_id = {name: i for i, name in enumerate(names)}
b_to_i = tokens.iob2_b_to_i(names)


def encode(words_list):
    """Sub-token ids and word ids of pre-split sentences (no windows: all fit here)."""
    enc = tok(list(words_list), is_split_into_words=True)
    return enc["input_ids"], [enc.word_ids(k) for k in range(len(enc["input_ids"]))]


train_types = {}  # surface form (tuple of words) -> its entity types in training
for ws, tags in zip(words["train"], gold["train"]):
    for typ, a, b in get_entities(tags):
        train_types.setdefault(tuple(ws[a:b + 1]), set()).add(typ)


def unseen_multi_piece(i):
    """Whether test sentence i has an unseen entity with a word cut into 3+ pieces."""
    ws, tags = words["test"][i], gold["test"][i]
    return any(tuple(ws[a:b + 1]) not in train_types
               and any(len(tok.tokenize(w)) > 2 for w in ws[a:b + 1])
               for _, a, b in get_entities(tags))


shown = next((i for i in range(len(gold["test"]))
              if unseen_multi_piece(i) and len(gold["test"][i]) <= 12), example)
ids, wids = encode([words["test"][shown]])
ids, wids = ids[0], wids[0]
word_labels = [label_id[t] for t in gold["test"][shown]]
first_only = tokens.align_labels(wids, word_labels)
every_piece = tokens.align_labels(wids, word_labels, label_all_subtokens=True,
                                  b_to_i=b_to_i)
as_name = lambda i: names[i] if i != IGNORE_INDEX else "-100"  # noqa: E731
display(pd.DataFrame({
    "sub-token": tok.convert_ids_to_tokens(ids),
    "word id": ["None" if w is None else w for w in wids],
    "first sub-token (default)": [as_name(x) for x in first_only],
    "every sub-token, B→I": [as_name(x) for x in every_piece],
}).T)

# %% [markdown]
# The ignored positions matter twice. In training, `rmdlib.losses.token_cross_entropy`
# averages only over positions whose label is not $-100$ (chapter 2 derived it), so
# every word counts exactly once in the loss, however many pieces it has. In
# prediction, `rmdlib.infer.predict_tags` reads each word's tag at the same first
# sub-token, so training and prediction agree about where a word's label lives.
# Padding added by the collator also gets $-100$, which is why padded and unpadded
# batches give the same loss.
#
# ### What a misaligned labelling costs
#
# Two ways of getting this wrong are common. The first is a bug: placing the word
# labels on the sub-tokens **by position**, as if every word were one token. As
# soon as a word splits, every later label slides onto the wrong word. We can
# measure the damage before training anything: take the labels such a pipeline
# would train on, read them back at each word's first sub-token, as prediction
# does, and score them against the true tags. A model that learnt these labels
# perfectly could do no better.

# %%
def positional_labels(n_subtokens, word_labels):
    """THE BUG: word label i on sub-token i + 1 (after [CLS]), as if no word split."""
    labels = [IGNORE_INDEX, *word_labels[: n_subtokens - 2]]
    return labels + [IGNORE_INDEX] * (n_subtokens - len(labels))


def read_back(wids, labels):
    """Each word's tag as prediction reads it: at its first sub-token (-100 reads O)."""
    out, previous = [], None
    for w, y in zip(wids, labels):
        if w is not None and w != previous:
            out.append(names[y] if y != IGNORE_INDEX else "O")
        previous = w
    return out


train_ids, train_wids = encode(words["train"])
train_labels = [[label_id[t] for t in tags] for tags in gold["train"]]
readback = {
    "first sub-token (-100 elsewhere)": [read_back(w, tokens.align_labels(w, y))
                                         for w, y in zip(train_wids, train_labels)],
    "every sub-token, B→I": [
        read_back(w, tokens.align_labels(w, y, label_all_subtokens=True, b_to_i=b_to_i))
        for w, y in zip(train_wids, train_labels)],
    "by position (the bug)": [read_back(w, positional_labels(len(w), y))
                              for w, y in zip(train_wids, train_labels)],
}
ceiling = pd.DataFrame({name: metrics.entity_scores(gold["train"], tags)
                        for name, tags in readback.items()}).T
ceiling["share of words with a wrong label"] = [
    1 - metrics.token_accuracy(gold["train"], tags) for tags in readback.values()]
columns = ["precision", "recall", "f1", "share of words with a wrong label"]
display(ceiling[columns].style.format("{:.3f}"))
assert (ceiling["f1"].iloc[:2] == 1.0).all()  # the correct alignments lose nothing
split_share = np.mean([len(w) - 2 > len(y) for w, y in zip(train_wids, train_labels)])

# %% tags=["remove-cell"]
glue("bug_f1", float(ceiling.loc["by position (the bug)", "f1"]))
glue("bug_wrong", float(ceiling.loc["by position (the bug)", "share of words with a wrong label"]))
glue("split_share", float(split_share));


# %% [markdown]
# Both correct alignments give back exactly the true tags (F1 = 1). The positional
# labelling puts a wrong label on {glue:text}`bug_wrong:.1%` of the training words,
# because {glue:text}`split_share:.1%` of the sentences contain at least one word
# that splits, and the labels it would train on reach an entity F1 of only
# {glue:text}`bug_f1:.3f` against the truth. Nothing crashes: the loss falls, the
# model learns the shifted labels, and the only symptom is a poor score.
#
# The second way is a choice, not a bug: labelling **every** sub-token (the
# `label_all_tokens` option of the Hugging Face recipe). The labels stay right, as
# the table shows, but the loss now counts a word once per piece. Which words have
# many pieces? The rare ones, above all names the tokenizer never saw:

# %%
def piece_counts(split):
    """Sub-tokens per word: of O words, of seen entities' words, of unseen ones'."""
    groups = {"O word": [], "word of a seen entity": [], "word of an unseen entity": []}
    _, wids_split = encode(words[split])
    for ws, tags, w_ids in zip(words[split], gold[split], wids_split):
        pieces = Counter(w for w in w_ids if w is not None)
        kind = ["O word"] * len(ws)
        for _, a, b in get_entities(tags):
            seen = tuple(ws[a:b + 1]) in train_types
            group = "word of a seen entity" if seen else "word of an unseen entity"
            kind[a:b + 1] = [group] * (b + 1 - a)
        for w, k in enumerate(kind):
            groups[k].append(pieces[w])
    return groups


pieces = piece_counts("test")
pieces_table = pd.DataFrame({k: {"words": len(v), "sub-tokens per word": np.mean(v),
                                 "max": max(v)} for k, v in pieces.items()}).T
display(pieces_table.style.format({"words": "{:.0f}", "sub-tokens per word": "{:.2f}",
                                   "max": "{:.0f}"}))
train_pieces = piece_counts("train")
n_entity_words = len(train_pieces["word of a seen entity"])  # all seen: in training
entity_share_first = n_entity_words / sum(len(v) for v in train_pieces.values())
entity_share_all = (sum(train_pieces["word of a seen entity"])
                    / sum(sum(v) for v in train_pieces.values()))

# %% tags=["remove-cell"]
glue("pieces_o", float(pieces_table.loc["O word", "sub-tokens per word"]))
glue("pieces_seen", float(pieces_table.loc["word of a seen entity", "sub-tokens per word"]))
glue("pieces_unseen", float(pieces_table.loc["word of an unseen entity", "sub-tokens per word"]))
glue("pieces_unseen_max", int(pieces_table.loc["word of an unseen entity", "max"]))
glue("entity_share_first", entity_share_first)
glue("entity_share_all", entity_share_all);

# %% [markdown]
# On the test split an `O` word has {glue:text}`pieces_o:.2f` sub-tokens on average,
# a word of an entity seen in training {glue:text}`pieces_seen:.2f`, and a word of
# an unseen entity {glue:text}`pieces_unseen:.2f` (up to {glue:text}`pieces_unseen_max:d`).
# Names the tokenizer never saw fall apart into short pieces. In the training split,
# entity words are {glue:text}`entity_share_first:.1%` of the loss terms with
# first-sub-token labelling and {glue:text}`entity_share_all:.1%` with every
# sub-token labelled. (In the offline profile the two are close: the tokenizer was
# trained on text with the same training names, so few of them split.) What does change is the task: with
# every piece labelled, the model also learns to tag word-internal `##` fragments that
# prediction never reads, and a long word weighs as much as several short ones. On data
# whose training names are split more often (a Hub tokenizer on CoNLL-2003, or another
# language) the reweighting is larger. Whether it helps or hurts is an empirical
# question ({ref}`ch-04-ex2` measures it); this chapter keeps the default, one loss term
# per word.
#
# ## 3. The task adapter head
#
# A tagger is the pretrained encoder plus one small layer, the task adapter head:
# dropout, then a linear map from the hidden size $D$ to the $C$ tags, applied to
# every token's final hidden state,
#
# $$
# \text{logits}_t = W\,\operatorname{dropout}(h_t) + b, \qquad h_t \in \mathbb{R}^{D},\;
# W \in \mathbb{R}^{C \times D}.
# $$
#
# `rmdlib.models.build_tagger` builds it as the encoder architecture's own
# `AutoModelForTokenClassification` class, copies the pretrained encoder's weights
# in and initialises the head afresh, so the result saves, loads and runs in
# pipelines like any Hugging Face model. In the offline profile the encoder is the
# tiny ELECTRA {term}`discriminator` that chapter 3 pretrained (`zoo.encoder(P)`);
# in the colab profile it is ELECTRA-Small's {cite}`clark2020electra`.

# %% tags=["hide-input"]
source(models.build_tagger)

# %%
encoder_path = zoo.encoder(P)  # offline: chapter 3's discriminator
encoder = models.build_encoder(encoder_path)  # AutoModel.from_pretrained: no head
torch.manual_seed(P.seed)  # the head's initialisation
tagger = models.build_tagger(encoder, names)  # copies the weights of `encoder`
print("head:", tagger.dropout, tagger.classifier)
n_head = sum(p.numel() for p in tagger.classifier.parameters())
n_all = sum(p.numel() for p in tagger.parameters())

# the untrained tagger on one batch: loss and logits shape
few = windows(ner["train"].select(range(8)), tok)  # eight training sentences as windows
batch = tokens.Collator(tok, keep=())(list(few))
with torch.no_grad():
    logits = tagger.eval()(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).logits
    init_loss = models.tagging_loss_fn()(tagger, batch).item()
print("input_ids", tuple(batch["input_ids"].shape), "-> logits", tuple(logits.shape))

# %% tags=["remove-cell"]
glue("n_head", n_head)
glue("n_all", n_all)
glue("head_share", n_head / n_all)
glue("hidden", tagger.config.hidden_size)
glue("C", len(names))
glue("init_loss", init_loss)
glue("log_C", math.log(len(names)));

# %% [markdown]
# Loading the encoder prints a load report: the saved discriminator still holds its
# own head, the layer that scored every token as original or replaced, and
# `AutoModel` lists those weights as *unexpected* because an encoder has no use for
# them. The tagger replaces that head with its own. It has {glue:text}`n_head:,`
# parameters ($C \times D + C$ with $D$ = {glue:text}`hidden:d` and
# $C$ = {glue:text}`C:d`), {glue:text}`head_share:.2%` of the tagger's
# {glue:text}`n_all:,`; everything else comes from pretraining. Before training, the
# token cross-entropy on a batch is {glue:text}`init_loss:.3f`; a uniform guess over
# the tags would give $\log C$ = {glue:text}`log_C:.3f` (chapter 2). Fine-tuning
# then trains *all* the weights, encoder included.
#
# ## 4. Training with the shared loop
#
# `rmdlib.tagging.finetune_tagger` is the one fine-tuning path of the course.
# It turns every sentence into one or more windows of at most `max_length`
# sub-tokens with aligned labels (a long sentence is windowed, never truncated),
# batches windows of similar length with {term}`dynamic padding`, builds the tagger
# and calls `rmdlib.train.fit` with the token cross-entropy of chapter 2. With a
# validation split, `fit` evaluates the validation loss and the validation entity
# F1 every `eval_every` steps and keeps the weights of the best F1.

# %% tags=["hide-input"]
source(finetune_tagger)

# %%
TAGGING = TaggingConfig(batch_size=32, dropout=0.1)  # dropout as in BERT and ELECTRA
FINETUNE = TrainConfig(
    # tiny encoder: best validation F1 of 1e-3, 2e-3, 3e-3 (400 steps), chosen with an
    # earlier pretraining run; Hub ones: ~1e-4
    lr=P.finetune_lr,  # 3e-3 for the tiny encoder, 1e-4 for Hub ones (rmdlib.profile)
    max_steps=P.n(400),  # about 2.5 passes over the micro-world's training split
    warmup_ratio=0.1,  # linear warm-up, then linear decay (BERT, ELECTRA)
    eval_every=P.n(80),  # five points on the validation curves
    monitor="f1", mode="max",  # keep the weights with the best validation entity F1
    seed=P.seed, log_every=10,
)
torch.manual_seed(P.seed)
t0 = time.perf_counter()
model, history = finetune_tagger(encoder, ner, tok, FINETUNE, TAGGING, device=P.device)
finetune_seconds = time.perf_counter() - t0
best_step, best_val_f1 = history.best
glue("ft_steps", FINETUNE.max_steps)
glue("ft_batch", TAGGING.batch_size)
glue("ft_lr", FINETUNE.lr)
glue("ft_seconds", finetune_seconds)
glue("best_step", int(best_step))
glue("best_val_f1", float(best_val_f1))
glue("epochs_seen", FINETUNE.max_steps * TAGGING.batch_size / len(ner["train"]))

fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 3.6))
history.plot(ax_loss, keys=("loss", "val_loss"))
ax_loss.set(ylabel="token cross-entropy", yscale="log", title="Loss")
history.plot(ax_f1, keys=("val_f1",))
ax_f1.axvline(best_step, color="gray", ls="--", label="best (weights kept)")
ax_f1.set(ylabel="entity F1", ylim=(0, 1), title="Validation entity F1")
ax_f1.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The run took {glue:text}`ft_steps:d` steps of {glue:text}`ft_batch:d` windows at a
# peak learning rate of {glue:text}`ft_lr:.0e` ({glue:text}`epochs_seen:.1f` passes
# over the training sentences) in {glue:text}`ft_seconds:.0f` s, evaluation included.
# The best validation entity F1, {glue:text}`best_val_f1:.3f`, came at step
# {glue:text}`best_step:d`, and those are the weights `fit` restored.
#
# ## 5. Entity-level evaluation
#
# NER is scored on entities, not on words: a predicted entity counts as correct
# only if its type and both of its boundaries equal those of a gold entity.
# Precision is the share of predicted entities that are correct, recall the share
# of gold entities found, and the {term}`entity-level F1` their harmonic mean,
# micro-averaged over all entities. These are the rules of the `conlleval` script of
# the CoNLL shared tasks {cite}`tjong2003introduction`, which seqeval's default mode
# reproduces {cite}`nakayama2018seqeval`; `rmdlib.metrics` computes them with
# seqeval's span reader. `evaluate_tagger` predicts with the same code that tags new
# text (section 7) and scores the result:

# %%
test_scores = evaluate_tagger(model, tok, ner["test"], TAGGING, device=P.device)
# the same predictions, kept for the analysis below
pred = infer.predict_tags(model, tok, words["test"], max_length=TAGGING.max_length,
                          stride=TAGGING.stride, batch_size=TAGGING.eval_batch_size,
                          device=P.device)
assert metrics.entity_scores(gold["test"], pred) == test_scores
print({k: round(v, 4) if isinstance(v, float) else v for k, v in test_scores.items()})

# %% tags=["remove-cell"]
for key in ("precision", "recall", "f1"):
    glue(f"test_{key}", test_scores[key])
glue("test_f1_strict", metrics.entity_scores(gold["test"], pred, strict=True)["f1"])
glue("n_i_starts", sum(t.startswith("I-") and (k == 0 or prev == "O" or prev[2:] != t[2:])
                       for tags in pred for k, (prev, t) in enumerate(zip(["O", *tags], tags))));

# %% [markdown]
# On the test split the tagger reaches precision {glue:text}`test_precision:.3f`,
# recall {glue:text}`test_recall:.3f` and entity F1 {glue:text}`test_f1:.3f`.
# (seqeval's *strict* mode, which drops an entity that starts with `I-` instead of
# `B-`, gives {glue:text}`test_f1_strict:.3f`; the book always reports the
# conlleval default.)
#
# ### Why token accuracy is the wrong headline number
#
# Token accuracy, the share of words with the right tag, looks like the natural
# measure of a tagger. It is not, because most words are `O`. Score three
# predictors on the same test sentences: one that answers `O` everywhere, the
# gazetteer baseline of `rmdlib.baselines` (a list of every entity string seen in
# training with its most frequent type, matched longest-first), and our tagger.

# %%
gazetteer = Gazetteer.fit(zip(words["train"], gold["train"]))
predictions = {
    "always O": [["O"] * len(tags) for tags in gold["test"]],
    "gazetteer": [gazetteer.tag(ws) for ws in words["test"]],
    "fine-tuned tagger": pred,
}


def score_row(tags):
    return {"token accuracy": metrics.token_accuracy(gold["test"], tags),
            **{k: v for k, v in metrics.entity_scores(gold["test"], tags).items()
               if k in ("precision", "recall", "f1")}}


scores = pd.DataFrame({name: score_row(tags) for name, tags in predictions.items()}).T
display(scores.style.format("{:.3f}"))

# %% tags=["remove-cell"]
for row, key in (("always O", "allo"), ("gazetteer", "gaz"), ("fine-tuned tagger", "model")):
    glue(f"{key}_acc", float(scores.loc[row, "token accuracy"]))
    glue(f"{key}_f1", float(scores.loc[row, "f1"]));

# %% [markdown]
# The predictor that finds nothing is {glue:text}`allo_acc:.1%` accurate per token,
# exactly the share of `O` words, and its entity F1 is {glue:text}`allo_f1:.3f`.
# Any tagger's token accuracy starts from that floor: it credits every `O` word left
# untagged, most of them easy, which entity F1 does not count, so even a tagger that
# finds few names scores high on it. The gazetteer reaches {glue:text}`gaz_acc:.1%` and
# the tagger {glue:text}`model_acc:.1%` token accuracy, with entity F1 of
# {glue:text}`gaz_f1:.3f` and {glue:text}`test_f1:.3f`. And one wrong word can cost a
# whole entity: tagging a two-word name as `O B-LOC` instead of `B-LOC I-LOC` gets half
# of its words right, but the entity is wrong, and the stray one-word `LOC` counts as a
# false positive besides. Entity F1 measures what a user of the tagger wants, whole
# names with the right type, which is why every NER result in this book and in the
# literature is an entity F1.
#
# :::{admonition} A common mistake
# :class: warning
# Some tutorials score NER with scikit-learn's `classification_report` or
# `f1_score(average="micro")` over all token tags, `O` included, and report a "97 %
# F1". When every token gets exactly one tag, each wrong tag is one false positive
# (of the predicted tag) and one false negative (of the gold tag), so micro-averaged
# precision, recall and F1 over all tags are all equal to token accuracy
# (`tests/test_metrics.py` checks it against scikit-learn). Such an "F1" is the
# token accuracy above, always-`O` floor included, and says nothing about entities.
# Nor is a classification report BLEU {cite}`papineni2002bleu`, as some articles call
# it: BLEU scores n-gram overlap between generated text and reference translations
# and has no meaning for a tagger, whose output is one tag per word.
# :::
#
# **Published reference points** (CoNLL-2003 English test set, the colab profile's data;
# the micro-world numbers above are not comparable with them). BERT-base reaches 92.4
# test F1 in the BERT paper {cite}`devlin2019bert`, but that system gave the model the
# surrounding document as context. Public reproductions that tag one sentence at a
# time, as this chapter does, with `bert-base-cased` report about 91.3 to 91.6. The
# colab profile fine-tunes the much smaller ELECTRA-Small for a few minutes, so expect
# it to land below both.
#
# ### A baseline without pretraining
#
# How much of the tagger's score is owed to pretraining? The control fine-tunes the
# same architecture with the same recipe from a randomly initialised encoder, and
# keeps its best validation state in the same way.

# %%
torch.manual_seed(P.seed)
random_encoder = AutoModel.from_config(encoder.config)  # same shape, random weights
torch.manual_seed(P.seed)
t0 = time.perf_counter()
control, _ = finetune_tagger(random_encoder, ner, tok, FINETUNE, TAGGING,
                             device=P.device)
control_seconds = time.perf_counter() - t0
predictions["no pretraining"] = infer.predict_tags(
    control, tok, words["test"], max_length=TAGGING.max_length, stride=TAGGING.stride,
    batch_size=TAGGING.eval_batch_size, device=P.device)
scores.loc["no pretraining"] = score_row(predictions["no pretraining"])
display(scores.style.format("{:.3f}"))

# %% tags=["remove-cell"]
gain = float(test_scores["f1"] - scores.loc["no pretraining", "f1"])
glue("control_f1", float(scores.loc["no pretraining", "f1"]))
glue("control_acc", float(scores.loc["no pretraining", "token accuracy"]))
glue("control_seconds", control_seconds)
glue("pretraining_gain", abs(gain))
glue("gain_verdict", "adds" if gain > 0 else "costs")
glue("gain_warning", "" if gain > 0 else (  # a leading space: it follows a sentence
    " A small difference from one seed each may be noise. "
    "If an encoder fine-tunes no better than random weights of the same shape across seeds, look at its "
    "pretraining run first: chapter 3's learning curves show whether the discriminator learnt to find "
    "replaced tokens at all (its recall and precision)."))


def ranking_sentence(table):
    """Where token accuracy and entity F1 order two predictors differently, say so; else compare the spreads."""
    acc, f1 = table["token accuracy"], table["f1"]
    called = {"always O": "always-O predictor", "no pretraining": "tagger without pretraining"}
    flips = [(a, b) for a in table.index for b in table.index if acc[a] > acc[b] and f1[a] < f1[b]]
    if flips:
        a, b = max(flips, key=lambda ab: f1[ab[1]] - f1[ab[0]])
        na, nb = called.get(a, a), called.get(b, b)
        return (f"Token accuracy even gets the order wrong: it puts the {na} ({acc[a]:.1%}) above the {nb} "
                f"({acc[b]:.1%}), while entity F1 puts the {nb} ahead ({f1[b]:.3f} against {f1[a]:.3f}).")
    best = f1.idxmax()
    return (f"Here both measures order the predictors the same way. What token accuracy hides is how far "
            f"from done even the best one is: the {called.get(best, best)} tags {1 - acc[best]:.1%} of the "
            f"words wrongly, yet misses or mistypes {1 - table.loc[best, 'recall']:.1%} of the gold entities.")


glue("ranking", ranking_sentence(scores));

# %% [markdown]
# Without pretraining the same {glue:text}`ft_steps:d` steps reach a test entity F1 of
# {glue:text}`control_f1:.3f`, so here pretraining {glue:text}`gain_verdict`
# {glue:text}`pretraining_gain:.3f` F1 (one seed each: chapter 3 shows how much such
# numbers move between seeds).{glue:text}`gain_warning`
#
# With four predictors in the table, look once more at the two measures.
# {glue:text}`ranking`
#
# ## 6. Per-type results and error analysis
#
# One F1 hides where the errors are. `metrics.entity_table` breaks the scores down
# by type:

# %%
tables = {name: metrics.entity_table(gold["test"], predictions[name])
          for name in ("gazetteer", "no pretraining", "fine-tuned tagger")}
display(tables["fine-tuned tagger"].style.format(precision=3))
types = [t for t in tables["fine-tuned tagger"].index if t != "micro avg"]
per_type = pd.DataFrame({name: table.loc[types, "f1"]
                         for name, table in tables.items()})
best_type = per_type["fine-tuned tagger"].idxmax()
worst_type = per_type["fine-tuned tagger"].idxmin()

# %% tags=["remove-cell"]
glue("best_type", best_type)
glue("worst_type", worst_type)
glue("best_type_f1", float(per_type.loc[best_type, "fine-tuned tagger"]))
glue("worst_type_f1", float(per_type.loc[worst_type, "fine-tuned tagger"]));

# %% tags=["hide-input"]
fig, (ax_bar, ax_cm) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.1]})
per_type.plot.bar(ax=ax_bar, rot=0, color=["tab:gray", "tab:blue", "tab:red"])
ax_bar.set(ylabel="test entity F1", ylim=(0, 1), title="F1 per entity type")
confusion = metrics.entity_confusion(gold["test"], pred)
ax_cm.imshow(np.log1p(confusion.values), cmap="Blues")
for (r, c), n in np.ndenumerate(confusion.values):
    ax_cm.text(c, r, str(n), ha="center", va="center", fontsize=9,
               color="white" if n > confusion.values.max() / 3 else "black")
ax_cm.set_xticks(range(confusion.shape[1]), confusion.columns)
ax_cm.set_yticks(range(confusion.shape[0]), confusion.index)
ax_cm.set(xlabel="predicted (same span)", ylabel="gold", title="Entity confusions of the tagger")
fig.tight_layout()
plt.show()

# %% [markdown]
# The tagger's best type is {glue:text}`best_type` (F1 {glue:text}`best_type_f1:.3f`),
# its worst {glue:text}`worst_type` ({glue:text}`worst_type_f1:.3f`). The right panel,
# `metrics.entity_confusion`, counts entity spans: a gold entity lands in the column
# of the predicted type that has exactly its span, or in `missed` if none has; a
# predicted entity whose span is no gold span adds to the `spurious` row. The
# diagonal holds the correct entities, the rest of each row says how that type went
# wrong.
#
# ### Wrong type, wrong boundary, missed
#
# An error can be of three kinds. A *type error* has the right span and the wrong
# type. A {term}`boundary error` overlaps a gold entity without matching its span:
# one word too many or too few. A *miss* overlaps no prediction at all. conlleval
# punishes a boundary error twice, as one false negative (the gold entity) and one
# false positive (the predicted span), so it is worth knowing how many there are.

# %%
def error_kinds(gold_tags, pred_tags):
    """Each gold entity: correct, wrong type, wrong boundary or missed; + spurious."""
    counts, boundary_examples = Counter(), []
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags)):
        gold_spans = {(a, b): t for t, a, b in get_entities(g)}  # inclusive word spans
        pred_spans = {(a, b): t for t, a, b in get_entities(p)}
        for (a, b), t in gold_spans.items():
            if (a, b) in pred_spans:
                counts["correct" if pred_spans[(a, b)] == t else "wrong type"] += 1
            elif any(a <= d and c <= b for c, d in pred_spans):  # overlaps a prediction
                counts["wrong boundary"] += 1
                boundary_examples.append(i)
            else:
                counts["missed"] += 1
        counts["spurious (no overlap)"] += sum(
            not any(c <= b and a <= d for a, b in gold_spans) for c, d in pred_spans)
    return counts, boundary_examples


kinds, kind_examples = {}, {}
for name in ("gazetteer", "no pretraining", "fine-tuned tagger"):
    kinds[name], kind_examples[name] = error_kinds(gold["test"], predictions[name])
KINDS = ["correct", "wrong type", "wrong boundary", "missed", "spurious (no overlap)"]
kinds = pd.DataFrame(kinds).T.reindex(columns=KINDS, fill_value=0).fillna(0).astype(int)
display(kinds)
n_gold = sum(len(get_entities(tags)) for tags in gold["test"])
assert (kinds.iloc[:, :4].sum(axis=1) == n_gold).all()  # every gold entity counted once
for col, key in (("wrong type", "n_type"), ("wrong boundary", "n_boundary"),
                 ("missed", "n_missed"), ("spurious (no overlap)", "n_spurious")):
    glue(key, int(kinds.loc["fine-tuned tagger", col]))


def bracketed(ws, tags):
    """A sentence with its entities in brackets: 'in [Port Kolkata]LOC on'."""
    out = list(ws)
    for typ, a, b in get_entities(tags):
        out[a] = "[" + out[a]
        out[b] = out[b] + "]" + typ
    return " ".join(out)


for i in list(dict.fromkeys(kind_examples["fine-tuned tagger"]))[:4]:
    print("gold:", bracketed(words["test"][i], gold["test"][i]))
    print("pred:", bracketed(words["test"][i], pred[i]), "\n")

# %% [markdown]
# Of the tagger's errors on gold entities, {glue:text}`n_type:d` are type errors,
# {glue:text}`n_boundary:d` boundary errors and {glue:text}`n_missed:d` misses; it
# also predicts {glue:text}`n_spurious:d` entities that overlap nothing. The
# examples above contain boundary errors: read them and ask whether the gold span or the
# predicted one is the more natural reading. Boundary conventions (is the title in
# `Gen. Tariq Simpson` part of the name?) are a common source of them in real data
# too.
#
# ### Seen and unseen entities
#
# A gazetteer can only find names it has seen. A tagger should also recognise a
# new name from its context and its shape. The micro-world is built to test this: a
# share of its test entities are made of name parts that never occur in training
# (CoNLL-2003 has the same property less cleanly: its test articles come from a
# later month than its training articles {cite}`tjong2003introduction`). We split the
# gold test entities by whether their
# exact word sequence occurs as an entity in the training split, and set apart the
# seen ones that occur there with more than one type (like `Washington`, a person,
# a place or part of an organisation): there, only the context can decide.

# %%
def group_of(form):
    if form not in train_types:
        return "unseen"
    return "seen, one type" if len(train_types[form]) == 1 else "seen, several types"


def recall_by_group(pred_tags):
    """Share of gold entities found exactly (span and type), per seen/unseen group."""
    found, total = Counter(), Counter()
    for ws, g, p in zip(words["test"], gold["test"], pred_tags):
        predicted = set(get_entities(p))
        for entity in get_entities(g):
            group = group_of(tuple(ws[entity[1]:entity[2] + 1]))
            total[group] += 1
            found[group] += entity in predicted
    return {group: found[group] / total[group] for group in total}, total


groups = ["seen, one type", "seen, several types", "unseen"]
compared = ("gazetteer", "no pretraining", "fine-tuned tagger")
recalls = pd.DataFrame({name: recall_by_group(predictions[name])[0]
                        for name in compared}).reindex(groups)  # NaN: no such entity
group_sizes = recall_by_group(pred)[1]
recalls.insert(0, "gold entities", [group_sizes[g] for g in groups])
display(recalls.style.format({c: "{:.3f}" for c in recalls.columns[1:]}))

# %% tags=["remove-cell"]
for g, key in zip(groups, ("seen1", "seenN", "unseen")):
    glue(f"n_{key}", group_sizes[g])
    glue(f"gaz_{key}", float(recalls.loc[g, "gazetteer"]))
    glue(f"model_{key}", float(recalls.loc[g, "fine-tuned tagger"]))
    glue(f"control_{key}", float(recalls.loc[g, "no pretraining"]))

# %% tags=["hide-input"]
ax = recalls.drop(columns="gold entities").plot.bar(rot=0, color=["tab:gray", "tab:blue", "tab:red"],
                                                   figsize=(8, 3.6))
ax.set(ylabel="recall (exact span and type)", ylim=(0, 1), title="Recall on seen and unseen test entities")
ax.figure.tight_layout()
plt.show()

# %% [markdown]
# Of the test entities, {glue:text}`n_unseen:,` never occur in training,
# {glue:text}`n_seen1:,` occur there with one type and {glue:text}`n_seenN:,` with
# several. The gazetteer's recall on unseen entities is {glue:text}`gaz_unseen:.1%`,
# as it must be: it can only output strings from its list. The fine-tuned tagger
# finds {glue:text}`model_unseen:.1%` of the unseen entities (against
# {glue:text}`model_seen1:.1%` of the seen, unambiguous ones), the control without
# pretraining {glue:text}`control_unseen:.1%`. On the seen forms with several types
# the gazetteer, which always answers with the most frequent type, finds
# {glue:text}`gaz_seenN:.1%` and the tagger {glue:text}`model_seenN:.1%`. Unseen
# names are the part of the task that no list of names can do, and the part where a
# learned tagger has to show what it learnt from context and word shape.
#
# ## 7. Tagging new sentences
#
# `rmdlib.infer.tag` runs the whole pipeline on raw text: it cuts the text into
# words, keeps each word's character span, windows the sub-tokens, predicts one tag
# per word, reads the entities from the IOB2 tags and maps them back to character
# offsets, so that `text[e.start:e.end] == e.text` for every entity `e`.

# %%
new_texts = [
    "Gen. Tariq Simpson arrived in Havana on Tuesday.",
    "Shares of Fischer & Gallagher rose 3.5 % after the Japanese Masters, analysts in "
    "Cologne said.",
    "Dr. Zorbina Quellwater of the Bank of Vantorra met officials in Port Elsmere.",
]
found = infer.tag(model, tok, new_texts, device=P.device)
train_vocab = {w for ws in words["train"] for w in ws}
novel = [w for w in new_texts[2].rstrip(".").split() if w not in train_vocab]
rows = []
for k, (text, entities) in enumerate(zip(new_texts, found)):
    for e in entities:
        assert text[e.start:e.end] == e.text  # offsets point into the original string
        rows.append({"text": k, "entity": e.text, "type": e.type,
                     "start": e.start, "end": e.end})
display(pd.DataFrame(rows))

# %% tags=["remove-cell"]
glue("novel_words", ", ".join(f'"{w}"' for w in novel) or "none")
glue("n_new_entities", len(rows));

# %% [markdown]
# The third sentence is made of invented names; of its words,
# {glue:text}`novel_words` never occur in the training split. Compare what the
# tagger does with them to its recall on unseen entities above. Pre-split tokens work
# too (`infer.tag(model, tok, [tokens])`
# reads them as the text joined by single spaces), and a text longer than the
# model's limit is tagged in overlapping windows, each word read from the window in
# which it has most context, so no word is dropped. Chapter 8 saves such a tagger
# with `save_pretrained` and loads it back.
#
# ## Exercises
#
# ```{exercise} ★ · 10 min
# :label: ch-04-ex1
# A sentence has the words `Anna`, `Kowalczyk`, `spoke` with the tags `B-PER I-PER O`
# (ids 1, 2, 0), and the tokenizer gives `[CLS] Anna Ko ##wal ##czyk spoke [SEP]`.
# Write the word ids of the seven tokens, the labels `align_labels` gives by default,
# and the labels with `label_all_subtokens=True, b_to_i={1: 2, 3: 4, 5: 6, 7: 8}`.
# How many terms does each labelling add to the loss, and which one would the
# positional bug of section 2 produce?
# ```
#
# ```{solution} ch-04-ex1
# :class: dropdown
# Word ids: `None, 0, 1, 1, 1, 2, None`. Default (first sub-token):
# {glue:text}`ex1_first`, three loss terms, one per word. Every sub-token:
# {glue:text}`ex1_all`, five loss terms, three of them from `Kowalczyk`. The
# positional bug puts label $i$ on token $i+1$: {glue:text}`ex1_bug`; read back at
# the words' first sub-tokens (positions 1, 2, 5) that gives `B-PER I-PER -100`, so
# `spoke` loses its label here; in a longer sentence every word after a split word
# would get the tag of a word further to its left. (The three lists above are
# computed by the last code cell of the chapter, not typed.)
# ```
#
# ```{exercise} ★★ · 25 min
# :label: ch-04-ex2
# Measure the choice of section 2: fine-tune with every sub-token labelled instead
# of the first one only, with the same `FINETUNE` and `TAGGING`, and compare test
# entity F1, overall and on unseen entities. The one fine-tuning path builds its
# windows with `tagging.windows`; build them yourself with
# `tokens.tokenize_ner(..., label_all_subtokens=True, b_to_i=b_to_i)` and pass them
# to `fit` the way `finetune_tagger` does. Is one run per setting enough to decide?
# ```
#
# ```{solution-start} ch-04-ex2
# :class: dropdown
# ```
# Both arms train without a validation split, so each keeps its last weights and
# the comparison is fair; the chapter's tagger instead kept its best validation
# checkpoint. The run below is scaled down to {glue:text}`ex2_steps:d` steps per arm
# so that the book's build stays fast: raise `short` to the chapter's
# {glue:text}`ft_steps:d` steps for the real comparison.

# %%
from dataclasses import replace

from rmdlib.tagging import train_loader
from rmdlib.train import fit

short = replace(FINETUNE, max_steps=P.n(30))  # scaled down for the book's build
train_only = DatasetDict(train=ner["train"])  # no validation: last weights kept
torch.manual_seed(P.seed)
model_first, _ = finetune_tagger(encoder, train_only, tok, short, TAGGING,
                                 device=P.device)

win_all = tokens.tokenize_ner(ner, tok, max_length=TAGGING.max_length,
                              stride=TAGGING.stride, label_all_subtokens=True,
                              b_to_i=b_to_i)
torch.manual_seed(P.seed)
model_all = models.build_tagger(encoder, names, dropout=TAGGING.dropout)
fit(model_all, models.tagging_loss_fn(),
    train_loader(win_all["train"], tok, TAGGING, seed=P.seed, device=P.device),
    cfg=short, device=P.device)

for label, m in (("first sub-token", model_first), ("every sub-token", model_all)):
    tags = infer.predict_tags(m, tok, words["test"], max_length=TAGGING.max_length,
                              stride=TAGGING.stride, device=P.device)
    f1 = metrics.entity_scores(gold["test"], tags)["f1"]
    unseen = recall_by_group(tags)[0]["unseen"]
    print(f"{label}: test F1 {f1:.3f}, recall on unseen entities {unseen:.3f}")

# %% [markdown]
# Prediction still reads the first sub-token, so only the training signal changes.
# One run per setting cannot decide a small difference: repeat each with three
# seeds, as chapter 3 does, and compare the difference with the spread over seeds.
# ```{solution-end}
# ```
#
# ```{exercise} ★★ · 15 min
# :label: ch-04-ex3
# Make a prediction from the gold test tags by turning the last tag of every
# multi-word entity into `O` (so `B-PER I-PER` becomes `B-PER O`). Before running
# anything, derive its token accuracy and its entity precision, recall and F1 from
# three counts: words, entities, and multi-word entities. Then check with
# `metrics.token_accuracy` and `metrics.entity_scores`.
# ```
#
# ```{solution-start} ch-04-ex3
# :class: dropdown
# ```
# Exactly one word per multi-word entity is wrong, so with $N$ words, $E$ entities
# and $M$ multi-word entities the token accuracy is $1 - M/N$. Every entity is still
# predicted once, single-word ones exactly and multi-word ones one word too short,
# so $E$ entities are predicted, $E - M$ of them correct: precision = recall =
# F1 = $(E - M)/E$.

# %%
def drop_last_word(tags):
    """The tags with the last word of every multi-word entity set to O."""
    out = list(tags)
    for _, a, b in get_entities(tags):
        if b > a:
            out[b] = "O"
    return out


clipped = [drop_last_word(t) for t in gold["test"]]
N = sum(map(len, gold["test"]))  # words
E = sum(len(get_entities(t)) for t in gold["test"])  # entities
M = sum(b > a for t in gold["test"] for _, a, b in get_entities(t))  # multi-word ones
print(f"derived: token accuracy {1 - M / N:.4f}, P = R = F1 = {(E - M) / E:.4f}")
print(f"measured: token accuracy {metrics.token_accuracy(gold['test'], clipped):.4f},",
      metrics.entity_scores(gold["test"], clipped))

# %% [markdown]
# On the test split ($N$ = {glue:text}`ex3_N:,`, $E$ = {glue:text}`ex3_E:,`,
# $M$ = {glue:text}`ex3_M:,`) that is a token accuracy of {glue:text}`ex3_acc:.1%`
# and an entity F1 of {glue:text}`ex3_f1:.3f`: every word but one per name is right,
# yet {glue:text}`ex3_M:,` entities are lost, each counted twice, once as a miss and
# once as a false positive.
# ```{solution-end}
# ```
#
# ```{exercise} ★ · 10 min
# :label: ch-04-ex4
# The prediction `O I-PER I-PER O` contains no `B-` tag. How many entities does
# conlleval (seqeval's default mode) read from it, and how many does seqeval's strict
# IOB2 mode read? If the gold tags are `O B-PER I-PER O`, what is the entity F1 in
# each mode?
# ```
#
# ```{solution} ch-04-ex4
# :class: dropdown
# conlleval reads an `I-X` after `O` as the start of an entity, so it finds one
# `PER` entity on words 1 and 2: the gold span, F1 = {glue:text}`ex4_default:.1f`.
# Strict mode drops entities that do not start with `B-`, so it finds none: precision,
# recall and F1 are {glue:text}`ex4_strict:.1f`. The tagger of section 5 starts
# {glue:text}`n_i_starts:d` of its predicted entities with `I-`; only those can make
# its two scores ({glue:text}`test_f1:.3f` and {glue:text}`test_f1_strict:.3f`) differ.
# ```

# %% tags=["remove-cell"]
# Numbers quoted in the solutions above, computed rather than typed.
ex1_ids = [None, 0, 1, 1, 1, 2, None]
fmt = lambda labels: "[" + ", ".join(map(str, labels)) + "]"  # noqa: E731
glue("ex1_first", fmt(tokens.align_labels(ex1_ids, [1, 2, 0])))
glue("ex1_all", fmt(tokens.align_labels(ex1_ids, [1, 2, 0], label_all_subtokens=True,
                                        b_to_i={1: 2, 3: 4, 5: 6, 7: 8})))
glue("ex1_bug", fmt(positional_labels(7, [1, 2, 0])))

ex3_scores = metrics.entity_scores(gold["test"], clipped)
assert abs(metrics.token_accuracy(gold["test"], clipped) - (1 - M / N)) < 1e-12  # the closed forms
assert abs(ex3_scores["precision"] - (E - M) / E) < 1e-12
assert abs(ex3_scores["recall"] - (E - M) / E) < 1e-12
glue("ex2_steps", short.max_steps)
glue("ex3_N", N)
glue("ex3_E", E)
glue("ex3_M", M)
glue("ex3_acc", 1 - M / N)
glue("ex3_f1", ex3_scores["f1"])
glue("ex4_default", metrics.entity_scores([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]])["f1"])
glue("ex4_strict", metrics.entity_scores([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]],
                                         strict=True)["f1"]);

# %% [markdown]
# ## Summary
#
# * NER is word tagging with IOB2 tags; entities are read from the tags as spans.
# * The encoder reads sub-tokens. The first sub-token of each word carries the
#   word's label and every other position $-100$, so each word is one loss term and
#   prediction reads the same position. Placing labels by position shifts them as
#   soon as a word splits: the labels themselves then score only
#   {glue:text}`bug_f1:.3f` entity F1 on the micro-world's training split.
# * The task adapter head is dropout plus one linear layer, {glue:text}`head_share:.2%`
#   of the tagger's parameters; `finetune_tagger` trains it together with the encoder
#   through the same `fit` loop as every other run in the book.
# * Score entities, not tokens: predicting `O` everywhere is
#   {glue:text}`allo_acc:.1%` token-accurate with entity F1 0. The tagger reaches test
#   entity F1 {glue:text}`test_f1:.3f`, against {glue:text}`gaz_f1:.3f` for the gazetteer
#   and {glue:text}`control_f1:.3f` without pretraining.
# * Look at the errors: per type, confusions, boundary errors, and unseen entities,
#   where the gazetteer's recall is {glue:text}`gaz_unseen:.1%` and the tagger's
#   {glue:text}`model_unseen:.1%`.
# * `infer.tag` returns entities with character offsets into the original text.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("04_ner")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`tjong2003introduction` for the CoNLL-2003 task, its
# entity types and the conlleval scoring rules, {cite:t}`ramshaw1995text` for the
# inside/outside/begin tagging of chunks, {cite:t}`nakayama2018seqeval` for seqeval,
# which `rmdlib.metrics` follows, {cite:t}`devlin2019bert` for fine-tuning a pretrained
# encoder for NER with first-sub-token labels and for the 92.4 F1 reference point,
# {cite:t}`clark2020electra` for the ELECTRA encoders, {cite:t}`papineni2002bleu` for
# BLEU, and {cite:t}`wolf2020transformers` for the token-classification models and tokenizers
# that `rmdlib` builds on.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
