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
# **Time:** about 45 minutes to read and run. In the offline profile the code runs in
# under a minute on 2 CPU cores once the small pretrained model of `rmdlib.zoo` is
# cached; the first run also pretrains that model, which took
# {glue:text}`pretrain_minutes:.1f` minutes when the cached copy used here was made.

# %% tags=["remove-cell"]
# Colab only: install rmdlib from the course repository, keeping Colab's torch.
import sys

if "google.colab" in sys.modules:
    import subprocess

    import torch

    REPO = "https://github.com/rmd-course/replaced-token-detection-in-practice"
    with open("/tmp/keep-torch.txt", "w") as f:
        f.write(f"torch=={torch.__version__}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/keep-torch.txt", f"rmdlib @ git+{REPO}"],
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
# that `rmdlib.synth` writes for the offline profile, from its test split. The WordPiece
# {term}`tokenizer` and the small generator/discriminator pair come from `rmdlib.zoo`,
# which in the offline profile trains both on micro-world documents the first time
# they are asked for and caches them (chapter 3 shows how that pretraining works; the
# colab profile loads Google's ELECTRA-Small pair instead). The test split is drawn
# from another random stream than the pretraining documents, and about half of its entity
# mentions are built from name parts that never occur in them: the model has not seen
# these sentences.

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

tok = zoo.tokenizer(P)  # WordPiece, trained on the micro-world
pair = zoo.electra_pair(P).eval()  # generator + discriminator pretrained with RTD; eval(): no dropout
device = next(pair.parameters()).device

heldout = synth.ner_splits(seed=P.seed, n_train=0, n_val=0, n_test=P.n(500))["test"]  # (words, tags) pairs
DEMO_ROWS = 6  # sentences shown token by token in section 4
EXAMPLE = 1  # the running example: the second held-out sentence
example_words = heldout[EXAMPLE][0]
print(" ".join(example_words))
glue("example_text", " ".join(example_words))
glue("n_heldout", len(heldout))
for name, rates in (("", rtd.ELECTRA_MASKING), ("bert_", rtd.BERT_MASKING)):  # the masking rates, for the prose
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
factors = [f"p({example_tokens[t]} | {' '.join(example_tokens[:t])})" for t in range(1, T_example)]
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
    """One RTD corruption step on a batch of word lists: mask, sample, replace, discriminate."""
    enc = tok(words_batch, is_split_into_words=True, padding=True, return_special_tokens_mask=True,
              return_tensors="pt").to(device)
    ids, attn = enc["input_ids"], enc["attention_mask"]  # (B, T)
    special = enc["special_tokens_mask"].bool()  # (B, T) [CLS], [SEP], [PAD]: never picked
    masked = rtd.mask_tokens(ids, special, mask_token_id=tok.mask_token_id, attention_mask=attn,
                             generator=generator, **asdict(rtd.ELECTRA_MASKING))
    gen_logits = pair.generator(input_ids=masked.masked_ids, attention_mask=attn).logits  # (B, T, V)
    sampled = ids.clone()
    sampled[masked.selected] = rtd.gumbel_sample(gen_logits[masked.selected], generator=generator)  # (S,)
    corrupted, disc_labels = rtd.replace_tokens(ids, masked, sampled)  # (B, T) each
    disc_logits = pair.discriminator(input_ids=corrupted, attention_mask=attn).logits  # (B, T)
    return dict(ids=ids, attn=attn, special=special, masked=masked, gen_logits=gen_logits,
                corrupted=corrupted, disc_labels=disc_labels, disc_logits=disc_logits)


demo = corrupt([w for w, _ in heldout[:DEMO_ROWS]], torch.Generator(device=device).manual_seed(P.seed))

# The same seed through the library's one-call training step gives the same corruption:
# the demo shows exactly what pretraining sees.
batch = {"input_ids": demo["ids"], "attention_mask": demo["attn"], "special_tokens_mask": demo["special"]}
with torch.no_grad():
    step = rtd.rtd_step(pair, batch, mask_token_id=tok.mask_token_id, special_ids=tok.all_special_ids,
                        generator=torch.Generator(device=device).manual_seed(P.seed))
assert torch.equal(step.corrupted_ids, demo["corrupted"]) and torch.equal(step.disc_logits, demo["disc_logits"])

ex = {k: v[EXAMPLE, : T_example] for k, v in demo.items() if k not in ("masked", "gen_logits")}
ex_selected = demo["masked"].selected[EXAMPLE, :T_example]  # (T,) the picked positions M
ex_masked_ids = demo["masked"].masked_ids[EXAMPLE, :T_example]
assert tok.convert_ids_to_tokens(ex["ids"]) == example_tokens  # padding only ever follows the sentence
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

# %%
ex_replaced = int(ex["disc_labels"].sum())
ex_same = mlm_positions - ex_replaced  # picked, but the sample equals the original
rtd_positions = int(ex["attn"].sum())  # every non-pad token has a discriminator label
print("corrupt:", " ".join(tok.convert_ids_to_tokens(ex["corrupted"])))
print("labels: ", ex["disc_labels"].tolist())
objectives = pd.DataFrame(
    {"reads": ["x_1 … x_{t-1} (left context)", "the masked sequence", "the corrupted sequence"],
     "predicts": ["the next token", "the original token at each masked position", "replaced or original, every token"],
     "positions with a loss": [ar_positions, mlm_positions, rtd_positions]},
    index=["autoregressive (GPT)", "masked LM (BERT)", "replaced token detection (ELECTRA)"])
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
        f'<span style="background:{colors[s]};padding:1px 3px;border-radius:3px">{html.escape(t)}</span>'
        for t, s in zip(tok.convert_ids_to_tokens(enc["input_ids"]), enc["token_type_ids"]))


display(HTML("".join(f"<p><b>{label}</b>: {segment_spans(a, b)}</p>" for label, (a, b) in nsp_pairs.items())))

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
# Quoted from Liu et al. (2019), arXiv:1907.11692, Table 2 (development sets); not computed here.
roberta_table2 = pd.DataFrame(
    [("SEGMENT-PAIR", "yes", 90.4, 78.7, 84.0, 92.9, 64.2),
     ("SENTENCE-PAIR", "yes", 88.7, 76.2, 82.9, 92.1, 63.0),
     ("FULL-SENTENCES", "no", 90.4, 79.1, 84.7, 92.5, 64.8),
     ("DOC-SENTENCES", "no", 90.6, 79.7, 84.7, 92.7, 65.6)],
    columns=["input format", "NSP loss", "SQuAD 1.1 F1", "SQuAD 2.0 F1", "MNLI-m acc.", "SST-2 acc.", "RACE acc."],
).set_index("input format")
scores = roberta_table2.drop(columns="NSP loss")
delta = (scores - scores.loc["SEGMENT-PAIR"]).drop(index="SEGMENT-PAIR").round(1)  # points vs BERT's format
display(roberta_table2.style.format(precision=1).set_caption("Quoted from Liu et al. (2019), Table 2"))
display(delta.style.format("{:+.1f}").set_caption("Difference to SEGMENT-PAIR + NSP, computed from the quoted table"))
glue("sent_pair_worst", float(delta.loc["SENTENCE-PAIR"].min()))  # float(): glue needs plain numbers
glue("sent_pair_best", float(delta.loc["SENTENCE-PAIR"].max()))
glue("full_min", float(delta.loc["FULL-SENTENCES"].min()))
glue("full_max", float(delta.loc["FULL-SENTENCES"].max()))
glue("doc_squad2", float(delta.loc["DOC-SENTENCES", "SQuAD 2.0 F1"]))
glue("doc_race", float(delta.loc["DOC-SENTENCES", "RACE acc."]))
glue("doc_sst2", float(delta.loc["DOC-SENTENCES", "SST-2 acc."]))
glue("nsp_free_max", float(delta.loc[["FULL-SENTENCES", "DOC-SENTENCES"]].abs().max().max()));

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
X = torch.randn(T, d, generator=g, dtype=torch.float64)  # (T, D) token vectors, D = d here
W_q, W_k, W_v = (torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d) for _ in range(3))
Q, K, V = X @ W_q, X @ W_k, X @ W_v  # (T, d) each
causal = torch.full((T, T), -math.inf, dtype=torch.float64).triu(1)  # M_ts = -inf for s > t
ours = torch.softmax(Q @ K.T / math.sqrt(d), dim=-1) @ V  # (T, d) bidirectional
ours_causal = torch.softmax(Q @ K.T / math.sqrt(d) + causal, dim=-1) @ V  # (T, d) left-to-right
ref = F.scaled_dot_product_attention(Q[None], K[None], V[None])[0]
ref_causal = F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=True)[0]
attn_diff = max((ours - ref).abs().max().item(), (ours_causal - ref_causal).abs().max().item())
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
# to equal the original in green); and the discriminator's verdict, with its
# probability of "replaced" as a tooltip.

# %%
STYLE = {
    "[MASK]": "background:#d9d9d9",  # shown as [MASK]
    "picked, unchanged": "outline:1px dashed #636363",  # picked but shown unchanged
    "replaced": "background:#fcbba1;color:#a50f15",  # the sample differs from the original
    "sample = original": "background:#c7e9c0;color:#00441b",  # picked, and the sample equals the original
    "caught": "background:#fcbba1;color:#a50f15;font-weight:bold",  # replaced, flagged
    "missed": "outline:2px solid #cb181d",  # replaced, not flagged
    "false alarm": "background:#fdd49e;color:#7f2704",  # original, flagged
}


def span(token, style="", title=""):
    style = f"{style};padding:1px 3px;margin:1px;border-radius:3px;display:inline-block;font-family:monospace"
    return f'<span style="{style}" title="{html.escape(title)}">{html.escape(token)}</span>'


def demo_rows(out, b):
    """Four HTML rows for sentence b of a corrupt() result; special tokens are hidden."""
    keep = ~out["special"][b]  # (T,) the sentence's own tokens
    ids, sel = out["ids"][b][keep], out["masked"].selected[b][keep]
    shown, corrupted = out["masked"].masked_ids[b][keep], out["corrupted"][b][keep]
    labels, prob = out["disc_labels"][b][keep], torch.sigmoid(out["disc_logits"][b][keep])
    rows = {"original": [], "masked": [], "sampled": [], "discriminator": []}
    for i, token in enumerate(tok.convert_ids_to_tokens(ids)):
        new = tok.convert_ids_to_tokens(int(corrupted[i]))
        rows["original"].append(span(token))
        rows["masked"].append(span("[MASK]", STYLE["[MASK]"]) if shown[i] == tok.mask_token_id
                              else span(token, STYLE["picked, unchanged"] if sel[i] else ""))
        sampled_style = STYLE["replaced"] if labels[i] else STYLE["sample = original"] if sel[i] else ""
        rows["sampled"].append(span(new, sampled_style))
        flagged, verdict = bool(prob[i] > 0.5), ("caught" if labels[i] else "false alarm")
        style = STYLE[verdict] if flagged else STYLE["missed"] if labels[i] else ""
        rows["discriminator"].append(span(new, style, f"P(replaced) = {prob[i]:.2f}"))
    return "".join(f"<tr><td style='padding-right:8px'><i>{k}</i></td><td>{''.join(v)}</td></tr>"
                   for k, v in rows.items())


legend = " ".join(span(name, style) for name, style in STYLE.items())
table = "".join(f"<table style='margin-bottom:10px'>{demo_rows(demo, b)}</table>" for b in range(DEMO_ROWS))
display(HTML(f"<p>{legend}</p>{table}"))

# %% [markdown]
# What happened in these {glue:text}`demo_rows:d` sentences, counted on their
# {glue:text}`demo_tokens:d` own tokens (`[CLS]` and `[SEP]` left out):
# {glue:text}`demo_masked:d` tokens were picked, {glue:text}`demo_shown_mask:d` of
# them shown as `[MASK]`. The generator's samples replaced {glue:text}`demo_replaced:d`
# and reproduced the original at {glue:text}`demo_same:d`, so only
# {glue:text}`demo_replaced_share:.1%` of the tokens the discriminator reads are
# replacements. It flagged {glue:text}`demo_flagged:d` tokens, caught
# {glue:text}`demo_caught:d` of the {glue:text}`demo_replaced:d` replacements, and
# labelled {glue:text}`demo_acc:.1%` of all tokens correctly.

# %%
def corruption_counts(out):
    """Counts and rates of one corrupt() result, on the non-special tokens."""
    keep = ~out["special"]  # (B, T)
    sel, labels = out["masked"].selected & keep, out["disc_labels"].bool() & keep
    flagged = (out["disc_logits"] > 0) & keep  # logit > 0  <=>  P(replaced) > 0.5
    gen_right = (out["gen_logits"].argmax(-1) == out["ids"]) & sel  # the generator's top-1 guess is right
    n = lambda m: int(m.sum())  # noqa: E731
    return {"tokens": n(keep), "masked": n(sel), "shown_mask": n(sel & (out["masked"].masked_ids == tok.mask_token_id)),
            "replaced": n(labels), "same": n(sel & ~labels), "flagged": n(flagged), "caught": n(flagged & labels),
            "false_alarms": n(flagged & ~labels), "acc": n((flagged == labels) & keep) / n(keep),
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

# %% [markdown]
# Six sentences are an anecdote. The same step on all {glue:text}`n_heldout:d`
# held-out sentences, with a fresh seed, gives rates we can trust more:

# %%
full = corrupt([w for w, _ in heldout], torch.Generator(device=device).manual_seed(P.seed + 1))
counts = corruption_counts(full)
keep = ~full["special"]  # (B, T) the sentences' own tokens
replaced, flagged = full["disc_labels"].bool() & keep, (full["disc_logits"] > 0) & keep  # (B, T) each
enc_full = tok([w for w, _ in heldout], is_split_into_words=True, padding=True)
in_name = torch.tensor([[w is not None and tags[w] != "O" for w in enc_full.word_ids(b)]  # (B, T) inside an entity
                        for b, (_, tags) in enumerate(heldout)], device=device)
prob, y = torch.sigmoid(full["disc_logits"][keep]), replaced[keep]  # (N,) each, N = kept tokens
r = y.float().mean()  # share of replaced tokens
stats = {
    "recall": counts["caught"] / counts["replaced"],  # replaced tokens flagged
    "precision": counts["caught"] / max(counts["flagged"], 1),  # flagged tokens that were replaced
    "recall_name": int((flagged & replaced & in_name).sum()) / int((replaced & in_name).sum()),
    "recall_other": int((flagged & replaced & ~in_name).sum()) / int((replaced & ~in_name).sum()),
    "majority": 1 - counts["replaced_share"],  # accuracy of always answering "original"
    # P(score of a random replaced token > score of a random original one); 0.5 = chance (ROC AUC)
    "auc": (prob[y][:, None] > prob[~y][None, :]).float().mean().item(),
    "disc_loss": F.binary_cross_entropy(prob, y.float()).item(),  # the discriminator's loss on these tokens
    "entropy": (-(r * r.log() + (1 - r) * (1 - r).log())).item(),  # the best constant prediction's loss, H(r)
    "top_token": torch.bincount(full["ids"][full["masked"].selected]).max().item() / counts["masked"],
}
rows = {"tokens": counts["tokens"], "picked (masked)": counts["masked"], "replaced": counts["replaced"],
        "picked, sample = original": counts["same"], "generator: top-1 right on picked": counts["gen_acc"],
        "generator: most frequent token right on picked": stats["top_token"],
        "discriminator: accuracy": counts["acc"], "always 'original': accuracy": stats["majority"],
        "discriminator: recall on replaced": stats["recall"], "  inside entity names": stats["recall_name"],
        "  outside entity names": stats["recall_other"], "discriminator: precision": stats["precision"],
        "discriminator: ROC AUC": stats["auc"]}
display(pd.DataFrame({"held-out": [f"{v:,}" if isinstance(v, int) else f"{v:.3f}" for v in rows.values()]},
                     index=list(rows)))
for key, value in {**counts, **stats}.items():
    glue(f"full_{key}", value)

# %% tags=["hide-input"]
def verdict(c, s, steps):
    """A paragraph on what the discriminator gets right and wrong, worded by the measured numbers."""
    head = "**What the small model gets right and wrong.** "
    ranks = s["auc"] > 0.55  # ranks replaced tokens above original ones better than chance
    learned = ranks and s["disc_loss"] < s["entropy"]  # and beats H(r), the best constant answer
    generator = (f" The generator's top guess is right at {c['gen_acc']:.1%} of the picked positions, against "
                 f"{s['top_token']:.1%} for always guessing the most frequent token"
                 + (": it has learned more than word frequencies." if c["gen_acc"] > s["top_token"] + 0.01 else
                    ": it has learned little beyond word frequencies."))
    if not learned:  # no better than a constant answer that ignores the input, on these sentences
        worse = s["disc_loss"] > s["entropy"] or c["acc"] < s["majority"]
        opening = (f"In this run the discriminator ranks a random replaced token above a random original one "
                   f"with probability {s['auc']:.2f} (0.5 is chance), so it has learned something, but its "
                   f"probabilities are worse than a constant answer on these sentences." if ranks else
                   f"In this run the discriminator has *not* learned to detect replacements. It ranks a random "
                   f"replaced token above a random original one with probability {s['auc']:.2f}, where 0.5 is "
                   f"chance.")
        closing = (f" Chapter 3 scores the same discriminator on held-out text packed into rows like the ones "
                   f"it was pretrained on." if ranks else
                   f" After {steps} pretraining steps the pair is still on the discriminator's plateau (chapter 3 "
                   f"measures it): the demo shows the mechanics of RTD, not a trained detector.")
        return head + opening + (
            f" Its loss on these tokens, {s['disc_loss']:.4f}, should be compared with the binary entropy of the "
            f"replaced share, H(r) = {s['entropy']:.4f}, the loss of a constant answer that ignores the input "
            f"(chapter 2, section 3.2), and its accuracy of {c['acc']:.1%} with the {s['majority']:.1%} of always "
            f"answering \"original\"; it flags {c['flagged']:,} tokens and catches {c['caught']:,} of the "
            f"{c['replaced']:,} replacements."
            + (" It does *worse* than the constant answer: these short, separately padded sentences differ "
               "from the packed rows it was pretrained on, and a small network trained briefly reacts to "
               "such a change in its input unpredictably." if worse else "")
            + generator + closing)
    threshold = (f"but its probability of \"replaced\" rarely exceeds one half: it flags {c['flagged']:,} tokens "
                 f"and catches {s['recall']:.1%} of the replacements" if s["recall"] < 0.2 else
                 f"and at a threshold of one half it catches {s['recall']:.1%} of the replacements at a precision "
                 f"of {s['precision']:.1%}")
    where = "inside" if s["recall_name"] < s["recall_other"] else "outside"
    return head + (
        f"The discriminator ranks a random replaced token above a random original one with probability "
        f"{s['auc']:.2f} (0.5 is chance), {threshold}. Its accuracy, {c['acc']:.1%}, compares with "
        f"{s['majority']:.1%} for always answering \"original\", and its loss, {s['disc_loss']:.4f}, with "
        f"{s['entropy']:.4f} for the best constant answer. Replacements are harder to catch {where} entity "
        f"names ({s['recall_name']:.1%} caught inside, {s['recall_other']:.1%} outside). Part of the misses "
        f"cannot be avoided: the micro-world fills its templates with words and name parts drawn at random "
        f"from lists, so a noun replaced by another noun, or a surname by another surname, is as plausible "
        f"as the original; a replacement that breaks the form of the sentence is the kind a discriminator "
        f"can learn to see.")


steps = zoo.PRETRAIN.steps if P.encoder is None else "many thousand"
glue("verdict", verdict(counts, stats, steps), markdown=True);

# %% [markdown]
# {glue:md}`verdict`
#
# ## Exercises
#
# ```{exercise}
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
# ```{exercise}
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
# ```{exercise}
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
# ```{exercise}
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
#
# ## References
#
# This chapter draws on {cite:t}`radford2018improving` for autoregressive pretraining,
# {cite:t}`devlin2019bert` for masked language modeling and next-sentence prediction,
# {cite:t}`liu2019roberta` for the NSP ablation quoted in section 2,
# {cite:t}`clark2020electra` for replaced token detection and its pretraining details, and
# {cite:t}`vaswani2017attention` for self-attention.
