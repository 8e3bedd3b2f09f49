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
# (ch-01)=
# # 1. From language models to replaced token detection
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. write the training objective of an {term}`autoregressive language model`, of a
#    {term}`masked language modeling` encoder and of {term}`replaced token detection`, and
#    say which positions of a sentence carry a loss under each;
# 2. explain {term}`next-sentence prediction`, read the RoBERTa ablation that removed it,
#    and say why ELECTRA trains without it;
# 3. write {term}`self-attention` in one formula, check it against PyTorch, and say how
#    a {term}`causal mask` turns a bidirectional encoder into a left-to-right model;
# 4. run one corruption step of ELECTRA with `rmdlib` on real text and read what a
#    small pretrained discriminator gets right and wrong.
# :::
#
# What the chapter assumes (the Transformer block, tokenizers, PyTorch basics) is in
# {ref}`app-prerequisites`.
#
# **Time:** about 45 minutes to read and run; the code ran in
# {glue:text}`run_minutes:.1f` minutes when this page was built (the run card below
# names the profile and the machine). The first run also pretrains the small
# model of `rmdlib.zoo` that chapters 3 to 9 reuse, which took
# {glue:text}`pretrain_minutes:.1f` minutes when the cached copy used here was made.

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
from rmdlib.report import glue, run_card

P = rmdlib.setup(seed=0)
glue("run_card", run_card(P), markdown=True);

# %% [markdown]
# {glue:md}`run_card`
#
# ## 1. One sentence, three ways to learn from it
#
# {term}`Pretraining` turns unlabeled text into a training signal by hiding or
# changing part of the input and asking a network to recover what was there. The
# three families this course compares differ only in *what* is hidden and *what* the
# network must say about it. To keep them side by side we follow one sentence
# through the whole chapter.
#
# The sentence comes from the {term}`micro-world`, the synthetic English-like text
# that `rmdlib.synth` writes for the offline profile, from the sentences of its NER
# training split. The WordPiece {term}`tokenizer` and the small generator/discriminator
# pair come from `rmdlib.zoo`, which in the offline profile trains both on micro-world
# documents the first time they are asked for and caches them (chapter 3 shows how that
# pretraining works; the colab profile loads Google's ELECTRA-Small pair instead). The
# NER sentences are drawn from another random stream than the pretraining documents, so
# the model has not read them, but their words and names come from the same lists as
# the text it was pretrained on. Section 4 also scores the test split, where about half
# of the entity mentions are built from name parts the model has never seen.

# %%
import html
import inspect
import math
from dataclasses import asdict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import HTML, Code, display

from rmdlib import rtd, synth, zoo
from rmdlib.compare import Comparison, paired_bootstrap

tok = zoo.tokenizer(P)  # WordPiece, trained on the micro-world
# generator + discriminator pretrained with RTD; eval(): no dropout
pair = zoo.electra_pair(P).eval()
device = next(pair.parameters()).device

splits = synth.ner_splits(seed=P.seed, n_train=P.n(500), n_val=0, n_test=P.n(500))
# (words, tags) pairs: not in the pretraining text, same names
heldout = splits["train"]
# about half of the entity mentions use never-seen name parts
new_names = splits["test"]
DEMO_ROWS = 6  # sentences shown token by token in section 4
EXAMPLE = 1  # the running example: the second held-out sentence
example_words = heldout[EXAMPLE][0]
print(" ".join(example_words))
glue("example_text", " ".join(example_words))
glue("n_heldout", len(heldout))
# the masking rates, for the prose
for name, rates in (("", rtd.ELECTRA_MASKING), ("bert_", rtd.BERT_MASKING)):
    glue(f"{name}mask_frac", rates.mask_frac)
    glue(f"{name}random_frac", rates.random_frac)
    glue(f"{name}kept_frac", 1 - rates.mask_frac - rates.random_frac)
glue("mask_prob", rtd.ELECTRA_MASKING.mask_prob)
glue("unpicked", 1 - rtd.ELECTRA_MASKING.mask_prob)
glue("lam", inspect.signature(rtd.rtd_step).parameters["disc_weight"].default);


# %% tags=["remove-cell"]
# The time claim under "Time:" above, from the run: the cache records how long its
# pretraining took (on a cache hit, the run that made it).
if P.encoder is None:
    made = zoo.cached_pretrain(zoo.PRETRAIN, tok, zoo.pretraining_texts(P), device=P.device)
    glue("pretrain_minutes", made.seconds / 60)
else:
    glue("pretrain_minutes", float("nan"))

# %% [markdown]
# The running example, with its {glue:text}`n_words_example:d` words separated by spaces as
# the micro-world's data stores them, is “{glue:text}`example_text`”. The tokenizer splits it into
# WordPiece {term}`subword` tokens and adds BERT's special tokens `[CLS]` in front and
# `[SEP]` at the end:

# %%
enc_example = tok(example_words, is_split_into_words=True)
example_tokens = tok.convert_ids_to_tokens(enc_example["input_ids"])
T_example = len(example_tokens)
with pd.option_context("display.max_columns", None):
    display(pd.DataFrame({"token": example_tokens, "id": enc_example["input_ids"]}).T)
glue("T_example", T_example)
glue("n_words_example", len(example_words))
glue("left_word", example_words[3])  # two words of the example, for the prose
glue("right_word", example_words[5]);

# %% [markdown]
# The words become $T$ = {glue:text}`T_example:d` tokens,
# counting `[CLS]` and `[SEP]`. Write them $x_1, \dots, x_T$.
#
# ### 1.1 Autoregressive: predict every token from the ones before it
#
# A left-to-right language model such as GPT {cite}`radford2018improving` factorises
# the probability of the sequence by the chain rule and is trained to maximise it:
#
# $$
# \begin{aligned}
# \log p(x_2, \dots, x_T \mid x_1) &= \sum_{t=2}^{T} \log p\bigl(x_t \mid x_1, \dots, x_{t-1}\bigr),\\
# \mathcal{L}_\text{AR} &= -\frac{1}{T-1}\sum_{t=2}^{T} \log p\bigl(x_t \mid x_{<t}\bigr).
# \end{aligned}
# $$
#
# Every token after the first is a target, so the loss has a term at almost every
# position. The price is that the representation of position $t$ may look only to
# the left: when the model reads *{glue:text}`left_word`* it has not seen
# *{glue:text}`right_word`* yet. For a
# tagger that must decide whether a word starts a name, the right context is often
# what matters. On our sentence the factorisation reads:

# %%
factors = [f"p({example_tokens[t]} | {' '.join(example_tokens[:t])})"
           for t in range(1, T_example)]
print(" ·\n".join(factors[:4] + ["…", factors[-1]]))
ar_positions = len(factors)  # targets x_2 .. x_T
glue("ar_positions", ar_positions);

# %% [markdown]
# ### 1.2 Autoencoding: hide some tokens, predict them from both sides
#
# BERT {cite}`devlin2019bert`, an {term}`autoencoding language model`, removes the
# left-to-right restriction. It picks a random set $M$ of positions
# ({glue:text}`mask_prob:.0%` of the tokens), hides them, and predicts each hidden token from the whole corrupted
# sequence $\tilde x$, left *and* right:
#
# $$
# \mathcal{L}_\text{MLM} = -\frac{1}{|M|}\sum_{i \in M} \log p\bigl(x_i \mid \tilde x\bigr).
# $$
#
# The representation is now bidirectional, but only the positions in $M$ give a loss;
# the other {glue:text}`unpicked:.0%` of the sequence is read and never predicted. `rmdlib.rtd.mask_tokens`
# implements the masking. Its docstring states the rates ELECTRA uses, which differ
# slightly from BERT's: of the picked tokens, {glue:text}`mask_frac:.0%` are shown as
# `[MASK]`, {glue:text}`kept_frac:.0%` are left unchanged and {glue:text}`random_frac:.0%`
# are replaced by a random token (BERT: {glue:text}`bert_mask_frac:.0%` `[MASK]`,
# {glue:text}`bert_kept_frac:.0%` unchanged, {glue:text}`bert_random_frac:.0%` random).

# %% tags=["hide-input"]
Code(inspect.getsource(rtd.mask_tokens), language="python")

# %% [markdown]
# This is {term}`dynamic masking`: the positions are drawn anew each time a sequence is
# used, from an explicit `torch.Generator`, so the run is still reproducible. We corrupt the first
# {glue:text}`demo_rows:d` held-out sentences in one batch (our example is the second
# row); section 4 shows all of them. The helper below is the whole corruption step of
# ELECTRA, one library function per line, exactly as pretraining calls them.

# %%
@torch.no_grad()
def corrupt(words_batch, generator):
    """One RTD corruption step on a batch of word lists, one sentence per row."""
    enc = tok(words_batch, is_split_into_words=True, padding=True,
              return_special_tokens_mask=True, return_tensors="pt").to(device)
    # (B, T) [CLS], [SEP], [PAD]: never picked
    special = enc["special_tokens_mask"].bool()
    return corrupt_ids(enc["input_ids"], enc["attention_mask"], special, generator)


@torch.no_grad()
def corrupt_ids(ids, attn, special, generator):
    """Mask, sample, replace, discriminate: ids, attn, special are (B, T)."""
    masked = rtd.mask_tokens(ids, special, mask_token_id=tok.mask_token_id,
                             attention_mask=attn, generator=generator,
                             **asdict(rtd.ELECTRA_MASKING))
    gen_logits = pair.generator(input_ids=masked.masked_ids,
                                attention_mask=attn).logits  # (B, T, V)
    sampled = ids.clone()
    sampled[masked.selected] = rtd.gumbel_sample(gen_logits[masked.selected],
                                                 generator=generator)  # (S,)
    corrupted, disc_labels = rtd.replace_tokens(ids, masked, sampled)  # (B, T) each
    disc_logits = pair.discriminator(input_ids=corrupted,
                                     attention_mask=attn).logits  # (B, T)
    return dict(ids=ids, attn=attn, special=special, masked=masked,
                gen_logits=gen_logits, corrupted=corrupted,
                disc_labels=disc_labels, disc_logits=disc_logits)


demo = corrupt([w for w, _ in heldout[:DEMO_ROWS]],
               torch.Generator(device=device).manual_seed(P.seed))

# The same seed through the library's one-call training step gives the same corruption:
# the demo shows exactly what pretraining sees.
batch = {"input_ids": demo["ids"], "attention_mask": demo["attn"],
         "special_tokens_mask": demo["special"]}
with torch.no_grad():
    step = rtd.rtd_step(pair, batch, mask_token_id=tok.mask_token_id,
                        special_ids=tok.all_special_ids,
                        generator=torch.Generator(device=device).manual_seed(P.seed))
assert (torch.equal(step.corrupted_ids, demo["corrupted"])
        and torch.equal(step.disc_logits, demo["disc_logits"]))

ex = {k: v[EXAMPLE, : T_example] for k, v in demo.items()
      if k not in ("masked", "gen_logits")}
# (T,) the picked positions M
ex_selected = demo["masked"].selected[EXAMPLE, :T_example]
ex_masked_ids = demo["masked"].masked_ids[EXAMPLE, :T_example]
# padding only ever follows the sentence
assert tok.convert_ids_to_tokens(ex["ids"]) == example_tokens
print("masked: ", " ".join(tok.convert_ids_to_tokens(ex_masked_ids)))
mlm_positions = int(ex_selected.sum())
glue("demo_rows", DEMO_ROWS)
glue("mlm_positions", mlm_positions);

# %% [markdown]
# On the example, $|M|$ = {glue:text}`mlm_positions:d` of the
# {glue:text}`T_example:d` positions carry a masked-LM loss:
# round({glue:text}`mask_prob:.0%` × $T$), with
# `[CLS]` and `[SEP]` never picked. (A picked token that is left unchanged still
# counts; the model must predict it without knowing it was picked.)
#
# ### 1.3 Replaced token detection: a verdict for every token
#
# ELECTRA {cite}`clark2020electra` keeps the bidirectional encoder and gives every
# position a target. A small masked LM, the {term}`generator`, fills each masked
# position with a token *sampled* from its prediction. The {term}`discriminator`, the
# network we keep, reads the result $x^\text{corrupt}$ and decides for each token
# whether it is the original or a replacement:
#
# $$
# y_t = \mathbb{1}\bigl[x^\text{corrupt}_t \neq x_t\bigr], \qquad
# \mathcal{L}_\text{Disc} = -\frac{1}{T}\sum_{t=1}^{T} \Bigl(y_t \log D_t + (1 - y_t)\log\bigl(1 - D_t\bigr)\Bigr),
# $$
#
# where $D_t$ is the discriminator's probability that token $t$ was replaced. A sample
# that happens to equal the original counts as original ($y_t = 0$): nothing in the
# input could reveal that it was ever picked. The two networks are trained together on
# $\mathcal{L}_\text{MLM} + \lambda\,\mathcal{L}_\text{Disc}$ (chapter 2 derives both
# terms and the weight $\lambda$ = {glue:text}`lam:.0f`).
#
# :::{admonition} A common mistake
# :class: warning
# "Replaced token detection" names ELECTRA's discriminator objective: decide, for every
# token of a corrupted sentence, whether it is the original or a generator's
# replacement. It is not a method that finds markers in a text and replaces them, as the
# Chinese rendering 替换标记检测 is sometimes read: 标记 there translates *token*, which
# this book writes 词元 ({term}`replaced token detection`, 替换词元检测, in the
# glossary). The discriminator replaces nothing; the generator replaces, the
# discriminator only detects.
# :::

# %%
ex_replaced = int(ex["disc_labels"].sum())
ex_same = mlm_positions - ex_replaced  # picked, but the sample equals the original
rtd_positions = int(ex["attn"].sum())  # every non-pad token has a discriminator label
print("corrupt:", " ".join(tok.convert_ids_to_tokens(ex["corrupted"])))
print("labels: ", ex["disc_labels"].tolist())
objectives = pd.DataFrame(
    {"reads": ["x_1 … x_{t-1} (left context)", "the masked sequence",
               "the corrupted sequence"],
     "predicts": ["the next token", "the original token at each masked position",
                  "replaced or original, every token"],
     "positions with a loss": [ar_positions, mlm_positions, rtd_positions]},
    index=["autoregressive (GPT)", "masked LM (BERT)",
           "replaced token detection (ELECTRA)"])
display(objectives)
glue("rtd_positions", rtd_positions)
glue("ex_replaced", ex_replaced)
glue("ex_same", ex_same)
glue("rtd_over_mlm", rtd_positions / mlm_positions);

# %% [markdown]
# On the example the generator's samples replaced {glue:text}`ex_replaced:d` of the
# {glue:text}`mlm_positions:d` picked tokens and reproduced the original at
# {glue:text}`ex_same:d`. The discriminator has a label at all
# {glue:text}`rtd_positions:d` positions, {glue:text}`rtd_over_mlm:.1f` times as
# many as the masked LM, while its encoder still reads both directions. The figure
# shows where each objective has a loss term on this sentence.

# %% tags=["hide-input"]
def loss_grid(ax, tokens, rows):
    """Draw one row per objective; a filled cell is a position with a loss term, its text the target."""
    for r, (name, cells) in enumerate(rows):
        for t, (color, text) in enumerate(cells):
            ax.add_patch(plt.Rectangle((t, -r - 1), 1, 1, facecolor=color, edgecolor="white", lw=2))
            ax.text(t + 0.5, -r - 0.5, text, ha="center", va="center", fontsize=7, rotation=90)
        ax.text(-0.3, -r - 0.5, name, ha="right", va="center", fontsize=9)
    ax.set_xlim(0, len(tokens))
    ax.set_ylim(-len(rows), 0)
    ax.set_xticks(np.arange(len(tokens)) + 0.5, tokens, rotation=60, ha="right", fontsize=8)
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    return ax


NONE, TARGET, REPLACED = "#eeeeee", "#9ecae1", "#e6550d"
orig = example_tokens
corr = tok.convert_ids_to_tokens(ex["corrupted"])
ar_row = [(NONE, "")] + [(TARGET, orig[t]) for t in range(1, T_example)]
mlm_row = [(TARGET, orig[t]) if ex_selected[t] else (NONE, "") for t in range(T_example)]
rtd_row = [(REPLACED, f"1: {corr[t]}") if ex["disc_labels"][t] else (TARGET, "0") for t in range(T_example)]
fig, ax = plt.subplots(figsize=(12, 3.4))
loss_grid(ax, orig, [("autoregressive", ar_row), ("masked LM", mlm_row), ("RTD (discriminator)", rtd_row)])
ax.set_title("Positions with a loss term on the running example (cell text = target; orange = replaced)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Next-sentence prediction, and why RoBERTa and ELECTRA dropped it
#
# BERT was pretrained with a second, sentence-level task besides masked language
# modeling {cite}`devlin2019bert`. Each input packs two segments A and B as
# `[CLS] A [SEP] B [SEP]`, with segment (token-type) ids 0 and 1; half of the time B
# is the text that follows A in the corpus (*IsNext*), half of the time a random
# segment from another document (*NotNext*). A binary classifier on the `[CLS]`
# position learns to tell the two apart: {term}`next-sentence prediction` (NSP). The
# motivation was tasks that compare two texts, such as question answering and natural
# language inference. Our tokenizer builds such pairs from two consecutive sentences
# of a held-out micro-world document and from a sentence of another document:

# %%
def sentences(doc):
    """The sentences of an SbdDoc, cut at its sentence ends."""
    starts = [0, *doc.sentence_ends[:-1]]
    return [doc.text[a:b].strip() for a, b in zip(starts, doc.sentence_ends)]


docs = synth.sbd_splits(seed=P.seed, n_train=0, n_val=0, n_test=2)["test"]
first, other = sentences(docs[0]), sentences(docs[1])
nsp_pairs = {"IsNext": (first[-2], first[-1]), "NotNext": (first[-2], other[-1])}


def segment_spans(a, b):
    """HTML of a tokenized pair, each token colored by its segment (token-type) id."""
    enc = tok(a, b, return_token_type_ids=True)
    colors = ("#deebf7", "#fdd0a2")  # segment A, segment B
    return " ".join(
        f'<span style="background:{colors[s]};padding:1px 3px;border-radius:3px">'
        f'{html.escape(t)}</span>'
        for t, s in zip(tok.convert_ids_to_tokens(enc["input_ids"]),
                        enc["token_type_ids"]))


display(HTML("".join(f"<p><b>{label}</b>: {segment_spans(a, b)}</p>"
                     for label, (a, b) in nsp_pairs.items())))

# %% [markdown]
# NSP was believed to matter: Devlin et al. reported that removing it hurt QNLI, MNLI
# and SQuAD 1.1. RoBERTa {cite}`liu2019roberta` revisited the question and noticed
# that BERT's ablation had removed the loss but kept the two-segment input. It
# compared four input formats with the same base model, data (BookCorpus and
# Wikipedia), 1M steps and batch size 256: two with NSP (pairs of multi-sentence
# segments, as in BERT, or pairs of single sentences) and two without (inputs packed
# with full sentences up to 512 tokens, allowed to cross document boundaries or not).
# The table below is **quoted from Liu et al. (2019), Table 2**: these are the
# paper's development-set numbers (medians over five random seeds; F1 for SQuAD,
# accuracy for the others), not numbers from this book's run.

# %%
# Quoted from Liu et al. (2019), arXiv:1907.11692, Table 2 (development sets);
# not computed here.
roberta_table2 = pd.DataFrame(
    [("SEGMENT-PAIR", "yes", 90.4, 78.7, 84.0, 92.9, 64.2),
     ("SENTENCE-PAIR", "yes", 88.7, 76.2, 82.9, 92.1, 63.0),
     ("FULL-SENTENCES", "no", 90.4, 79.1, 84.7, 92.5, 64.8),
     ("DOC-SENTENCES", "no", 90.6, 79.7, 84.7, 92.7, 65.6)],
    columns=["input format", "NSP loss", "SQuAD 1.1 F1", "SQuAD 2.0 F1",
             "MNLI-m acc.", "SST-2 acc.", "RACE acc."],
).set_index("input format")
scores = roberta_table2.drop(columns="NSP loss")
# points vs BERT's format
delta = (scores - scores.loc["SEGMENT-PAIR"]).drop(index="SEGMENT-PAIR").round(1)
display(roberta_table2.style.format(precision=1)
        .set_caption("Quoted from Liu et al. (2019), Table 2"))
display(delta.style.format("{:+.1f}")
        .set_caption("Difference to SEGMENT-PAIR + NSP, "
                     "computed from the quoted table"))
# float(): glue needs plain numbers
glue("sent_pair_worst", float(delta.loc["SENTENCE-PAIR"].min()))
glue("sent_pair_best", float(delta.loc["SENTENCE-PAIR"].max()))
glue("full_min", float(delta.loc["FULL-SENTENCES"].min()))
glue("full_max", float(delta.loc["FULL-SENTENCES"].max()))
glue("doc_squad2", float(delta.loc["DOC-SENTENCES", "SQuAD 2.0 F1"]))
glue("doc_race", float(delta.loc["DOC-SENTENCES", "RACE acc."]))
glue("doc_sst2", float(delta.loc["DOC-SENTENCES", "SST-2 acc."]))
glue("nsp_free_max",
     float(delta.loc[["FULL-SENTENCES", "DOC-SENTENCES"]].abs().max().max()));

# %% [markdown]
# Three readings of the quoted numbers:
#
# * Keeping NSP but shrinking the segments to single sentences changes every score by
#   between {glue:text}`sent_pair_best:+.1f` and {glue:text}`sent_pair_worst:+.1f` points:
#   short inputs hurt, which the authors attribute to the model not learning long-range
#   dependencies.
# * Removing NSP and packing full sentences changes the five scores by
#   {glue:text}`full_min:+.1f` to {glue:text}`full_max:+.1f` points; staying inside one
#   document (DOC-SENTENCES) gives {glue:text}`doc_squad2:+.1f` F1 on SQuAD 2.0 and
#   {glue:text}`doc_race:+.1f` on RACE, and {glue:text}`doc_sst2:+.1f` on SST-2. In the
#   authors' words, removing the NSP loss "matches or slightly improves downstream task
#   performance". RoBERTa trains on FULL-SENTENCES without NSP, because DOC-SENTENCES
#   makes the batch size vary.
# * The comparison changes two things at once, the loss and the input format, and the
#   differences, medians of five seeds, are at most {glue:text}`nsp_free_max:.1f`
#   points. The table shows that NSP
#   is not needed; it does not show that NSP harms.
#
# ELECTRA draws the conclusion for RTD. Its pretraining details (appendix A) state that
# it does not use the next-sentence objective, "as recent work has suggested it does not
# improve scores", citing RoBERTa among others {cite}`clark2020electra`. There is also a
# structural reason: RTD already gives every token, `[CLS]` included, a label, so
# there is no position that needs an extra task to be trained. In the micro-world, NSP
# would moreover be nearly unlearnable: `rmdlib.synth` draws the sentences of a
# document independently of each other, so an *IsNext* pair is hardly distinguishable
# from a *NotNext* one. The pretraining in this book therefore uses RTD alone.
#
# :::{admonition} A common mistake
# :class: warning
# Removing next-sentence prediction has nothing to do with autoregression. NSP is an
# extra sentence-level loss on the `[CLS]` position; RoBERTa without it is still a
# masked LM that reads both sides, and ELECTRA still a bidirectional discriminator. A
# model is autoregressive when it factorises the text left to right and reads it through
# a causal mask (section 3), which neither uses. Nor is connectionist temporal
# classification (CTC) an autoencoding language model: CTC {cite}`graves2006ctc` is a
# loss that aligns a short label sequence with a longer unsegmented input (speech
# frames, handwriting) by summing over all alignments. It neither hides part of the
# input nor reconstructs it.
# :::
#
# ## 3. Self-attention in one formula
#
# All three objectives train the same kind of network, a Transformer
# {cite}`vaswani2017attention`; what separates GPT from BERT and ELECTRA inside the
# network is one mask. Each layer turns the $T$ token vectors $X \in \mathbb{R}^{T \times D}$
# into queries, keys and values, $Q = XW^Q$, $K = XW^K$, $V = XW^V$ (each $T \times d$),
# and mixes the values with weights given by query–key similarity:
#
# $$
# \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Bigl(\frac{QK^\top}{\sqrt{d}} + M\Bigr)\,V .
# $$
#
# The softmax runs over each row, so output $t$ is a weighted mean of all value vectors.
# The division by $\sqrt{d}$ keeps the dot products from growing with the width and
# saturating the softmax. In an encoder (BERT, ELECTRA) the mask $M$ is zero
# (apart from $-\infty$ at padding): every token attends to both sides. In an
# autoregressive model, $M_{ts} = -\infty$ for $s > t$, the {term}`causal mask`, so the
# prediction of $x_{t+1}$ cannot peek at it. Multi-head attention runs several such
# maps with smaller $d$ in parallel and concatenates them. The formula in ten lines,
# checked against PyTorch's fused implementation at the running example's length:

# %%
g = torch.Generator().manual_seed(P.seed)
T, d = T_example, 16  # sequence length of the running example; a small head width
# (T, D) token vectors, D = d here
X = torch.randn(T, d, generator=g, dtype=torch.float64)
W_q, W_k, W_v = (torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
                 for _ in range(3))
Q, K, V = X @ W_q, X @ W_k, X @ W_v  # (T, d) each
# M_ts = -inf for s > t
causal = torch.full((T, T), -math.inf, dtype=torch.float64).triu(1)
ours = torch.softmax(Q @ K.T / math.sqrt(d), dim=-1) @ V  # (T, d) bidirectional
# (T, d) left-to-right
ours_causal = torch.softmax(Q @ K.T / math.sqrt(d) + causal, dim=-1) @ V
ref = F.scaled_dot_product_attention(Q[None], K[None], V[None])[0]
ref_causal = F.scaled_dot_product_attention(Q[None], K[None], V[None],
                                            is_causal=True)[0]
attn_diff = max((ours - ref).abs().max().item(),
                (ours_causal - ref_causal).abs().max().item())
assert torch.allclose(ours, ref) and torch.allclose(ours_causal, ref_causal)
print(f"max |formula - F.scaled_dot_product_attention| = {attn_diff:.1e}")
glue("attn_diff", attn_diff)
glue("attn_d", d);

# %% [markdown]
# Both versions agree with `torch.nn.functional.scaled_dot_product_attention` to
# {glue:text}`attn_diff:.1e` (in float64). The first row of the causal output depends on
# $x_1$ only, its last row on all $T$ tokens; in the bidirectional one every row depends
# on all of them, which is why a masked LM or a discriminator can use
# *{glue:text}`right_word`* when it reads *{glue:text}`left_word`*.
#
# ## 4. A live corruption demo
#
# Now the {glue:text}`demo_rows:d` held-out sentences from section 1, each shown four times: the
# original; what the generator sees (grey `[MASK]`, and picked tokens left unchanged
# outlined); what the discriminator sees (a replacement in red, a sample that happens
# to equal the original in green); and the discriminator's verdict: each token shaded
# by its probability of "replaced" (darker is more likely; the number is in the
# tooltip), in bold where that probability exceeds one half, and outlined where the
# token really was replaced. A working discriminator puts the dark shades inside the
# outlines.

# %%
STYLE = {
    "[MASK]": "background:#d9d9d9",  # shown as [MASK]
    "picked, unchanged": "outline:1px dashed #636363",  # picked but shown unchanged
    # the sample differs from the original
    "replaced": "background:#fcbba1;color:#a50f15",
    # picked, and the sample equals the original
    "sample = original": "background:#c7e9c0;color:#00441b",
    "really replaced": "outline:2px solid #a50f15",  # discriminator row: the truth
    "P(replaced) > 1/2": "font-weight:bold",  # discriminator row: flagged
}


def heat(p):
    """Background shade for a probability p of "replaced": white at 0, red at 1."""
    return f"background:rgba(222,45,38,{float(p):.2f})"


def span(token, style="", title=""):
    style = (f"{style};padding:1px 3px;margin:1px;border-radius:3px;"
             "display:inline-block;font-family:monospace")
    return (f'<span style="{style}" title="{html.escape(title)}">'
            f'{html.escape(token)}</span>')


def demo_rows(out, b):
    """Four HTML rows for sentence b of a corrupt() result; special tokens are
    hidden."""
    keep = ~out["special"][b]  # (T,) the sentence's own tokens
    ids, sel = out["ids"][b][keep], out["masked"].selected[b][keep]
    shown, corrupted = out["masked"].masked_ids[b][keep], out["corrupted"][b][keep]
    labels, prob = (out["disc_labels"][b][keep],
                    torch.sigmoid(out["disc_logits"][b][keep]))
    rows = {"original": [], "masked": [], "sampled": [], "discriminator": []}
    for i, token in enumerate(tok.convert_ids_to_tokens(ids)):
        new = tok.convert_ids_to_tokens(int(corrupted[i]))
        rows["original"].append(span(token))
        rows["masked"].append(
            span("[MASK]", STYLE["[MASK]"]) if shown[i] == tok.mask_token_id
            else span(token, STYLE["picked, unchanged"] if sel[i] else ""))
        sampled_style = (STYLE["replaced"] if labels[i]
                         else STYLE["sample = original"] if sel[i] else "")
        rows["sampled"].append(span(new, sampled_style))
        style = ";".join([heat(prob[i])] + [STYLE["really replaced"]] * bool(labels[i])
                         + [STYLE["P(replaced) > 1/2"]] * bool(prob[i] > 0.5))
        rows["discriminator"].append(span(new, style, f"P(replaced) = {prob[i]:.2f}"))
    return "".join(f"<tr><td style='padding-right:8px'><i>{k}</i></td>"
                   f"<td>{''.join(v)}</td></tr>"
                   for k, v in rows.items())


legend = " ".join([span(name, style) for name, style in STYLE.items()]
                  + [span(f"P(replaced) = {p}", heat(p)) for p in (0.1, 0.3, 0.6, 0.9)])
table = "".join(f"<table style='margin-bottom:10px'>{demo_rows(demo, b)}</table>"
                for b in range(DEMO_ROWS))
display(HTML(f"<p>{legend}</p>{table}"))

# %% [markdown]
# What happened in these {glue:text}`demo_rows:d` sentences, counted on their
# {glue:text}`demo_tokens:d` own tokens (`[CLS]` and `[SEP]` left out):
# {glue:text}`demo_masked:d` tokens were picked, {glue:text}`demo_shown_mask:d` of
# them shown as `[MASK]`. The generator's samples replaced {glue:text}`demo_replaced:d`
# and reproduced the original at {glue:text}`demo_same:d`, so only
# {glue:text}`demo_replaced_share:.1%` of the tokens the discriminator reads are
# replacements. At a threshold of one half the discriminator flagged
# {glue:text}`demo_flagged:d` of the {glue:text}`demo_tokens:d` tokens, caught
# {glue:text}`demo_caught:d` of the {glue:text}`demo_replaced:d` replacements, and
# labelled {glue:text}`demo_acc:.1%` of all tokens correctly. The shading says more than
# the threshold: it shows how suspicious the discriminator finds each token.

# %%
def corruption_counts(out):
    """Counts and rates of one corrupt() result, on the non-special tokens."""
    keep = ~out["special"]  # (B, T)
    sel, labels = out["masked"].selected & keep, out["disc_labels"].bool() & keep
    flagged = (out["disc_logits"] > 0) & keep  # logit > 0  <=>  P(replaced) > 0.5
    # the generator's top-1 guess is right
    gen_right = (out["gen_logits"].argmax(-1) == out["ids"]) & sel
    n = lambda m: int(m.sum())  # noqa: E731
    return {"tokens": n(keep), "masked": n(sel),
            "shown_mask": n(sel & (out["masked"].masked_ids == tok.mask_token_id)),
            "replaced": n(labels), "same": n(sel & ~labels),
            "flagged": n(flagged), "caught": n(flagged & labels),
            "false_alarms": n(flagged & ~labels),
            "acc": n((flagged == labels) & keep) / n(keep),
            "gen_acc": n(gen_right) / n(sel), "replaced_share": n(labels) / n(keep)}


demo_counts = corruption_counts(demo)
for key, value in demo_counts.items():
    glue(f"demo_{key}", value)
print(demo_counts)

# %% [markdown]
# The figure shows the discriminator's probability of "replaced" for every token of
# the running example (second row above); the bars of the replaced tokens are orange.

# %% tags=["hide-input"]
p_example = torch.sigmoid(ex["disc_logits"]).cpu().numpy()  # (T,)
fig, ax = plt.subplots(figsize=(11, 3.2))
ax.bar(np.arange(T_example), p_example, color=[REPLACED if y else TARGET for y in ex["disc_labels"].tolist()])
ax.axhline(0.5, color="gray", ls="--", lw=1)
ax.set_xticks(np.arange(T_example), corr, rotation=60, ha="right", fontsize=8)
ax.set(ylim=(0, 1), ylabel="P(replaced)", title="Discriminator on the corrupted running example (orange: replaced)")
fig.tight_layout()
plt.show()

# %% tags=["remove-cell"]
# the chart's reading, computed: replaced against original tokens of this one sentence
inside = ~ex["special"].cpu().numpy()
is_rep = ex["disc_labels"].bool().cpu().numpy() & inside
is_orig = ~is_rep & inside
top = int(np.argmax(np.where(inside, p_example, -1.0)))
if is_rep.any():
    p_rep, p_orig = float(p_example[is_rep].mean()), float(p_example[is_orig].mean())
    order = ("higher than" if round(p_rep, 2) > round(p_orig, 2) else
             "lower than" if round(p_rep, 2) < round(p_orig, 2) else "level with")
    example_reading = (
        f"In this sentence the {int(is_rep.sum())} replaced "
        f"{'token gets' if is_rep.sum() == 1 else 'tokens get'} a mean P(replaced) of "
        f"{p_rep:.2f}, {order} the {p_orig:.2f} of its {int(is_orig.sum())} original "
        f"{'one' if is_orig.sum() == 1 else 'ones'}, "
        f"and the most suspicious token is "
        + (f"a replacement, “{corr[top]}” ({p_example[top]:.2f})." if is_rep[top] else
           f"an original word, “{corr[top]}” ({p_example[top]:.2f}).")
        + " One sentence is an anecdote, in either direction.")
else:
    example_reading = ("The generator's samples left this sentence unchanged: every "
                       "token is original, and any tall bar is a false alarm.")
glue("example_reading", example_reading);

# %% [markdown]
# {glue:text}`example_reading`
#
# Six sentences are an anecdote too. The same step on all {glue:text}`n_heldout:d`
# sentences, with a fresh seed, gives rates we can trust more. We run it three ways: one
# sentence per row, as above; the same sentences packed into full rows of
# {glue:text}`pack_len:d` sub-tokens, the form the pair saw in pretraining (`zoo.pack`);
# and {glue:text}`n_new:d` test sentences, whose entity names are often new to the model.

# %%
def packed(words_batch):
    """The sentences packed into full rows as pretraining saw text: (B, T) each."""
    texts = [" ".join(words) for words in words_batch]
    rows = zoo.pack(tok, texts, zoo.PRETRAIN.max_length).to(device)  # (B, T)
    special = torch.isin(rows, torch.tensor(tok.all_special_ids, device=device))
    return rows, torch.ones_like(rows), special


def name_mask(examples):
    """(B, T) True at sub-tokens of entity names, one sentence per row as in
    corrupt()."""
    enc = tok([w for w, _ in examples], is_split_into_words=True, padding=True)
    return torch.tensor([[w is not None and tags[w] != "O" for w in enc.word_ids(b)]
                         for b, (_, tags) in enumerate(examples)], device=device)


def fresh():
    return torch.Generator(device=device).manual_seed(P.seed + 1)


def words_of(examples):
    return [w for w, _ in examples]


runs = {"shown sentences": corrupt(words_of(heldout), fresh()),
        "packed as in pretraining": corrupt_ids(*packed(words_of(heldout)), fresh()),
        "test sentences, new names": corrupt(words_of(new_names), fresh())}
names_in = {"shown sentences": name_mask(heldout),
            "test sentences, new names": name_mask(new_names)}
glue("n_new", len(new_names))
glue("pack_len", zoo.PRETRAIN.max_length);

# %% [markdown]
# For each run we compare the discriminator with the best answer that ignores the
# input: a constant probability $r$ of "replaced", $r$ being the share of replaced
# tokens. Its loss is the binary entropy $H(r)$ (chapter 2, section 3.2), and at a
# threshold of one half it answers "original" everywhere. The generator is compared
# with a unigram model: the token frequencies of the text it was pretrained on
# (add-one smoothed), whose top-1 guess is always the most frequent token. (The
# frequencies of the scored sentences themselves would be an unfair rival: they know
# which words these sentences use.) Each difference
# comes with a 95 % interval from resampling the rows (the book's comparison rule,
# "How to use this book"); an interval that excludes 0 is a difference these sentences
# can show.

# %%
def ratio(items):
    """Pooled rate of (sum, count) rows (N, 2): total of the sums / total of the
    counts."""
    return float(items[:, 0].sum() / items[:, 1].sum())


def per_row(mask, values):
    """(sum of values, count) over each row's masked positions (B, 2): the resampled
    items.
    """
    summed = torch.where(mask, values, 0.0).sum(1)  # (B,) masked-out inf or nan ignored
    return torch.stack([summed, mask.sum(1).to(summed.dtype)], 1).double().cpu().numpy()


def unigram_of(texts):
    """(V,) add-one smoothed token probabilities of texts, special tokens excluded."""
    rows = tok(list(texts), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([i for row in rows for i in row])
    counts = torch.bincount(ids, minlength=len(tok)).double()
    counts[tok.all_special_ids] = 0
    return ((counts + 1) / (counts + 1).sum()).to(device)


UNIGRAM = unigram_of(zoo.pretraining_texts(P))  # (V,) what the generator could learn
MOST_FREQUENT = int(UNIGRAM.argmax())  # without reading the input


def rtd_scores(out, in_name=None):
    """Discriminator and generator against input-blind answers, on a corrupt() run."""
    keep = ~out["special"] & out["attn"].bool()  # (B, T) the text's own tokens
    y, logit = out["disc_labels"].bool(), out["disc_logits"].float()  # (B, T) each
    r = (y & keep).sum() / keep.sum()  # share of replaced tokens
    disc_nll = F.binary_cross_entropy_with_logits(logit, y.float(), reduction="none")
    const_nll = -torch.where(y, r.log(), (1 - r).log())  # (B, T) constant answer r
    flagged = logit > 0  # P(replaced) > 1/2
    sel = out["masked"].selected & keep  # (B, T) picked positions
    ids, gen_logits = out["ids"], out["gen_logits"].float()
    gen_nll = F.cross_entropy(gen_logits.transpose(1, 2), ids,
                              reduction="none")  # (B, T)
    uni_nll = -UNIGRAM.log()[ids].float()  # (B, T) unigram of the pretraining text
    rows = {"disc": per_row(keep, disc_nll), "const": per_row(keep, const_nll),
            "disc_right": per_row(keep, (flagged == y).float()),
            "const_right": per_row(keep, (~y).float()),
            "gen": per_row(sel, gen_nll), "uni": per_row(sel, uni_nll),
            "gen_top1": per_row(sel, (gen_logits.argmax(-1) == ids).float()),
            "uni_top1": per_row(sel, (ids == MOST_FREQUENT).float())}
    prob, yk = torch.sigmoid(logit[keep]), y[keep]  # (N,) each
    s = {"tokens": int(keep.sum()), "replaced_share": float(r),
         "auc": float((prob[yk][:, None] > prob[~yk][None, :]).float().mean()),
         "recall": float((flagged & y & keep).sum() / (y & keep).sum()),
         "precision": float((flagged & y & keep).sum()
                            / (flagged & keep).sum().clamp_min(1))}
    s |= {k: ratio(v) for k, v in rows.items()}
    for key, (a, b) in {"loss_vs_const": ("disc", "const"),
                        "gen_vs_uni": ("gen", "uni"),
                        "top1_vs_uni": ("gen_top1", "uni_top1"),
                        "acc_vs_const": ("disc_right", "const_right")}.items():
        s[key] = paired_bootstrap(ratio, [rows[a]], [rows[b]], seed=P.seed)
    # false alarms: original tokens flagged, in and out of names
    if in_name is not None:
        for where, m in (("name", in_name), ("other", ~in_name)):
            orig = ~y & keep & m
            s[f"false_alarm_{where}"] = float((flagged & orig).sum() / orig.sum())
    return s


scores = {name: rtd_scores(out, names_in.get(name)) for name, out in runs.items()}


def interval(c):
    return f"{c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"


shown = {"tokens": "{:,}", "replaced_share": "{:.3f}",
         "disc": "{:.3f}", "const": "{:.3f}", "loss_vs_const": interval,
         "disc_right": "{:.3f}", "const_right": "{:.3f}", "acc_vs_const": interval,
         "auc": "{:.3f}", "recall": "{:.3f}", "precision": "{:.3f}",
         "false_alarm_name": "{:.3f}", "false_alarm_other": "{:.3f}",
         "gen_top1": "{:.3f}", "uni_top1": "{:.3f}", "top1_vs_uni": interval,
         "gen": "{:.3f}", "uni": "{:.3f}", "gen_vs_uni": interval}
labels = ["tokens", "share replaced (r)",
          "discriminator: loss", "constant answer: loss H(r)",
          "  difference [95 % interval]",
          "discriminator: accuracy", "always 'original': accuracy",
          "  difference [95 % interval]",
          "discriminator: ROC AUC", "discriminator: recall on replaced",
          "discriminator: precision",
          "false alarms inside names", "false alarms outside names",
          "generator: top-1 right on picked", "most frequent token: right on picked",
          "  difference [95 % interval]",
          "generator: loss on picked", "unigram model: loss on picked",
          "  difference [95 % interval]"]


def cell(s, key, fmt):
    if key not in s:
        return "–"
    return fmt(s[key]) if callable(fmt) else fmt.format(s[key])


table = {run: [cell(s, k, f) for k, f in shown.items()] for run, s in scores.items()}
display(pd.DataFrame(table, index=labels))

# %% tags=["remove-cell"]
for prefix, key in zip(("full", "packed", "new"), scores):
    for k, v in scores[key].items():
        glue(f"{prefix}_{k}", v.diff if isinstance(v, Comparison) else v)
counts = corruption_counts(runs["shown sentences"])
glue("full_same", counts["same"])
glue("full_replaced", counts["replaced"]);

# %% tags=["hide-input"]
def verdict(s, packed_s, new_s, steps):
    """What the discriminator and generator get right and wrong, worded by the numbers."""
    head = "**What the small model gets right and wrong.** "
    loss, acc = s["loss_vs_const"], s["acc_vs_const"]
    beats = loss.high < 0 and acc.low > 0  # lower loss and higher accuracy, beyond noise
    said = dict(items="sentences")
    cmp = (f"Its loss on these tokens, {s['disc']:.3f}, against H(r) = {s['const']:.3f} "
           f"for the constant answer, gives {loss.describe('discriminator', 'constant', **said)}; "
           f"its accuracy, {s['disc_right']:.1%}, against {s['const_right']:.1%} for always "
           f"answering \"original\", gives {acc.describe('discriminator', 'constant', **said)}.")
    auc = (f"It ranks a random replaced token above a random original one with probability "
           f"{s['auc']:.2f} (0.5 is chance). ")
    if beats:
        opening = ("On sentences from the world it was pretrained on, the discriminator "
                   "clearly beats every answer that ignores the input. " + auc)
    else:
        opening = ("In this run the discriminator does *not* clearly beat a constant answer "
                   "that ignores the input, so the demo above shows the mechanics of RTD, not "
                   f"a trained detector (chapter 3 measures the same pair after {steps} "
                   "pretraining steps). " + auc)
    threshold = (f" At a threshold of one half it catches {s['recall']:.1%} of the "
                 f"replacements at a precision of {s['precision']:.1%}.")
    moved = packed_s["loss_vs_const"].diff - loss.diff
    form = (" Packing the same sentences into full rows, as in pretraining, changes its "
            f"advantage over the constant by {-moved:+.3f} in loss: the form of the input "
            + ("matters little here." if abs(moved) < 0.05 else "matters."))
    new = new_s["loss_vs_const"]
    outcome = (" and loses its advantage: " if new.high >= 0 else
               ", a smaller advantage: " if new.diff > loss.diff else ": ")
    names = (" On the test sentences, where about half of the names are made of parts the "
             f"model never read, it gives {new.describe('discriminator', 'constant', **said)} "
             f"in loss{outcome}it raises a false alarm at {new_s['false_alarm_name']:.1%} of "
             f"the original tokens inside names (against {s['false_alarm_name']:.1%} on the "
             f"shown sentences) and at {new_s['false_alarm_other']:.1%} outside them. To a "
             "discriminator, a token it has never seen in that place looks like a "
             "replacement: it has learned what fits the text it was trained on.")
    gen, top1 = s["gen_vs_uni"], s["top1_vs_uni"]
    worse = "worse than" if gen.low > 0 else "no better than"
    balance = (" That is the balance ELECTRA needs: replacements plausible enough that spotting "
               "them takes context, yet not so good that the discriminator cannot learn to "
               "(Clark et al. find generators of 1/4 to 1/2 the discriminator's size best, "
               "section 3.2).")
    if P.encoder is None:  # the book's own pair: how its learning rates were chosen
        balance += (" `zoo.PRETRAIN`'s comments record the runs behind this pair: with one "
                    "learning rate for both networks the generator stayed below word "
                    "frequencies, and its discriminator, facing near-random words, scored "
                    "higher on this page but fine-tuned worse in chapter 3's probe.")
    if gen.high < 0 and top1.low > 0:
        learned = ("it has learned more than word frequencies: the context of a masked "
                   "position changes what it predicts there, and its samples are words "
                   "that often fit." + balance)
    elif top1.low > 0:
        learned = ("its top guess uses the context, but as a whole distribution it is "
                   f"{worse} word frequencies: sure of frequent words in places where they "
                   "fit, unsure of the rest, so its samples are sometimes plausible and "
                   "sometimes close to random words." + balance)
    else:
        less = "*less*" if gen.low > 0 else "no more"
        learned = (f"after {steps} steps it knows {less} than word frequencies, so its "
                   "samples are close to random words. That makes the discriminator's task "
                   "easy, and what it learns from it shallow. `zoo.PRETRAIN`'s comments "
                   "record how the learning rates of the two networks trade one against "
                   "the other at this budget.")
    generator = (f" The generator's top guess is right at {s['gen_top1']:.1%} of the picked "
                 f"positions, against {s['uni_top1']:.1%} for always guessing the most "
                 f"frequent token "
                 f"({top1.describe('generator', 'most frequent token', **said)}), and "
                 f"{gen.describe('its loss', 'a unigram model', fmt='.2f', **said)}: "
                 + learned)
    return head + opening + cmp + threshold + form + names + generator


steps = zoo.PRETRAIN.steps if P.encoder is None else "many thousand"
scores_by = list(scores.values())
glue("verdict", verdict(*scores_by, steps), markdown=True);

# %% [markdown]
# {glue:md}`verdict`
#
# ## Exercises
#
# ```{exercise} ★ · 10 min
# :label: ch-01-ex1
# A sequence has $T = 40$ non-pad tokens, two of them `[CLS]` and `[SEP]`. With
# ELECTRA's masking ({glue:text}`mask_prob:.0%` picked), how many positions carry a
# loss under the autoregressive objective, the masked-LM objective and the
# discriminator's RTD objective? Check your answer for masking with
# `rmdlib.rtd.mask_tokens` on a row of 40 tokens.
# ```
#
# ```{solution-start} ch-01-ex1
# :class: dropdown
# ```
# Autoregressive: $T - 1 = 39$ (every token but the first is predicted from its prefix).
# Masked LM: `mask_tokens` picks $k = \operatorname{round}(0.15 \cdot 40) = 6$ positions per
# row (it counts the non-pad tokens through `attention_mask`, but never picks a special
# token). RTD: the discriminator has a term at all 40 non-pad tokens, and the generator,
# trained at the same time, adds its 6 masked-LM terms.

# %%
row = torch.arange(10, 50)[None]  # (1, 40) any ids
row_special = torch.zeros_like(row, dtype=torch.bool)
row_special[0, [0, -1]] = True  # [CLS], [SEP]
picked = rtd.mask_tokens(row, row_special, mask_token_id=4,
                         attention_mask=torch.ones_like(row),
                         generator=torch.Generator().manual_seed(0))
print("masked positions:", int(picked.selected.sum()))
assert int(picked.selected.sum()) == 6

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} ★★ · 15 min
# :label: ch-01-ex2
# `rmdlib.rtd.replace_tokens` labels a sampled token that equals the original as
# *original*. Suppose it labelled every picked position as *replaced* instead. What
# could the discriminator learn from such labels, and why would that be a worse
# pretraining task? Use the count of samples equal to the original in section 4.
# ```
#
# ```{solution} ch-01-ex2
# :class: dropdown
# The input at a picked position whose sample equals the original is identical to an
# unpicked one, so no function of the input can tell them apart: the label would be
# noise, and the best the discriminator could do is predict the average label for
# tokens that look like that. Worse, the generator is right most often on the easiest,
# most predictable tokens, so those would get contradictory labels most often; the
# task would reward guessing *which positions were picked*, a random choice, instead of
# judging whether the token fits its context. ELECTRA's label (1 iff the token differs)
# is a deterministic function of original and corrupted text. Section 4 shows
# {glue:text}`full_same:d` picked positions on the held-out set whose sample equals the
# original, against {glue:text}`full_replaced:d` real replacements.
# ```
#
# ```{exercise} ★★ · 20 min
# :label: ch-01-ex3
# In RoBERTa's Table 2, which rows would you compare to measure the effect of the NSP
# loss *alone*, keeping the input format fixed? Is such a pair in the table? What does
# the SENTENCE-PAIR row tell you?
# ```
#
# ```{solution} ch-01-ex3
# :class: dropdown
# One would need the same input format with and without the loss, e.g. SEGMENT-PAIR with
# NSP against SEGMENT-PAIR without it (which, RoBERTa suspects, is what BERT's own
# ablation measured). The table has no such pair: every row without NSP also packs full
# sentences into one segment. SENTENCE-PAIR keeps NSP and only shortens the inputs, and it
# is the worst row on every task, so the input format alone moves the scores by more than
# a point; the NSP-free rows then show that, with long inputs, the NSP loss is not needed.
# ```
#
# ```{exercise} ★★ · 20 min
# :label: ch-01-ex4
# Show that with the causal mask, row $t$ of the attention output does not change when
# you change $x_s$ for any $s > t$, but it does without the mask. Check it numerically with
# the tensors of section 3: change the last row of `X` and compare the outputs.
# ```
#
# ```{solution-start} ch-01-ex4
# :class: dropdown
# ```
# With $M_{ts} = -\infty$ for $s > t$, the softmax gives those positions weight exactly
# $e^{-\infty} = 0$, so row $t$ is a weighted mean of $v_1, \dots, v_t$ only, and $q_t$
# depends on $x_t$ only. Numerically:

# %%
X2 = X.clone()
X2[-1] += 1.0  # change the last token
Q2, K2, V2 = X2 @ W_q, X2 @ W_k, X2 @ W_v
causal2 = torch.softmax(Q2 @ K2.T / math.sqrt(d) + causal, -1) @ V2
bidir2 = torch.softmax(Q2 @ K2.T / math.sqrt(d), -1) @ V2
assert torch.allclose(causal2[:-1], ours_causal[:-1])  # earlier rows unchanged
assert not torch.allclose(bidir2[:-1], ours[:-1])  # every row sees the change
print("causal: rows before the last unchanged; bidirectional: every row changed")

# %% [markdown]
# ```{solution-end}
# ```
#
# ## Summary
#
# * An autoregressive model predicts every token from its left context; a masked LM
#   predicts {glue:text}`mask_prob:.0%` of the tokens from both sides; RTD gives every token a binary
#   label while the encoder reads both sides. On the running example that is
#   {glue:text}`ar_positions:d`, {glue:text}`mlm_positions:d` and
#   {glue:text}`rtd_positions:d` positions with a loss.
# * A generator sample equal to the original counts as original; only
#   {glue:text}`full_replaced_share:.1%` of the held-out tokens the discriminator read
#   were replacements.
# * RoBERTa's Table 2 (quoted) shows that removing next-sentence prediction while
#   packing full sentences matches or slightly improves BERT's scores; ELECTRA trains
#   without NSP, and so does this book.
# * Self-attention is $\operatorname{softmax}(QK^\top/\sqrt{d} + M)V$; the causal mask
#   $M$ is the only difference between a left-to-right model and a bidirectional encoder.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("01_from_lm_to_rtd")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`radford2018improving` for autoregressive pretraining,
# {cite:t}`devlin2019bert` for masked language modeling and next-sentence prediction,
# {cite:t}`liu2019roberta` for the NSP ablation quoted in section 2,
# {cite:t}`clark2020electra` for replaced token detection and its pretraining details,
# {cite:t}`vaswani2017attention` for self-attention, and {cite:t}`graves2006ctc` for
# connectionist temporal classification.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
