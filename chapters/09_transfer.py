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
# (ch-09)=
# # 9. Language and domain similarity
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. measure how far a target language is from the training one: word and
#    {term}`subword overlap` (by type and by token), word-order distance, and
#    {term}`typological distance`;
# 2. run {term}`zero-shot cross-lingual transfer` (train on one language, tag another)
#    and read the result as a function of those distances;
# 3. explain what bilingual pretraining adds, and compare your miniature with what
#    K et al., Dufter & Schütze and Pires et al. found for multilingual BERT;
# 4. measure the cost of a {term}`domain shift` and what a short
#    {term}`domain-adaptive pretraining` run on unlabelled target text recovers.
# :::
#
# What the chapter assumes (the Transformer block, tokenizers, PyTorch basics) is in
# {ref}`app-prerequisites`.
#
# **Time:** about 60 minutes to read and run; the code ran in
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
from rmdlib.report import glue, recorded, run_card, source

P = rmdlib.setup(seed=0)
glue("run_card", run_card(P), markdown=True);

# %% [markdown]
# {glue:md}`run_card`
#
# A tagger trained on English news meets German text, or tweets. How much of it
# survives, and which kind of distance decides: shared words, shared word pieces,
# word order, script, or the style of the text? This chapter measures it, first in the
# micro-world, where each distance can be turned like a dial while everything else is
# held fixed, then on real languages.
#
# :::{admonition} A common mistake
# :class: warning
# The article this chapter replaces measured "language similarity" by comparing
# attention scores between positions of one sentence. Attention weights say which
# positions a model mixes; they are not a distance between languages, and they were
# never related to how well anything transferred. A similarity claim needs two things
# this chapter always shows together: a distance that can be computed without the
# model (overlap, word order, typology), and a transfer score measured on the target.
# :::
#
# ## 1. Derived languages at a controlled distance
#
# `rmdlib.synth` can write the micro-world in a *derived language*: the same
# sentences, the same entities and the same labels, with three dials.
#
# * `vocab_share`: the share of plain word types (tag O) replaced by invented words;
#   the same word always gets the same invented word, as in a real vocabulary.
# * `reorder`: the probability that a sentence's word order is reversed (entities stay
#   whole, final punctuation last): a crude head-final language.
# * `script`: Latin letters transliterated one for one into Greek or Cyrillic,
#   names included.
#
# Names are kept as they are (unless the script changes), as names mostly are across
# languages that share a script. That is the point of the design: with every common word
# replaced, what is left to transfer is the names themselves, their capital letters,
# and whatever the encoder can make of unfamiliar context.

# %%
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from datasets import DatasetDict
from IPython.display import display

from rmdlib import compare, data, hub, infer, metrics, models, synth, transfer, zoo
from rmdlib.synth import Language
from rmdlib.tagging import TaggingConfig, finetune_tagger
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig

N_TEST = P.n(400)  # test sentences per language
english = synth.ner_splits(P.seed, n_train=0, n_val=0, n_test=N_TEST)["test"]
example = english[3]
show = {"English": Language(), "all words replaced": Language(vocab_share=1.0, seed=1),
        "reversed order": Language(reorder=1.0, seed=1),
        "Greek script": Language(script="greek", seed=1)}
pd.DataFrame({
    name: [" ".join(synth.derive_language([example], vocab_share=lang.vocab_share,
                                          reorder=lang.reorder, script=lang.script,
                                          seed=lang.seed)[0][0])]
    for name, lang in show.items()
}, index=["sentence"]).T

# %% [markdown]
# The same test sentence in four versions. `synth.ner_splits(language=...)` gives
# whole train, validation and test splits of a derived language, sentence for sentence
# parallel to the English ones (`tests/test_transfer.py` checks that the labels and
# the entities are unchanged and that the splits are a pure function of the seed).
#
# Three distances can be computed without any model:
#
# * **word overlap**: of the word types, the share the two languages have in common
#   (Jaccard, "type"), and of the target's running words, the share whose type the
#   source also has ("token"): a few shared frequent words weigh more than many rare ones;
# * **subword overlap**: the same on the word pieces a tokenizer produces, which is
#   what a model actually reads {cite}`pires2019how,wu2019beto`;
# * **word-order distance**: the share of word pairs whose order the derivation swaps
#   (a normalised Kendall distance; the alignment is known exactly, because the derived
#   sentence is made from the English one).

# %% tags=["hide-input"]
source(transfer.overlap)

# %% [markdown]
# ## 2. Transfer without shared pretraining
#
# First the plain case: the book's zoo encoder (pretrained on English micro-world text
# only) with a shorter version of chapter 4's recipe ({glue:text}`finetune_steps:d` steps,
# no validation), fine-tuned once on English and then asked to tag derived languages it
# has never seen, zero-shot.

# %%
# derived languages exist for the micro-world, in every profile
ner = data.load_ner("synthetic")
tok = zoo.tokenizer(P)
TAGGING = TaggingConfig(batch_size=32)
FINETUNE = TrainConfig(lr=P.finetune_lr, max_steps=P.n(200),
                       warmup_ratio=0.1, seed=P.seed, log_every=50)
english_train = DatasetDict(train=ner["train"])


def finetune(encoder, tokenizer, cfg=FINETUNE):
    """A fresh head on ``encoder``, fine-tuned on the English training split; the last
    weights kept.
    """
    torch.manual_seed(P.seed)
    model, _ = finetune_tagger(encoder, english_train, tokenizer, cfg, TAGGING,
                               device=P.device)
    return model.eval()


def tag(model, tokenizer, examples):
    """Predicted tags for every sentence of ``examples`` (lists of (words, tags))."""
    return infer.predict_tags(model, tokenizer, [words for words, _ in examples],
                              batch_size=128, device=P.device)


def f1(examples, predicted):
    return metrics.entity_scores([tags for _, tags in examples], predicted)["f1"]


t0 = time.perf_counter()
tagger = finetune(models.build_encoder(zoo.encoder(P)).to(P.device), tok)
glue("finetune_seconds", time.perf_counter() - t0)
glue("finetune_steps", FINETUNE.max_steps);

# %% [markdown]
# Now the grid: English itself, 25 % to 100 % of the plain words replaced, the
# order reversed, both together, and a change of script.

# %%
GRID = {"English": Language(),
        **{f"{s:.0%} replaced": Language(vocab_share=s, seed=1)
           for s in (0.25, 0.5, 0.75, 1.0)},
        "reversed": Language(reorder=1.0, seed=1),
        "100% replaced + reversed": Language(vocab_share=1.0, reorder=1.0, seed=1),
        "Greek script": Language(script="greek", seed=1)}
train_words = ner["train"]["tokens"]
grid_sets, grid_preds, rows = {}, {}, []
for name, lang in GRID.items():
    test = synth.ner_splits(P.seed, n_train=0, n_val=0, n_test=N_TEST,
                            language=lang)["test"]
    grid_sets[name], grid_preds[name] = test, tag(tagger, tok, test)
    sub = transfer.subword_overlap(tok, train_words, test)
    rows.append({"language": name, "F1": f1(test, grid_preds[name]),
                 "word overlap (token)":
                     transfer.word_overlap(train_words, test)["token"],
                 "subword overlap (type)": sub["type"],
                 "subword overlap (token)": sub["token"],
                 "word-order distance": transfer.word_order_distance(english, lang)})
grid = pd.DataFrame(rows).set_index("language")
display(grid.style.format("{:.3f}"))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 4))
ax.scatter(grid["subword overlap (token)"], grid["F1"], c=grid["word-order distance"],
           cmap="coolwarm", vmin=0, vmax=1, s=60, edgecolor="black")
ax.set(xlim=(-0.05, 1.1), ylim=(0, grid["F1"].max() * 1.12))
placed = []  # label boxes in points, to keep labels of nearby points apart
to_points = 72 / fig.dpi  # display pixels -> points
for name, row in grid.sort_values("F1", ascending=False).iterrows():
    xy = (row["subword overlap (token)"], row["F1"])
    px, py = (v * to_points for v in ax.transData.transform(xy))
    width, height = 4.6 * len(name), 9  # a label of 8-point text, roughly
    for dy in (4, -12, 14, -22, 24):  # above the point, below it, further out
        box = (px + 5, py + dy, px + 5 + width, py + dy + height)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                   for b in placed):
            break
    placed.append(box)
    ax.annotate(name, xy, textcoords="offset points", xytext=(5, dy), fontsize=8)
ax.set(xlabel="subword overlap with the English training text (token)",
       ylabel="zero-shot test entity F1",
       title="Zero-shot F1 against overlap (colour: word-order distance)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The scatter plot above puts every derived language at its subword overlap (x) and
# the English tagger's F1 on it (y); the colour is the word-order distance. Before reading
# differences off a table, each comparison gets an interval: the paired bootstrap
# below resamples the *same* test sentences for both arms (the languages are parallel,
# sentence for sentence), so the noise that both arms share cancels.

# %%
def paired_f1(gold, preds_a, preds_b, *, gold_b=None):
    """F1(b) - F1(a) on the same sentences, one seed: `rmdlib.compare.paired_f1`.

    ``gold_b``: arm b's gold when it tags another version of each sentence (the noisy
    domain). Returns f1_a, f1_b, diff and its 95 % interval low, high.
    """
    gb = gold if gold_b is None else gold_b
    c = compare.paired_f1(gb, [preds_b], [preds_a], gold_b=gold, seed=P.seed)
    f1_a, f1_b = (metrics.entity_scores(g, p)["f1"]
                  for g, p in ((gold, preds_a), (gb, preds_b)))
    return {"f1_a": f1_a, "f1_b": f1_b, "diff": c.diff, "low": c.low, "high": c.high}


def verdict(cmp):
    """The comparison in words: a gain or a loss only when the interval excludes 0."""
    if cmp["low"] > 0:
        return "a gain beyond the noise (the interval excludes 0)"
    if cmp["high"] < 0:
        return "a loss beyond the noise (the interval excludes 0)"
    return "within the noise (the interval contains 0)"


def in_english_order(preds, lang):
    """Predictions on a reordered language put back in the English word order (the
    alignment is known).
    """
    out = []
    for pred, order in zip(preds, synth.word_orders(english, lang)):
        back = [None] * len(pred)
        for j, k in enumerate(order):  # derived word j is English word k
            back[k] = pred[j]
        out.append(back)
    return out


# every derived language has these tags, in the English order
gold = [tags for _, tags in english]
for name in ("100% replaced", "reversed", "Greek script"):
    c = paired_f1(gold, grid_preds["English"],
                  in_english_order(grid_preds[name], GRID[name]))
    key = name.split()[0].replace("%", "").lower()
    glue(f"cmp_{key}_diff", c["diff"])
    glue(f"cmp_{key}_low", c["low"])
    glue(f"cmp_{key}_high", c["high"])
    glue(f"cmp_{key}_verdict", verdict(c))
for name, key in (("English", "en"), ("100% replaced", "100"), ("reversed", "rev"),
                  ("Greek script", "greek"), ("100% replaced + reversed", "both"),
                  ("50% replaced", "50")):
    glue(f"f1_{key}", float(grid.loc[name, "F1"]))
    glue(f"ov_{key}", float(grid.loc[name, "subword overlap (token)"]))
glue("ovt_greek", float(grid.loc["Greek script", "subword overlap (type)"]))
glue("wod_rev", float(grid.loc["reversed", "word-order distance"]))
for key, name in (("100", "100% replaced"), ("greek", "Greek script")):
    glue(f"keep_{key}", float(grid.loc[name, "F1"] / grid.loc["English", "F1"]))
# which pieces do the Greek and the fully replaced texts share with English?
english_pieces = {p for w in {w for words in train_words for w in words}
                  for p in tok.tokenize(w)} - {tok.unk_token}
unknown, no_letter = {}, {}
for key, name in (("100", "100% replaced"), ("greek", "Greek script")):
    pieces = Counter(p for words, _ in grid_sets[name] for w in words
                     for p in tok.tokenize(w))
    shared = {p: n for p, n in pieces.items() if p in english_pieces}
    unknown[key] = pieces[tok.unk_token] / sum(pieces.values())
    no_letter[key] = (sum(n for p, n in shared.items() if not any(map(str.isalpha, p)))
                      / sum(shared.values()))
glue("grid_n", len(grid))
glue("corr_overlap",
     float(np.corrcoef(grid["subword overlap (token)"], grid["F1"])[0, 1]));

# %% tags=["remove-cell"]
# the change of script against the fully replaced language, in words from this run
def with_letter(key):
    """Share of a language's shared running pieces that contain a letter, in words."""
    share = 1 - no_letter[key]
    return "none" if share == 0 else "under 1%" if share < 0.005 else f"{share:.0%}"


glue("greek_new",
     f"{unknown['greek']:.0%} of the Greek text's word pieces are the unknown token"
     if unknown["greek"] >= 0.005 else "its words break into pieces of another alphabet")
two = ("Greek script", "100% replaced")
ov_g, ov_r = (grid.loc[n, "subword overlap (token)"] for n in two)
f1_g, f1_r = (grid.loc[n, "F1"] for n in two)
letters = (f"{with_letter('greek')} of the Greek text's shared running pieces contain a "
           f"letter, against {with_letter('100')} of the replaced language's, whose names "
           "keep their English spelling")
glue("greek_vs_100",
     f"Token overlap is not the whole story: the Greek text's ({ov_g:.2f}) is no lower "
     f"than the fully replaced language's ({ov_r:.2f}), yet its F1 is lower ({f1_g:.3f} "
     f"against {f1_r:.3f})." if ov_g >= ov_r and f1_g < f1_r else
     f"The Greek text's token overlap is {ov_g:.2f} and its F1 {f1_g:.3f}, the fully "
     f"replaced language's {ov_r:.2f} and {f1_r:.3f}.")
glue("greek_letters", f"What the two share differs: {letters}.");

# %% [markdown]
# **What the grid shows.** On English the tagger reaches F1 {glue:text}`f1_en:.3f`.
# Replacing every plain word (token subword overlap {glue:text}`ov_100:.2f`) moves F1 by
# {glue:text}`cmp_100_diff:+.3f` (95 % interval {glue:text}`cmp_100_low:+.3f` to
# {glue:text}`cmp_100_high:+.3f`): {glue:text}`cmp_100_verdict`. Reversing the word
# order, which swaps {glue:text}`wod_rev:.0%` of the word pairs and changes no word,
# moves it by {glue:text}`cmp_reversed_diff:+.3f` ({glue:text}`cmp_reversed_low:+.3f` to
# {glue:text}`cmp_reversed_high:+.3f`): {glue:text}`cmp_reversed_verdict`. A change of
# script, which leaves the order and the words' identities intact but writes every
# letter, names included, in the Greek alphabet (subword overlap
# {glue:text}`ov_greek:.2f` by token, {glue:text}`ovt_greek:.2f` by type), moves it
# by {glue:text}`cmp_greek_diff:+.3f` ({glue:text}`cmp_greek_low:+.3f` to
# {glue:text}`cmp_greek_high:+.3f`): {glue:text}`cmp_greek_verdict`. Across the
# {glue:text}`grid_n:d` languages of the grid the correlation of F1 with subword token
# overlap is {glue:text}`corr_overlap:+.2f` (a description of this grid, not a test).
#
# Read these with what the derived language keeps. With every plain word replaced the
# names are still there, in the same script and with their capitals, and the tagger
# keeps {glue:text}`keep_100:.0%` of its English F1: what it can still use is the names'
# form, what it loses is the context words that tell a PER from an ORG from a LOC
# (chapter 4's ambiguous names). With the script changed even the names are new
# ({glue:text}`greek_new`), and the tagger keeps {glue:text}`keep_greek:.0%`. An
# encoder pretrained on one language has no reason to map an unseen word to anything
# useful: without shared pretraining, only what the languages share can carry over.
# {glue:text}`greek_vs_100` {glue:text}`greek_letters`
#
# ## 3. Bilingual pretraining
#
# Multilingual BERT was pretrained on the Wikipedias of 104 languages at once, with no
# parallel text and no cross-lingual objective, and still transfers across languages
# zero-shot. Three studies asked why, each checked here against the paper's own words:
#
# * Pires et al. {cite}`pires2019how` fine-tuned multilingual BERT on one language and
#   tested it on another. High lexical overlap helped, but transfer was "possible even to
#   languages in different scripts", and it "works best between typologically similar
#   languages".
# * K et al. {cite}`k2020cross` pretrained bilingual BERTs themselves and tested
#   textual entailment and NER zero-shot on Spanish, Hindi and Russian: "the lexical
#   overlap between languages plays a negligible role in the cross-lingual success,
#   while the depth of the network is an integral part of it".
# * Dufter and Schütze {cite}`dufter2020identifying` built a laboratory of small BERTs
#   trained on English and a synthetic *Fake-English*, and identified "four architectural
#   and two linguistic elements that influence multilinguality"; the linguistic ones
#   are a similar word order and comparable corpora, and inverting the fake language's
#   word order was one of their tests. They measured multilinguality by word alignment,
#   sentence retrieval and word translation between the two languages, not by a
#   tagger's transfer.
#
# The miniature: one WordPiece vocabulary over English and a derived language with
# every plain word replaced (names kept), and three tiny RTD pretraining runs of equal
# compute: English only (the control), English + the derived language, and English +
# the derived language in reversed order. The English and derived documents are
# different documents, not translations of each other. Each encoder is fine-tuned on
# English only and tagged zero-shot on the derived languages.

# %%
# pretraining documents per run (half of each language in the bilingual runs)
N_DOCS = P.n(400)
L2 = Language(vocab_share=1.0, seed=1)
L2_REV = replace(L2, reorder=1.0)
english_docs = synth.corpus(P.seed, n_docs=N_DOCS)
l2_docs = {lang: synth.corpus(P.seed, n_docs=N_DOCS, language=lang)[N_DOCS // 2:]
           for lang in (L2, L2_REV)}
bi_tok = train_wordpiece(english_docs + l2_docs[L2], vocab_size=4000)
SMALL = replace(zoo.PRETRAIN, hidden=64, heads=2, max_length=64, batch_size=8,
                steps=P.n(200), lr=3e-4)
ARMS = {"English only": english_docs,
        "English + derived": english_docs[: N_DOCS // 2] + l2_docs[L2],
        "English + derived, reversed": english_docs[: N_DOCS // 2] + l2_docs[L2_REV]}
targets = {"English": english, "derived": grid_sets["100% replaced"],
           "derived, reversed": grid_sets["100% replaced + reversed"]}
SMALL_FT = replace(FINETUNE, lr=3e-3, max_steps=P.n(150))
bi_preds = {}
t0 = time.perf_counter()


def pretrain_and_finetune(arm):
    pair, _, _ = zoo.pretrain(SMALL, bi_tok, ARMS[arm], device=P.device)
    return arm, finetune(pair.discriminator.to(P.device), bi_tok, SMALL_FT)


def score_cell(trained, examples):
    arm, model = trained
    name = next(k for k, v in targets.items() if v is examples)
    bi_preds[arm, name] = tag(model, bi_tok, examples)
    return f1(examples, bi_preds[arm, name])


bi_table = transfer.transfer_matrix(pretrain_and_finetune, list(ARMS), targets,
                                    score_cell)
glue("bi_seconds", time.perf_counter() - t0)
ax = transfer.plot_transfer_matrix(bi_table.rename(columns={"score": "test entity F1"}),
                                   value="test entity F1", fmt="{:.3f}")
ax.set(ylabel="pretraining text (fine-tuned on English)", xlabel="tagged, zero-shot",
       title="Test entity F1 by pretraining text and test language")
plt.show()

# %% [markdown]
# In the heat map above, each row is one pretraining run, fine-tuned on English; each
# column a test language; each cell the test entity F1.
# The two comparisons that matter are paired below: does adding the derived language to
# pretraining help on it, and does a reversed word order undo that help?

# %%
REV = GRID["100% replaced + reversed"]
cmp_bi = paired_f1(gold, bi_preds["English only", "derived"],
                   bi_preds["English + derived", "derived"])
cmp_bi_rev = paired_f1(
    gold,
    in_english_order(bi_preds["English only", "derived, reversed"], REV),
    in_english_order(bi_preds["English + derived, reversed", "derived, reversed"], REV),
)
cmp_order = paired_f1(
    gold,
    bi_preds["English + derived", "derived"],
    in_english_order(bi_preds["English + derived, reversed", "derived, reversed"], REV),
)
cell = {(r.source, r.target): r.score for r in bi_table.itertuples()}
for key, c in (("bi", cmp_bi), ("birev", cmp_bi_rev), ("order", cmp_order)):
    glue(f"{key}_diff", c["diff"])
    glue(f"{key}_low", c["low"])
    glue(f"{key}_high", c["high"])
    glue(f"{key}_verdict", verdict(c))
glue("bi_en_en", cell["English only", "English"])
glue("bi_en_l2", cell["English only", "derived"])
glue("bi_l2_l2", cell["English + derived", "derived"])
glue("bi_rev_rev", cell["English + derived, reversed", "derived, reversed"])
glue("bi_l2_en", cell["English + derived", "English"])
glue("small_steps", SMALL.steps)
glue("small_hidden", SMALL.hidden);

# %% [markdown]
# **What the run shows.** The three encoders are tiny (width {glue:text}`small_hidden:d`,
# {glue:text}`small_steps:d` pretraining steps each, {glue:text}`bi_seconds:.0f` s for
# all three runs with their fine-tuning). The English-only encoder tags English with F1
# {glue:text}`bi_en_en:.3f` and the derived language with {glue:text}`bi_en_l2:.3f`.
# Pretrained on English + the derived language, it tags the derived language with
# {glue:text}`bi_l2_l2:.3f`, a change of {glue:text}`bi_diff:+.3f`
# ({glue:text}`bi_low:+.3f` to {glue:text}`bi_high:+.3f`): {glue:text}`bi_verdict`. With the
# derived language reversed in pretraining and at test, the change against the
# English-only encoder is {glue:text}`birev_diff:+.3f` ({glue:text}`birev_low:+.3f` to
# {glue:text}`birev_high:+.3f`): {glue:text}`birev_verdict`; the reversed language against
# the plain one, each with its own bilingual encoder, differs by {glue:text}`order_diff:+.3f`
# ({glue:text}`order_low:+.3f` to {glue:text}`order_high:+.3f`): {glue:text}`order_verdict`.
#
# Compared with the literature: these studies pretrained BERT models on real text for
# their whole training runs; the miniature's encoders have two layers and
# {glue:text}`small_steps:d` steps on a CPU, while K et al. found depth integral to
# transfer. Whatever transfer the miniature shows
# can come from the shared names and from what the invented words' embeddings picked up
# about their neighbours. Where it differs from the papers, that size gap is the first
# suspect, not a refutation of their results.
#
# ## 4. Domain shift and domain-adaptive pretraining
#
# Languages are not the only drift. The same micro-world written as social media
# (`transfer.noisy_domain`): half the sentences entirely lower-case and without final
# punctuation, names turned into hashtags and @-handles ("#NewYork", "@JohnSmith"),
# typos, fillers such as "lol". Every entity survives with its type, so F1 is still
# comparable.

# %%
noisy_test = transfer.noisy_domain(english, seed=P.seed)
for words, _ in noisy_test[:3]:
    print(" ".join(words))
noisy_preds = tag(tagger, tok, noisy_test)
noisy_gold = [tags for _, tags in noisy_test]
# same sentences, other words
cmp_noise = paired_f1(gold, grid_preds["English"], noisy_preds, gold_b=noisy_gold)
glue("noise_f1", cmp_noise["f1_b"])
glue("noise_diff", cmp_noise["diff"])
glue("noise_low", cmp_noise["low"])
glue("noise_high", cmp_noise["high"])
print(f"clean F1 {cmp_noise['f1_a']:.3f}, noisy F1 {cmp_noise['f1_b']:.3f} "
      f"(difference {cmp_noise['diff']:+.3f}, "
      f"95 % CI {cmp_noise['low']:+.3f} to {cmp_noise['high']:+.3f})")

# %% [markdown]
# The domain shift changes F1 by {glue:text}`noise_diff:+.3f` (from {glue:text}`f1_en:.3f` to
# {glue:text}`noise_f1:.3f`; 95 % interval {glue:text}`noise_low:+.3f` to
# {glue:text}`noise_high:+.3f`). Gururangan et al. {cite}`gururangan2020dont` showed that
# continuing a pretrained model's own objective on unlabelled text of the target domain
# ("domain-adaptive pretraining") before fine-tuning improves results on tasks of that
# domain. `transfer.continue_pretraining` tries this with the book's RTD loss and `fit`
# loop:

# %% tags=["hide-input"]
source(transfer.continue_pretraining)

# %%
# noisy sentences of unlabelled target-domain text (not the test sentences)
N_UNLABELLED = P.n(2000)
more = synth.ner_splits(P.seed, n_train=len(english_train["train"]) + N_UNLABELLED,
                        n_val=0, n_test=0)["train"]
unlabelled = transfer.as_documents(
    transfer.noisy_domain(more[-N_UNLABELLED:], seed=P.seed + 1))
DAPT_STEPS = P.n(100)
t0 = time.perf_counter()
adapted_pair, dapt_history = transfer.continue_pretraining(
    zoo.electra_pair(P), tok, unlabelled, steps=DAPT_STEPS, device=P.device)
dapt_tagger = finetune(adapted_pair.discriminator.to(P.device), tok)
glue("dapt_seconds", time.perf_counter() - t0)
dapt_noisy, dapt_clean = (tag(dapt_tagger, tok, noisy_test),
                          tag(dapt_tagger, tok, english))
cmp_dapt = paired_f1(noisy_gold, noisy_preds, dapt_noisy)
cmp_dapt_clean = paired_f1(gold, grid_preds["English"], dapt_clean)
domain = pd.DataFrame({"clean test": [cmp_noise["f1_a"], cmp_dapt_clean["f1_b"]],
                       "noisy test": [cmp_noise["f1_b"], cmp_dapt["f1_b"]]},
                      index=["zoo encoder", f"+ {DAPT_STEPS} RTD steps on noisy text"])
display(domain.style.format("{:.3f}"))
for key, c in (("dapt", cmp_dapt), ("daptclean", cmp_dapt_clean)):
    glue(f"{key}_f1", c["f1_b"])
    glue(f"{key}_diff", c["diff"])
    glue(f"{key}_low", c["low"])
    glue(f"{key}_high", c["high"])
    glue(f"{key}_verdict", verdict(c))
glue("dapt_steps", DAPT_STEPS)
glue("recovered",
     "the shift itself cost nothing measurable here" if cmp_noise["high"] >= 0 else
     "so it shows no measurable recovery" if cmp_dapt["low"] <= 0 else
     f"that wins back {cmp_dapt['diff'] / -cmp_noise['diff']:.0%} of what the "
     "shift cost")
noisy_gain, clean_gain = cmp_dapt["low"] > 0, cmp_dapt_clean["low"] > 0
glue("dapt_reading", {
    (True, False): "This run shows the first pattern, a gain on the noisy test only.",
    (True, True): "This run gains on both, so the two cannot be told apart here.",
    (False, True): "This run shows the reverse, a gain on the clean test only, "
                   "which points to more pretraining rather than to the domain.",
    (False, False): "This run shows a gain beyond the noise on neither test.",
}[noisy_gain, clean_gain]);

# %% [markdown]
# After {glue:text}`dapt_steps:d` RTD steps on unlabelled noisy text and the same
# English fine-tuning ({glue:text}`dapt_seconds:.0f` s in all), the tagger scores
# {glue:text}`dapt_f1:.3f` on the noisy test, a change of {glue:text}`dapt_diff:+.3f`
# ({glue:text}`dapt_low:+.3f` to {glue:text}`dapt_high:+.3f`): {glue:text}`dapt_verdict`;
# {glue:text}`recovered`. On the clean test it changes by
# {glue:text}`daptclean_diff:+.3f` ({glue:text}`daptclean_low:+.3f` to
# {glue:text}`daptclean_high:+.3f`): {glue:text}`daptclean_verdict`. A gain on the noisy test
# without one on the clean test is what a *domain* effect looks like; a gain on both
# could be just more pretraining ({ref}`ch-09-ex2` separates the two).
# {glue:text}`dapt_reading`
#
# ## 5. Real languages
#
# On real languages the distances cannot be dialled; they can only be measured.
# `benchmarks/transfer_ner.py` fine-tunes a tagger on English WikiANN
# {cite}`pan2017cross,rahimi2019massively` and tags German, Dutch, French, Portuguese,
# Spanish and Chinese zero-shot, next to each language's own score, with subword overlap
# and the URIEL+ syntactic distance {cite}`littell2017uriel,khan2025urielplus` to English.
# Every language shares one WordPiece vocabulary, as in a multilingual model. Two
# encoders of the same small size are compared: a fresh one, with no pretraining at all,
# which measures what shared word pieces and names carry on their own; and one
# pretrained briefly with RTD on the unlabelled training text of all the languages
# mixed, a multilingual pretraining in miniature (a few minutes of CPU, nothing like
# multilingual BERT's). The distances, committed as a small table by
# `tools/uriel_distances.py`:

# %% tags=["hide-input"]
root = Path("..") if Path("../benchmarks").is_dir() else Path(".")
uriel_csv = root / "benchmarks" / "data" / "uriel_distances.csv"
if uriel_csv.exists():
    uriel = pd.read_csv(uriel_csv, comment="#").set_index("lang")
    display(uriel[["syntactic", "genetic", "geographic", "featural"]]
            .style.format("{:.3f}", na_rep="–"))
else:
    uriel = None  # e.g. in Colab: the table is not part of the installed package
    print("benchmarks/data/uriel_distances.csv is not here "
          "(it ships with the repository, not the package)")
bench = recorded("transfer_ner") or {}  # None in Colab, like the table above


def fmt_r(c):
    """A correlation record (r, low, high, n) as text."""
    if c["r"] is None:
        return "undefined"
    return f"{c['r']:+.2f} (95 % interval {c['low']:+.2f} to {c['high']:+.2f})"


if bench:  # two encoders, several seeds
    real = pd.DataFrame([
        {"target": r["target"],
         **{f"zero-shot F1, {arm}": r[f"zero_shot_{arm}"]["f1"] for arm in ("none", "rtd")},
         "in-language F1, rtd": (r["in_language_rtd"] or {}).get("f1", float("nan")),
         "subword overlap (token)": r["subword_token_overlap"],
         "URIEL+ syntactic": r["uriel_syntactic"]}
        for r in bench["per_target"]
    ]).set_index("target")
    # rtd - none per non-English test set: F1 difference and its 95 % interval
    diffs = [d for t, d in bench["rtd_minus_none"].items() if not t.endswith("-en")]
    c = bench["correlation"]
    real_text = (
        f"Over the benchmark's {c['none']['subword_token_overlap']['n']} non-English "
        f"test sets (each F1 a mean over {len(bench['budget']['seeds'])} fine-tuning "
        "seeds), the fresh encoder's zero-shot F1 correlates with subword token overlap "
        f"at {fmt_r(c['none']['subword_token_overlap'])} and with URIEL+ syntactic "
        f"distance at {fmt_r(c['none']['uriel_syntactic'])}; for the RTD-pretrained "
        f"encoder at {fmt_r(c['rtd']['subword_token_overlap'])} and "
        f"{fmt_r(c['rtd']['uriel_syntactic'])}. Against the fresh encoder, "
        f"{bench['pretrain']['steps']:,} steps of pretraining raised zero-shot F1 beyond "
        f"the noise on {sum(d['low'] > 0 for d in diffs)} of the {len(diffs)} test sets "
        f"and lowered it on {sum(d['high'] < 0 for d in diffs)} "
        + ("(the book's rule, `rmdlib.compare`)." if all(d.get("seed_spread") for d in diffs) else
           "(paired bootstrap over the test sentences only: the rule of the rmdlib release that "
           "recorded this run, so the spread between the seeds is not in these intervals, and "
           "the book's rule would draw them wider)."))
else:
    real = None
    real_text = ("The benchmark's results are not here (they ship with the repository, "
                 "not the package): run `benchmarks/transfer_ner.py`.")
if real is not None:
    display(real.style.format("{:.3f}", na_rep="–"))
if bench:
    real_text += (" With so few points, some of them the same language in two corpora, "
                  "these correlations describe this run; they test nothing.")
glue("real_text", real_text, markdown=True);

# %% [markdown]
# {glue:md}`real_text`
#
# `benchmarks/README.md` has the full tables, the in-language scores and the
# cross-domain CoNLL-2003 ↔ WikiANN runs.
#
# In the colab profile the next cell runs the real experiment with a multilingual
# encoder, `bert-base-multilingual-cased` at the revision pinned in `rmdlib.hub`:
# fine-tuned on English WikiANN, zero-shot on German, Dutch, French and Portuguese (the
# WikiANN splits registered in `rmdlib.data`). XTREME {cite}`hu2020xtreme` includes the
# same task, WikiANN NER fine-tuned on English and tested zero-shot, over many more
# languages. This book quotes none of XTREME's numbers: they could not be checked
# against the paper's tables where the book was written. Compare your run with the
# paper's own NER results table, and mind the differences in setup (one epoch here, the
# first {glue:text}`m_test_n:d` test sentences of each language).

# %%
MBERT = "bert-base-multilingual-cased"  # pinned in rmdlib.hub.MODELS
M_TEST = P.n(500)  # test sentences per language
glue("m_test_n", M_TEST)
if P.encoder is not None:  # colab / full profile: a GPU and the Hub
    from transformers import AutoTokenizer

    print(f"{MBERT} at revision {hub.revision(MBERT)}")
    m_tok = AutoTokenizer.from_pretrained(MBERT, revision=hub.revision(MBERT))
    # registered WikiANN splits, each at its pinned revision (rmdlib.data.REGISTRY)
    wiki = {lang: data.load_ner(f"wikiann-{lang}")
            for lang in ("en", "de", "nl", "fr", "pt")}
    torch.manual_seed(P.seed)
    m_tagger, _ = finetune_tagger(
        models.build_encoder(MBERT).to(P.device),
        DatasetDict(train=wiki["en"]["train"]), m_tok,
        # P.n(80) steps: one pass over the 20,000 sentences at the colab scale
        TrainConfig(lr=3e-5, max_steps=P.n(80), warmup_ratio=0.1, seed=P.seed), TAGGING,
        device=P.device,
    )
    m_rows = []
    for lang, ds in wiki.items():
        test = ds["test"].select(range(M_TEST))
        tags = [[data.WIKIANN_LABELS[t] for t in row] for row in test["ner_tags"]]
        test = list(zip(test["tokens"], tags))
        m_rows.append({
            "language": lang,
            "zero-shot F1": f1(test, tag(m_tagger.eval(), m_tok, test)),
            "subword overlap (token)": transfer.subword_overlap(
                m_tok, wiki["en"]["train"]["tokens"][:5000], test,
            )["token"],
            "URIEL+ syntactic": (0.0 if lang == "en" else float("nan") if uriel is None
                                 else uriel.loc[lang, "syntactic"]),
        })
    display(pd.DataFrame(m_rows).set_index("language").style.format("{:.3f}"))
else:
    print("offline profile: the multilingual encoder needs the Hub and a GPU "
          "(RMD_PROFILE=colab)")

# %% [markdown]
# ## Exercises
#
# ```{exercise} ★★ · 25 min
# :label: ch-09-ex1
# Section 2 changed the script of every word, names included. Predict what happens if
# only the plain words change script and the names stay in Latin letters, then measure
# it: build the test set with `vocab_share=1.0` and compare with the "100% replaced"
# row. What does the comparison isolate?
# ```
#
# ````{solution} ch-09-ex1
# :class: dropdown
# Invented words in Latin letters and plain words in Greek letters are equally unknown
# to an English-only tokenizer at the word level, but the Latin invented words still
# break into known pieces, and the names are untouched in both. The comparison isolates
# what the *pieces* of the context words contribute once the words themselves are new.
# One way to build it: derive with `vocab_share=1.0`, then transliterate only the words
# whose tag is O with `str.translate` and the Greek table. In this run the "100% replaced"
# language scored {glue:text}`f1_100:.3f` and the fully Greek one {glue:text}`f1_greek:.3f`,
# so the answer must lie between them if names carry most of the transfer.
# ````
#
# ```{exercise} ★★ · 20 min
# :label: ch-09-ex2
# Section 4 cannot tell a domain effect from "more pretraining of any kind". Design the
# control, predict its outcome and say what result would show that the *noisy* text,
# not the extra steps, made the difference.
# ```
#
# ````{solution} ch-09-ex2
# :class: dropdown
# Run `transfer.continue_pretraining` for the same {glue:text}`dapt_steps:d` steps on the
# same number of *clean* sentences (`transfer.as_documents(more[-N_UNLABELLED:])`),
# fine-tune with the same recipe, and tag both test sets. A domain effect shows as a gain
# on the noisy test for the noisy-text run that the clean-text run does not get, with the
# paired interval of their difference above 0; equal gains mean the steps, not the domain,
# did the work. In this run the noisy-text run changed noisy F1 by
# {glue:text}`dapt_diff:+.3f` and clean F1 by {glue:text}`daptclean_diff:+.3f`.
# ````
#
# ```{exercise} ★★ · 15 min
# :label: ch-09-ex3
# Subword overlap by *type* and by *token* can disagree. Construct two target texts
# for which type overlap with a source is equal but token overlap differs widely, and
# say which of the two you expect to predict transfer better, and why.
# ```
#
# ````{solution} ch-09-ex3
# :class: dropdown
# Let the source have the types {a, b, c, d}. Target 1 is "a a a a a a a a x y"; target 2
# is "a x x x x x x x x y". Both share one type of the five in the union (type overlap
# 0.2), but 80 % of target 1's running words are shared and only 10 % of target 2's
# (token overlap 0.8 against 0.1). Token overlap weighs each shared piece by how often the
# target uses it, which is closer to how much of a test sentence the model reads in
# familiar pieces; it is the better first guess for transfer, although neither counts
# whether a shared piece means the same thing in both languages. `transfer.overlap` on
# two `Counter`s checks the arithmetic.
# ````
#
# ## Summary
#
# * Distances first, without the model: word and subword overlap (type and token),
#   word-order distance, and for real languages typological distance (URIEL+).
# * Without shared pretraining, the tagger can only use what the languages share. Here
#   replacing every plain word moved F1 by {glue:text}`cmp_100_diff:+.3f`, reversing the
#   order by {glue:text}`cmp_reversed_diff:+.3f`, and a new script by
#   {glue:text}`cmp_greek_diff:+.3f`.
# * For bilingual BERTs, K et al. found lexical overlap negligible and depth integral to
#   transfer {cite}`k2020cross`. In this miniature, adding the derived language to
#   pretraining changed zero-shot F1 on it by {glue:text}`bi_diff:+.3f`,
#   {glue:text}`bi_verdict`.
# * A domain shift changed F1 by {glue:text}`noise_diff:+.3f`; {glue:text}`dapt_steps:d`
#   steps of domain-adaptive RTD pretraining changed the noisy-text F1 by
#   {glue:text}`dapt_diff:+.3f`, {glue:text}`dapt_verdict`.
# * On real languages, zero-shot F1 and the distances can only be set side by side over
#   a handful of test sets (section 5): a description, not a test.
# * Every comparison of sections 2 to 4 is paired over the same test sentences with a
#   bootstrap interval; with one seed per arm it does not include the variation between
#   training runs, so small differences deserve the caution the intervals suggest and more.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("09_transfer")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`k2020cross` and {cite:t}`dufter2020identifying` for
# bilingual laboratories with a fake language, {cite:t}`pires2019how` and
# {cite:t}`wu2019beto` for zero-shot transfer of multilingual BERT and the role of
# overlap, {cite:t}`gururangan2020dont` for domain-adaptive pretraining,
# {cite:t}`hu2020xtreme` for the XTREME benchmark, {cite:t}`pan2017cross` and
# {cite:t}`rahimi2019massively` for WikiANN, and {cite:t}`littell2017uriel` and
# {cite:t}`khan2025urielplus` for URIEL and URIEL+.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
