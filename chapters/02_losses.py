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
# (ch-02)=
# # 2. Deriving the losses
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. derive {term}`binary cross-entropy` from the Bernoulli likelihood, show that its
#    gradient in the logit is $\sigma(z) - y$, and say why libraries compute it as
#    $\operatorname{softplus}(z) - yz$;
# 2. write the {term}`replaced token detection` objective $\mathcal{L}_\text{MLM} + \lambda\,\mathcal{L}_\text{Disc}$
#    and explain the size of $\lambda$ from the loss values at initialisation;
# 3. count, on a real masked batch, how many positions give a gradient under masked
#    language modeling and under replaced token detection;
# 4. derive token cross-entropy with ignored positions and with {term}`label smoothing`,
#    including the right denominator;
# 5. derive the $T^2$ factor of {term}`knowledge distillation`;
# 6. check any such derivation against `torch.autograd` in a few lines.
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
from rmdlib.report import glue, run_card, source

P = rmdlib.setup(seed=0)
glue("run_card", run_card(P), markdown=True);

# %% [markdown]
# {glue:md}`run_card`
#
# ## 1. How this chapter checks a derivation
#
# Every loss in this course is a pure function in `rmdlib.losses`. This chapter
# derives each one on paper and then lets `torch.autograd` differentiate the
# library function. If the closed-form gradient on the page and the gradient that
# autograd computes from the code differ by more than $10^{-6}$, the cell fails and
# so does the book build: the text and the code cannot drift apart. The checks run
# in float64, where both sides agree to rounding error. The same identities are
# tests in `tests/test_losses.py`.

# %%
import inspect
import math
from dataclasses import asdict

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from rmdlib import losses, rtd, synth, tokens
from rmdlib.losses import IGNORE_INDEX

g = torch.Generator().manual_seed(P.seed)  # every random tensor below is drawn from g


def as64(x):
    """``x`` as a float64 tensor (a Python float would become float32)."""
    return torch.as_tensor(x, dtype=torch.float64)


def check(name, computed, closed_form, tol=1e-6):
    """Print and glue max |computed - closed form|; fail (the build) above tol."""
    diff = (as64(computed) - as64(closed_form)).abs().max().item()
    print(f"{name}: max |autograd/code - closed form| = {diff:.1e}")
    assert diff < tol, f"{name}: the derivation and the code disagree by {diff:.2e}"
    glue(name, diff)
    return diff


# %% [markdown]
# ## 2. From the Bernoulli likelihood to binary cross-entropy
#
# The {term}`discriminator` of ELECTRA answers one yes/no question per token: was
# this token replaced? A yes/no label $y \in \{0, 1\}$ is a {term}`Bernoulli distribution`
# draw. The network produces a real-valued score, the logit $z$, and the
# {term}`sigmoid` $\sigma(z) = 1/(1 + e^{-z})$ turns it into the probability of
# $y = 1$. One formula covers both outcomes:
#
# $$
# P(y \mid z) = \sigma(z)^{y}\,\bigl(1 - \sigma(z)\bigr)^{1-y}.
# $$
#
# For $N$ independent labels the likelihood is the product of these terms.
# {term}`Maximum likelihood estimation` maximises it; taking $-\log$ and
# dividing by $N$ turns the product into a mean that we minimise instead
# {cite}`bishop2006pattern,goodfellow2016deep`:
#
# $$
# \mathcal{L} = \frac{1}{N}\sum_{i=1}^{N} \ell(z_i, y_i),\qquad
# \ell(z, y) = -y\log\sigma(z) - (1-y)\log\bigl(1-\sigma(z)\bigr).
# $$
#
# This is the binary cross-entropy. Two identities make it simpler. With the
# {term}`softplus` $\operatorname{softplus}(z) = \log(1 + e^{z})$,
#
# $$
# \begin{aligned}
# \log\sigma(z) &= -\operatorname{softplus}(-z),\\
# \log\bigl(1-\sigma(z)\bigr) &= \log\sigma(-z) = -\operatorname{softplus}(z),\\
# \operatorname{softplus}(z) - \operatorname{softplus}(-z) &= z,
# \end{aligned}
# $$
#
# so that
#
# $$
# \ell(z, y) = y\operatorname{softplus}(-z) + (1-y)\operatorname{softplus}(z)
#            = \operatorname{softplus}(z) - y\,z .
# $$
#
# Since $\frac{d}{dz}\operatorname{softplus}(z) = \sigma(z)$, the derivative is
#
# $$
# \boxed{\frac{\partial \ell}{\partial z} = \sigma(z) - y}
# \qquad\text{and}\qquad
# \frac{\partial \mathcal{L}}{\partial z_i} = \frac{\sigma(z_i) - y_i}{N}.
# $$
#
# The gradient is the residual between the predicted probability and the label: it
# lies in $(-1, 1)$, it is large exactly when the prediction is confidently wrong,
# and it never vanishes while the model is wrong. Here is the library function; the
# `keep` mask removes padding, and $N$ counts only the kept positions.

# %% tags=["hide-input"]
source(losses.binary_cross_entropy)

# %% [markdown]
# Now the check: autograd through `binary_cross_entropy` against
# $(\sigma(z) - y)/N$ on the kept positions and $0$ elsewhere, and the value against
# the Bernoulli negative log-likelihood written out term by term.

# %%
z = 3 * torch.randn(4, 12, generator=g, dtype=torch.float64)  # (B, T) logits
z.requires_grad_()
y = (torch.rand(4, 12, generator=g) < 0.3).long()  # (B, T) labels, 1 = replaced
keep = torch.rand(4, 12, generator=g) < 0.8  # (B, T) False = padding
bce = losses.binary_cross_entropy(z, y, keep)
bce.backward()

n_kept = keep.sum()
s = torch.sigmoid(z.detach())
check("bce_grad_diff", z.grad, torch.where(keep, (s - y) / n_kept, 0.0))
bernoulli_nll = -(y * s.log() + (1 - y) * (1 - s).log())  # (B, T) term by term
check("bce_value_diff", bce.detach(), bernoulli_nll[keep].mean());

# %% [markdown]
# The softplus form is not only shorter, it is also numerically safe. For a logit
# of 200 with label 0 (a confident, wrong prediction), the textbook formula in float32
# computes $\log(1 - \sigma(200)) = \log 0$ and returns
# {glue:text}`bce_naive`, while the library returns {glue:text}`bce_stable:.1f`, the
# exact value $\operatorname{softplus}(200) - 0 \approx 200$.

# %%
z_big = torch.tensor([200.0, -200.0])  # float32 logits, confidently wrong for both
y_big = torch.tensor([0, 1])
s_big = torch.sigmoid(z_big)
naive = -(y_big * s_big.log() + (1 - y_big) * (1 - s_big).log()).mean()
stable = losses.binary_cross_entropy(z_big, y_big, torch.ones(2, dtype=torch.bool))
print(f"naive: {naive.item()}, softplus form: {stable.item()}")

# %% tags=["remove-cell"]
glue("bce_naive", str(naive.item()))
glue("bce_stable", stable.item());

# %% [markdown]
# The figure draws $\ell$ and $\partial\ell/\partial z$ for both labels, each point
# computed by the library and by autograd. For comparison it also shows the gradient
# of a squared error on the probability, $\tfrac12(\sigma(z) - y)^2$, whose
# derivative $(\sigma(z) - y)\,\sigma(z)(1-\sigma(z))$ vanishes when the model is
# confidently wrong: the reason classification uses the likelihood, not squared error.

# %% tags=["hide-input"]
zs = torch.linspace(-6, 6, 241, dtype=torch.float64)
fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(10, 3.6))
for label, color in ((0, "tab:blue"), (1, "tab:orange")):
    values, grads = [], []
    for z0 in zs:
        zi = z0.reshape(1).clone().requires_grad_()
        li = losses.binary_cross_entropy(zi, torch.tensor([label]), torch.tensor([True]))
        li.backward()
        values.append(li.item())
        grads.append(zi.grad.item())
    sig = torch.sigmoid(zs)
    ax_loss.plot(zs, values, color=color, label=f"y = {label}")
    ax_grad.plot(zs, grads, color=color, label=f"BCE, y = {label}")
    ax_grad.plot(zs, (sig - label) * sig * (1 - sig), color=color, ls="--", label=f"squared error, y = {label}")
ax_loss.set(xlabel="logit z", ylabel="loss  ℓ(z, y)", title="Binary cross-entropy")
ax_grad.set(xlabel="logit z", ylabel="∂ℓ/∂z", title="Its gradient σ(z) − y")
ax_grad.axhline(0, color="gray", lw=0.5)
ax_loss.legend()
ax_grad.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The replaced-token-detection objective
#
# ELECTRA {cite}`clark2020electra` trains two networks at once. The {term}`generator`, a
# small masked language model, sees the sequence with a set $M$ of positions
# masked (chapter 1) and is trained with the masked-LM loss of BERT
# {cite}`devlin2019bert`, a cross-entropy over the vocabulary of size $V$ at the
# masked positions only:
#
# $$
# \mathcal{L}_\text{MLM} = -\frac{1}{|M|}\sum_{i \in M} \log p_G\bigl(x_i \mid x^\text{masked}\bigr).
# $$
#
# A sample from the generator is written into each masked position, giving the
# corrupted sequence $\tilde x$. The discriminator $D$ then labels **every** non-pad
# token $t \in P$: $y_t = 1$ if $\tilde x_t \neq x_t$ (a sample that happens to equal
# the original counts as original). Its loss is the binary cross-entropy of
# section 2, averaged over all of them:
#
# $$
# \mathcal{L}_\text{Disc} = \frac{1}{|P|}\sum_{t \in P} \ell\bigl(D(\tilde x)_t,\, y_t\bigr),
# \qquad
# \mathcal{L} = \mathcal{L}_\text{MLM} + \lambda\,\mathcal{L}_\text{Disc},
# $$
#
# with $\lambda$ = {glue:text}`lam:.0f` in ELECTRA and as the default `disc_weight` of
# `rtd_loss`. Both means are over the whole batch, as in the reference implementation.
# The sampling step has no gradient, so $\mathcal{L}_\text{Disc}$ does not reach
# the generator through the samples; the two networks meet only in the embeddings
# they share (chapter 3).

# %% tags=["hide-input"]
source(losses.rtd_loss)

# %% [markdown]
# ### 3.1 A real masked batch
#
# To measure things on real data we train a small WordPiece {term}`tokenizer` on
# the synthetic {term}`micro-world`, encode {glue:text}`n_seqs:d` documents
# (at most {glue:text}`max_len:d` tokens each), and mask them with
# `rmdlib.rtd.mask_tokens` at ELECTRA's rates: {glue:text}`mask_prob:.0%` of the
# tokens are picked, {glue:text}`mask_frac:.0%` of those are shown as `[MASK]`. A
# generator at initialisation predicts (nearly) the uniform distribution, so we draw
# the replacements uniformly with the Gumbel-max sampler `rmdlib.rtd.gumbel_sample`
# and label what changed with `rmdlib.rtd.replace_tokens`.

# %%
docs = synth.corpus(seed=P.seed, n_docs=200)
tok = tokens.train_wordpiece(docs, vocab_size=2000)
V = len(tok)  # vocabulary size of this tokenizer
enc = tok(docs[:16], truncation=True, max_length=128, padding=True,
          return_special_tokens_mask=True, return_tensors="pt")
ids, attn = enc["input_ids"], enc["attention_mask"]  # (B, T)
special = enc["special_tokens_mask"].bool()  # (B, T) [CLS], [SEP], [PAD]: never picked
masked = rtd.mask_tokens(ids, special, mask_token_id=tok.mask_token_id,
                         attention_mask=attn, generator=g,
                         **asdict(rtd.ELECTRA_MASKING))
# (B, T) samples of a generator at initialisation: uniform over the vocabulary
uniform_samples = rtd.gumbel_sample(torch.zeros(*ids.shape, V), generator=g)
corrupted = rtd.replace_tokens(ids, masked, uniform_samples)

print(f"V = {V}, batch {tuple(ids.shape)}, {int(attn.sum())} non-pad tokens, "
      f"{int(masked.selected.sum())} masked, "
      f"{int(corrupted.disc_labels.sum())} replaced")

# %% tags=["remove-cell"]
glue("V", V)
glue("n_seqs", ids.shape[0])
glue("max_len", ids.shape[1])
glue("mask_prob", rtd.ELECTRA_MASKING.mask_prob)
glue("mask_frac", rtd.ELECTRA_MASKING.mask_frac);

# %% [markdown]
# ### 3.2 Loss values at initialisation, and the size of $\lambda$
#
# At initialisation all logits are close to zero. A zero logit vector over $V$
# tokens is the uniform distribution, so $\mathcal{L}_\text{MLM} = \log V$; a zero
# discriminator logit is $\sigma(0) = 1/2$, so every token costs
# $\ell(0, y) = \log 2$ whatever its label:
#
# $$
# \mathcal{L}_\text{MLM}\big|_\text{init} = \log V, \qquad
# \mathcal{L}_\text{Disc}\big|_\text{init} = \log 2, \qquad
# \frac{\mathcal{L}_\text{MLM}}{\mathcal{L}_\text{Disc}}\Big|_\text{init} = \log_2 V .
# $$
#
# The code agrees on the masked batch, with $V$ = {glue:text}`V:d`:

# %%
B, T = ids.shape
zero_gen = torch.zeros(B, T, V, dtype=torch.float64)  # (B, T, V) a uniform generator
zero_disc = torch.zeros(B, T, dtype=torch.float64)  # (B, T) an undecided discriminator
at_zero = losses.rtd_loss(zero_gen, masked.mlm_labels, zero_disc,
                          corrupted.disc_labels, attn)
check("init_mlm_diff", at_zero.mlm, math.log(V))
check("init_disc_diff", at_zero.disc, math.log(2))

lam = inspect.signature(losses.rtd_loss).parameters["disc_weight"].default  # 50
check("init_total_diff", at_zero.total, math.log(V) + lam * math.log(2));

# %% tags=["remove-cell"]
glue("lam", lam)
glue("log_V", math.log(V))
glue("log_2", math.log(2))
glue("ratio_init", math.log(V) / math.log(2));

# %% [markdown]
# A freshly initialised tiny ELECTRA pair (`rmdlib.rtd.build_pair`, weights drawn
# from $\mathcal{N}(0, 0.02^2)$ as in BERT) is very close to this idealisation: one
# RTD step on the same batch gives $\mathcal{L}_\text{MLM}$ = {glue:text}`pair_mlm:.4f`
# against $\log V$ = {glue:text}`log_V:.4f`, and $\mathcal{L}_\text{Disc}$ =
# {glue:text}`pair_disc:.4f` against $\log 2$ = {glue:text}`log_2:.4f`.

# %%
pair = rtd.build_pair(V, hidden=64, layers=2, heads=4).eval()  # eval(): no dropout
batch = {"input_ids": ids, "attention_mask": attn, "special_tokens_mask": special}
with torch.no_grad():
    step = rtd.rtd_step(pair, batch, mask_token_id=tok.mask_token_id,
                        special_ids=tok.all_special_ids, disc_weight=lam,
                        generator=torch.Generator().manual_seed(P.seed))
print(f"tiny pair at init: L_MLM = {step.loss.mlm:.4f} (log V = {math.log(V):.4f}), "
      f"L_Disc = {step.loss.disc:.4f} (log 2 = {math.log(2):.4f})")
# within 5 % of the idealisation
assert abs(step.loss.mlm.item() - math.log(V)) < 0.05 * math.log(V)
assert abs(step.loss.disc.item() - math.log(2)) < 0.05 * math.log(2)

# %% tags=["remove-cell"]
glue("pair_mlm", step.loss.mlm.item())
glue("pair_disc", step.loss.disc.item());

# %% [markdown]
# So the vocabulary-wide loss starts $\log_2 V$ = {glue:text}`ratio_init:.2f` times
# larger than the binary one on our vocabulary, and
# {glue:text}`ratio_electra:.2f` times larger with ELECTRA's vocabulary of
# {glue:text}`V_electra:d` WordPiece tokens (the BERT uncased vocabulary). With
# $\lambda$ = {glue:text}`lam:.0f` the weighted discriminator term at initialisation
# is $\lambda \log 2$ = {glue:text}`lam_log2:.2f` nats against
# $\log V$ = {glue:text}`log_V_electra:.2f` for the generator.
#
# The gap widens as soon as training starts, because the discriminator's task has
# a very cheap first solution. Most tokens are original, so a discriminator that
# outputs the constant logit $b = \log\frac{r}{1-r}$, with $r$ the share of replaced
# tokens, already reaches the binary entropy
# $H(r) = -r\log r - (1-r)\log(1-r)$. The generator's cheapest solution, a
# context-free unigram model, still pays the unigram cross-entropy of the masked
# tokens. On our batch $r$ = {glue:text}`replaced_share:.3f`, so the constant
# discriminator sits at {glue:text}`H_r:.4f` nats while the unigram generator sits at
# {glue:text}`unigram_ce:.4f`: a ratio of {glue:text}`ratio_const:.1f`, larger than
# the {glue:text}`ratio_init:.2f` at initialisation. (Once the generator improves,
# fewer of its samples differ from the original, $r$ falls and $H(r)$ with it.)

# %%
V_ELECTRA = 30522  # google/electra-*-discriminator: BERT's uncased WordPiece vocabulary

nonpad = attn.bool()
r = corrupted.disc_labels[nonpad].double().mean()  # share of replaced tokens
# the best constant logit, log(r / (1 - r)), at every position
const_logits = torch.full((B, T), math.log(r / (1 - r)), dtype=torch.float64)
H_r = -(r * r.log() + (1 - r) * (1 - r).log())
const_bce = losses.binary_cross_entropy(const_logits, corrupted.disc_labels, nonpad)
check("const_disc_diff", const_bce, H_r)

all_ids = tok(docs, truncation=True, max_length=128, return_special_tokens_mask=True)
counts = torch.ones(V, dtype=torch.float64)  # add-one smoothing: no probability is 0
for seq, spec in zip(all_ids["input_ids"], all_ids["special_tokens_mask"]):
    real = torch.tensor(seq)[~torch.tensor(spec, dtype=torch.bool)]  # no special tokens
    counts += torch.bincount(real, minlength=V)
unigram_logits = counts.log().expand(B, T, V)  # (B, T, V) the same at every position
unigram_ce = losses.mlm_loss(unigram_logits, masked.mlm_labels)
print(f"constant discriminator: {H_r:.4f} nats; "
      f"unigram generator: {unigram_ce:.4f} nats")

# %% tags=["remove-cell"]
glue("V_electra", V_ELECTRA)
glue("log_V_electra", math.log(V_ELECTRA))
glue("ratio_electra", math.log2(V_ELECTRA))
glue("lam_log2", lam * math.log(2))
glue("lam_over_equal", lam / math.log2(V_ELECTRA))
glue("replaced_share", r.item())
glue("H_r", H_r.item())
glue("unigram_ce", unigram_ce.item())
glue("ratio_const", (unigram_ce / H_r).item());

# %% [markdown]
# The binary loss is therefore always much smaller than the vocabulary-wide one,
# and without a weight the generator's term would dominate the sum. Clark et al. set
# $\lambda = 50$, a value picked among a few tried in early experiments
# {cite}`clark2020electra` (appendix A; `disc_weight = 50.0` in the reference
# `configure_pretraining.py`). It makes the discriminator, the model we keep, the
# larger term of the objective.
#
# Where exactly does $\lambda$ act? ELECTRA trains with Adam {cite}`kingma2015adam`
# (with decoupled weight decay {cite}`loshchilov2019decoupled`), whose update
# $m/(\sqrt{v} + \epsilon)$ hardly changes when a gradient is multiplied by a
# constant ({ref}`ch-02-ex4`). For parameters that only one loss reaches,
# the discriminator's transformer layers or the generator's, $\lambda$ is almost
# irrelevant. It matters where the two gradients add up: in the token embeddings
# the two networks share, and in the global gradient-norm clipping that sees both.
# There, $\lambda$ = {glue:text}`lam:.0f` lets the discriminator's
# signal set the direction.
#
# ### 3.3 Every token gives a training signal
#
# The masked-LM loss has terms only at the masked positions; the discriminator loss
# has one at every non-pad token. We can count the positions that receive a
# gradient directly: make the logits leaf tensors, back-propagate each loss, and
# count the positions whose gradient is not zero.

# %%
gen_logits = torch.zeros(B, T, V, requires_grad=True)  # (B, T, V)
disc_logits = torch.zeros(B, T, requires_grad=True)  # (B, T)
out = losses.rtd_loss(gen_logits, masked.mlm_labels, disc_logits,
                      corrupted.disc_labels, attn)
grad_gen, = torch.autograd.grad(out.mlm, gen_logits)
grad_disc, = torch.autograd.grad(out.disc, disc_logits)
mlm_positions = (grad_gen.abs().sum(-1) > 0).sum(-1)  # (B,) with an MLM gradient
rtd_positions = (grad_disc != 0).sum(-1)  # (B,) positions with a discriminator gradient
assert torch.equal(mlm_positions, masked.selected.sum(-1))  # exactly the masked ones
assert torch.equal(rtd_positions, attn.sum(-1))  # exactly the non-pad tokens

mlm_share = (mlm_positions.sum() / rtd_positions.sum()).item()
print(f"positions with a gradient: MLM {int(mlm_positions.sum())}, "
      f"RTD {int(rtd_positions.sum())} ({mlm_share:.1%} vs 100 %)")

# %% tags=["remove-cell"]
glue("mlm_share", mlm_share)
glue("signal_ratio", 1 / mlm_share)
glue("mlm_positions", int(mlm_positions.sum()))
glue("rtd_positions", int(rtd_positions.sum()));

# %% [markdown]
# Across the batch, {glue:text}`mlm_positions:d` positions receive a masked-LM
# gradient and {glue:text}`rtd_positions:d` a discriminator gradient: the
# generator learns from {glue:text}`mlm_share:.1%` of the tokens, the discriminator
# from all of them, {glue:text}`signal_ratio:.1f` times as many. The figure shows
# the same count per sequence.

# %% tags=["hide-input"]
x = np.arange(B)
fig, ax = plt.subplots(figsize=(9, 3.4))
ax.bar(x - 0.2, rtd_positions.numpy(), width=0.4, label="RTD: every non-pad token")
ax.bar(x + 0.2, mlm_positions.numpy(), width=0.4, label=f"MLM: masked tokens ({rtd.ELECTRA_MASKING.mask_prob:.0%})")
ax.set(xlabel="sequence in the batch", ylabel="positions with a non-zero gradient",
       title="Where the loss has terms: one masked batch")
ax.set_xticks(x)
ax.set_ylim(0, 1.3 * rtd_positions.max().item())  # room for the legend above the bars
ax.legend(loc="upper center", ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# Two caveats keep this honest. First, each loss is a *mean*, so more positions do
# not make the gradient larger; they make it an average over more terms, a
# less noisy estimate from the same forward pass. Second, a binary label carries
# less information than a token identity. Whether the trade pays off is an
# empirical question; ELECTRA's ablation that computes the discriminator loss only
# on the masked positions ("ELECTRA 15%") loses most of the gain over BERT
# {cite}`clark2020electra`, and chapter 3 compares RTD with MLM at equal compute on
# the micro-world.
#
# What the name does not mean is chapter 1's "common mistake" box. What it implies for
# the rest of the book: nothing is replaced at fine-tuning or inference time. The
# corruption exists only during pretraining, and what is kept is the discriminator, as
# an encoder.
#
# ## 4. Token cross-entropy with ignored positions
#
# Token classification (named entities in chapter 4, sentence boundaries in
# chapter 5) and the generator's masked-LM loss are the same loss: a
# {term}`softmax` cross-entropy at some positions, with the label
# {glue:text}`ignore_index:d` (the {term}`ignore index`) at every position that must
# not count: padding, the `[CLS]`/`[SEP]` tokens, the second and later sub-tokens of a word,
# the unmasked tokens of MLM. With $p_i = \operatorname{softmax}(z_i)$ over $C$
# classes and $K$ the set of kept positions,
#
# $$
# \mathcal{L} = \frac{1}{|K|}\sum_{i \in K} -\log p_{i, y_i},
# \qquad -\log p_{i,y} = -z_{i,y} + \log\sum_{c} e^{z_{i,c}} .
# $$
#
# The derivative of the log-sum-exp in $z_{i,c}$ is $p_{i,c}$, so
#
# $$
# \boxed{\frac{\partial \mathcal{L}}{\partial z_{i,c}} = \frac{p_{i,c} - \mathbb{1}[c = y_i]}{|K|}\ \text{ for } i \in K,
# \qquad \frac{\partial \mathcal{L}}{\partial z_{i,c}} = 0 \ \text{ for } i \notin K.}
# $$
#
# The same "probability minus label" shape as the binary case, now a vector. Note
# the denominator: the number of *kept* positions, not $B \cdot T$.

# %% tags=["hide-input"]
source(losses.token_cross_entropy)

# %%
C = len(synth.LABELS)  # the micro-world's NER tag set, C = 9
logits = 2 * torch.randn(4, 10, C, generator=g, dtype=torch.float64)  # (B, T, C)
logits.requires_grad_()
labels = torch.randint(0, C, (4, 10), generator=g)
labels[torch.rand(4, 10, generator=g) < 0.4] = IGNORE_INDEX  # sub-tokens, pads, ...
ce = losses.token_cross_entropy(logits, labels)
ce.backward()

kept = labels != IGNORE_INDEX  # (B, T)
probs = logits.detach().softmax(-1)  # (B, T, C)
onehot = F.one_hot(labels.clamp_min(0), C).double()  # (B, T, C); ignored rows unused
closed = torch.where(kept[..., None], (probs - onehot) / kept.sum(), 0.0)
check("ce_grad_diff", logits.grad, closed)
uniform = losses.token_cross_entropy(torch.zeros_like(logits), labels)
check("ce_uniform_diff", uniform, math.log(C));

# %% tags=["remove-cell"]
glue("ignore_index", IGNORE_INDEX)
glue("C", C)
glue("log_C", math.log(C));

# %% [markdown]
# Uniform logits give $\log C$ = {glue:text}`log_C:.4f` for the $C$ =
# {glue:text}`C:d` tags, as they must. Two mistakes with the denominator are
# common. Dividing by all $B \cdot T$ positions instead of $|K|$ shrinks the loss
# (and the gradient) by the kept share, here {glue:text}`kept_share:.2f`, which then
# changes from batch to batch with the amount of padding. And when no position is
# kept (a batch of windows that are all padding or all continuation sub-tokens),
# `F.cross_entropy(..., reduction="mean")` divides 0 by 0 and returns
# {glue:text}`ce_all_ignored_torch`, which poisons every weight at the next step;
# `token_cross_entropy` returns {glue:text}`ce_all_ignored_ours:.1f` with a zero
# gradient.

# %%
per_token = -probs.log().gather(-1, labels.clamp_min(0)[..., None])[..., 0]  # (B, T)
diluted = per_token[kept].sum() / labels.numel()  # wrong denominator: every position
kept_share = kept.sum().item() / labels.numel()  # |K| / (B T)
check("ce_dilution_diff", diluted / ce.detach(), kept_share)

all_ignored = torch.full((4, 10), IGNORE_INDEX)
torch_value = F.cross_entropy(logits.detach().reshape(-1, C), all_ignored.reshape(-1))
ours_value = losses.token_cross_entropy(logits.detach(), all_ignored)
print(f"all positions ignored: F.cross_entropy -> {torch_value.item()}, "
      f"token_cross_entropy -> {ours_value.item()}")

# %% tags=["remove-cell"]
glue("kept_share", kept_share)
glue("ce_all_ignored_torch", str(torch_value.item()))
glue("ce_all_ignored_ours", ours_value.item());

# %% [markdown]
# ## 5. Label smoothing
#
# Cross-entropy against a one-hot target can only be driven to zero by pushing the
# correct logit infinitely far above the others. Label smoothing
# {cite}`szegedy2016rethinking` replaces the one-hot target by a mixture with the
# uniform distribution, with weight $\varepsilon$:
#
# $$
# \begin{aligned}
# \tilde q_c &= (1 - \varepsilon)\,\mathbb{1}[c = y] + \frac{\varepsilon}{C},\\
# \ell_\varepsilon &= -\sum_c \tilde q_c \log p_c
#   = (1-\varepsilon)\bigl(-\log p_y\bigr) + \varepsilon\,\frac{1}{C}\sum_c\bigl(-\log p_c\bigr).
# \end{aligned}
# $$
#
# (This is PyTorch's convention, in which the true class also receives its share
# $\varepsilon/C$ of the uniform part.) Because $\sum_c \tilde q_c = 1$, the same
# log-sum-exp step as in section 4 gives
#
# $$
# \boxed{\frac{\partial \ell_\varepsilon}{\partial z_c} = p_c - \tilde q_c,}
# $$
#
# which is zero exactly when $p = \tilde q$. The optimum is now finite: the correct
# logit sits above every other one by
#
# $$
# \Delta^\star = \log\frac{\tilde q_y}{\tilde q_{c \neq y}} = \log\Bigl(1 + \frac{C(1-\varepsilon)}{\varepsilon}\Bigr).
# $$
#
# With $C$ = {glue:text}`C:d` and $\varepsilon$ = {glue:text}`eps:.1f` that is
# $\Delta^\star$ = {glue:text}`gap_star:.4f`. The regulariser keeps logits from
# growing without bound and the model from becoming over-confident
# {cite}`muller2019does`; chapter 6 measures what it does to NER.

# %%
eps = 0.1  # a common choice (Szegedy et al. used 0.1 on ImageNet)
logits.grad = None
smoothed = losses.token_cross_entropy(logits, labels, label_smoothing=eps)
smoothed.backward()
q_tilde = (1 - eps) * onehot + eps / C  # (B, T, C) the smoothed targets
closed = torch.where(kept[..., None], (probs - q_tilde) / kept.sum(), 0.0)
check("ls_grad_diff", logits.grad, closed)

at_optimum = q_tilde.log().requires_grad_()  # logits whose softmax is exactly q_tilde
losses.token_cross_entropy(at_optimum, labels, label_smoothing=eps).backward()
check("ls_optimum_grad", at_optimum.grad, 0.0)  # the gradient vanishes at p = q_tilde
gap_star = math.log(1 + C * (1 - eps) / eps)
gap = (at_optimum[0, 0].max() - at_optimum[0, 0].min()).detach()
check("ls_gap_diff", gap, gap_star);

# %% tags=["remove-cell"]
glue("eps", eps)
glue("gap_star", gap_star);

# %% [markdown]
# The left panel shows the targets for one `B-PER` token; the right panel the
# loss of one token as a function of the gap $\Delta$ between the correct logit and
# the others (all equal), computed with `token_cross_entropy`. Without smoothing the
# loss keeps falling as $\Delta$ grows; with smoothing it has its minimum at
# $\Delta^\star$.

# %% tags=["hide-input"]
fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 3.6))
y_true = synth.LABELS.index("B-PER")
cls = np.arange(C)
ax_t.bar(cls - 0.2, F.one_hot(torch.tensor(y_true), C).numpy(), width=0.4, label="one-hot target")
smooth_target = np.full(C, eps / C)
smooth_target[y_true] += 1 - eps
ax_t.bar(cls + 0.2, smooth_target, width=0.4, label=f"smoothed, ε = {eps}")
ax_t.set_xticks(cls, synth.LABELS, rotation=45)
ax_t.set(xlabel="tag", ylabel="target probability", title="Target distribution")
ax_t.legend()
gaps = torch.linspace(0, 10, 201, dtype=torch.float64)
gap_logits = torch.zeros(len(gaps), 1, C, dtype=torch.float64)
gap_logits[:, 0, y_true] = gaps  # (G, 1, C) one token per gap value
one_label = torch.tensor([[y_true]])
for e in (0.0, eps):
    curve = [losses.token_cross_entropy(gl[None], one_label, label_smoothing=e).item() for gl in gap_logits]
    ax_l.plot(gaps, curve, label=f"ε = {e}")
ax_l.axvline(gap_star, color="gray", ls="--", label=f"Δ* for ε = {eps}")
ax_l.set(xlabel="logit gap Δ (correct − others)", ylabel="loss of one token", title="Where the loss is minimal")
ax_l.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Distillation and the $T^2$ factor
#
# In knowledge distillation {cite}`hinton2015distilling` a student with logits $s$
# learns to match a teacher with logits $t$ (chapter 7). Both are softened by a
# {term}`temperature` $T > 1$:
#
# $$
# \begin{aligned}
# p &= \operatorname{softmax}(t / T), \qquad q = \operatorname{softmax}(s / T),\\
# \mathcal{L}_\text{KD} &= T^2\,\frac{1}{N}\sum_{i=1}^{N} \operatorname{KL}(p_i \,\|\, q_i),
# \qquad \operatorname{KL}(p \,\|\, q) = \sum_c p_c \log\frac{p_c}{q_c}.
# \end{aligned}
# $$
#
# The {term}`Kullback–Leibler divergence` differs from the cross-entropy
# $-\sum_c p_c \log q_c$ only by the teacher's entropy, a constant for the
# student. So section 4 with soft targets applies: the gradient in the scaled
# logits $u = s/T$ is $q - p$, and the chain rule adds a factor $1/T$:
#
# $$
# \frac{\partial\, \operatorname{KL}(p \,\|\, q)}{\partial s_c} = \frac{1}{T}\,(q_c - p_c),
# \qquad
# \boxed{\frac{\partial \mathcal{L}_\text{KD}}{\partial s_{i,c}} = \frac{T\,(q_{i,c} - p_{i,c})}{N}.}
# $$
#
# Why multiply by $T^2$? For large $T$, $e^{x/T} \approx 1 + x/T$, so with
# $\bar s$ and $\bar t$ the means of the logits over the $C$ classes,
#
# $$
# q_c - p_c \approx \frac{(s_c - \bar s) - (t_c - \bar t)}{C\,T},
# \qquad\text{hence}\qquad
# \frac{\partial\, \operatorname{KL}}{\partial s_c} \approx \frac{(s_c - \bar s) - (t_c - \bar t)}{C\,T^2}.
# $$
#
# The soft-target gradient shrinks like $1/T^2$, Hinton et al.'s observation
# (section 2). Multiplying the loss by $T^2$ cancels it exactly: the gradient of
# $\mathcal{L}_\text{KD}$ tends to $\bigl((s - \bar s) - (t - \bar t)\bigr)/(CN)$,
# the same for every large $T$, so that changing the temperature does not silently
# change the effective learning rate or the balance with a hard-label loss.
# The reduction is PyTorch's `batchmean`: a sum over classes, a mean over tokens
# (`reduction="mean"` would also divide by $C$).

# %% tags=["hide-input"]
source(losses.distillation_loss)

# %%
student = 2 * torch.randn(4, 10, C, generator=g, dtype=torch.float64)  # (B, T, C)
student.requires_grad_()
teacher = 2 * torch.randn(4, 10, C, generator=g, dtype=torch.float64)  # (B, T, C)
kd_mask = torch.rand(4, 10, generator=g) < 0.7  # (B, T) e.g. first sub-tokens only
n_kd = kd_mask.sum()
diffs = []
for temperature in (1.0, 2.0, 4.0, 8.0):
    student.grad = None
    loss = losses.distillation_loss(student, teacher, temperature=temperature,
                                    mask=kd_mask)
    loss.backward()
    q = (student.detach() / temperature).softmax(-1)
    p = (teacher / temperature).softmax(-1)
    closed = torch.where(kd_mask[..., None], temperature * (q - p) / n_kd, 0.0)
    diffs.append(check(f"kd_grad_diff_T{temperature:.0f}", student.grad, closed))
glue("kd_grad_diff", max(diffs));


# %% [markdown]
# The closed form $T(q - p)/N$ holds at every temperature (largest difference
# {glue:text}`kd_grad_diff:.1e`). Now the limit. The figure measures, with
# autograd, the norm of the student's gradient with and without the $T^2$ factor as
# the temperature grows, and marks the large-$T$ limit derived above.

# %%
def grad_norm(temperature, scale_back):
    """|d loss / d student| of distillation_loss; / T^2 when scale_back (plain KL)."""
    s_leaf = student.detach().clone().requires_grad_()
    loss = losses.distillation_loss(s_leaf, teacher, temperature=temperature,
                                    mask=kd_mask)
    (loss / temperature**2 if scale_back else loss).backward()
    return s_leaf.grad.norm().item()


temps = np.logspace(0, 3, 25)
with_t2 = np.array([grad_norm(t, scale_back=False) for t in temps])
plain_kl = np.array([grad_norm(t, scale_back=True) for t in temps])
def centered(x):
    """Logits minus their mean over the classes."""
    return x - x.mean(-1, keepdim=True)


gap_st = centered(student.detach()) - centered(teacher)  # (B, T, C)
limit = torch.where(kd_mask[..., None], gap_st / (C * n_kd), 0.0)
limit_norm = limit.norm().item()

slope = np.polyfit(np.log(temps[temps >= 30]), np.log(plain_kl[temps >= 30]), 1)[0]
rel_err = np.abs(with_t2 / limit_norm - 1)
assert abs(slope + 2) < 0.01, slope  # plain KL: gradient ~ 1/T^2
# T^2 * KL tends to the limit
assert rel_err[-1] < 1e-2 and rel_err[-1] < rel_err[len(temps) // 2] / 10
print(f"plain KL: log-log slope {slope:.3f}; "
      f"T^2 * KL at T = {temps[-1]:.0f}: {rel_err[-1]:.1e} from the limit")

# %% tags=["remove-cell"]
glue("kd_slope", float(slope))
glue("kd_limit_err", float(rel_err[-1]))
glue("kd_T_max", float(temps[-1]));

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.loglog(temps, with_t2, marker="o", ms=3, label="T² · KL (distillation_loss)")
ax.loglog(temps, plain_kl, marker="o", ms=3, label="KL alone")
ax.axhline(limit_norm, color="gray", ls="--", label="large-T limit  |(s − s̄) − (t − t̄)| / (CN)")
ax.set(xlabel="temperature T", ylabel="gradient norm w.r.t. student logits",
       title="Why distillation multiplies by T²")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Without the factor the gradient falls along a line of slope
# {glue:text}`kd_slope:.3f` on the log-log plot, i.e. like $1/T^2$; with it the
# gradient settles on the limit, {glue:text}`kd_limit_err:.1e` away (relative) at
# $T$ = {glue:text}`kd_T_max:.0f`.
#
# ## Exercises
#
# ```{exercise} ★★ · 20 min
# :label: ch-02-ex1
# Derive the gradient of the label-smoothed cross-entropy $\ell_\varepsilon$ of
# section 5 with respect to the logits, starting from
# $-\log p_c = -z_c + \log\sum_k e^{z_k}$. Then find the logits that minimise it and
# the optimal gap $\Delta^\star$ between the correct logit and the others. What
# happens to $\Delta^\star$ as $\varepsilon \to 0$?
# ```
#
# ```{solution} ch-02-ex1
# :class: dropdown
# $\ell_\varepsilon = \sum_c \tilde q_c\bigl(-z_c + \log\sum_k e^{z_k}\bigr)
# = -\sum_c \tilde q_c z_c + \log\sum_k e^{z_k}$ because $\sum_c \tilde q_c = 1$.
# Differentiating, $\partial\ell_\varepsilon/\partial z_c = -\tilde q_c + p_c$. The loss
# is convex in $z$, so the minimum is where $p = \tilde q$, i.e. $z_c = \log\tilde q_c + \text{const}$.
# The gap is $\log\tilde q_y - \log\tilde q_{c\neq y} = \log\frac{1 - \varepsilon + \varepsilon/C}{\varepsilon / C}
# = \log\bigl(1 + C(1-\varepsilon)/\varepsilon\bigr)$, which is
# {glue:text}`gap_star:.4f` for $C$ = {glue:text}`C:d` and $\varepsilon$ = {glue:text}`eps:.1f`
# (the cell of section 5 checks that the gradient vanishes there). As
# $\varepsilon \to 0$ the gap grows like $\log(C/\varepsilon)$ without bound: plain
# cross-entropy has no finite minimiser.
# ```
#
# ```{exercise} ★ · 10 min
# :label: ch-02-ex2
# ELECTRA uses a vocabulary of $V$ = {glue:text}`V_electra:d` tokens. Which weight
# $\lambda$ would make the two terms of the RTD loss equal at initialisation? How many
# times larger than the generator's term is the discriminator's with ELECTRA's $\lambda$?
# ```
#
# ```{solution} ch-02-ex2
# :class: dropdown
# At initialisation $\mathcal{L}_\text{MLM} = \log V$ and $\mathcal{L}_\text{Disc} = \log 2$,
# so the terms are equal for $\lambda^\star = \log V / \log 2 = \log_2 V$ =
# {glue:text}`ratio_electra:.2f`. With $\lambda$ = {glue:text}`lam:.0f` the weighted
# discriminator term is $\lambda/\lambda^\star$ = {glue:text}`lam_over_equal:.2f` times
# the generator's. After the first steps the ratio of the unweighted losses grows (section 3.2),
# so the discriminator's share of the total grows further.
# ```
#
# ```{exercise} ★★ · 15 min
# :label: ch-02-ex3
# Why does distillation multiply the KL divergence by $T^2$ and not by $T$, although
# the chain rule through $s/T$ only contributes one factor $1/T$?
# ```
#
# ```{solution} ch-02-ex3
# :class: dropdown
# The chain rule gives $\partial\operatorname{KL}/\partial s = (q - p)/T$, but $q - p$
# itself shrinks with the temperature: both distributions approach the uniform one,
# and to first order $q_c - p_c \approx \bigl((s_c - \bar s) - (t_c - \bar t)\bigr)/(CT)$.
# The gradient is therefore $O(1/T^2)$. Multiplying by $T$ would leave $O(1/T)$, so
# raising the temperature would still shrink the soft-target gradient; $T^2$ makes it
# independent of $T$ in the limit (the figure of section 6 shows the slope of
# {glue:text}`kd_slope:.3f` without the factor).
# ```
#
# ```{exercise} ★★★ · 25 min
# :label: ch-02-ex4
# Adam updates a parameter by $-\eta\,\hat m/(\sqrt{\hat v} + \epsilon)$, where $\hat m$ and
# $\hat v$ are running means of the gradient and of its square. Show that multiplying a loss by
# a constant $\lambda > 0$ leaves the update of a parameter that only this loss reaches
# unchanged (up to $\epsilon$). Which parameters of an ELECTRA pair does $\lambda$ affect then?
# ```
#
# ```{solution} ch-02-ex4
# :class: dropdown
# With gradients $\lambda g_k$, the running means become $\lambda\hat m$ and $\lambda^2\hat v$,
# so the update is $-\eta\,\lambda\hat m/(\lambda\sqrt{\hat v} + \epsilon)$, which equals the
# original update when $\epsilon \ll \lambda\sqrt{\hat v}$. The discriminator's own layers (reached
# only by $\mathcal{L}_\text{Disc}$) and the generator's own layers (reached only by
# $\mathcal{L}_\text{MLM}$) are therefore nearly unaffected. $\lambda$ acts on the shared
# embeddings, whose gradient is the sum of both losses' gradients and whose direction it
# tilts towards the discriminator's, and on any global gradient-norm clipping, which
# sees the weighted sum.
# ```
#
# ## Summary
#
# * Binary cross-entropy is the negative log-likelihood of a Bernoulli label; in the
#   logit it is $\operatorname{softplus}(z) - yz$, stable for any $z$, with gradient $\sigma(z) - y$.
# * The RTD objective is $\mathcal{L}_\text{MLM} + \lambda\,\mathcal{L}_\text{Disc}$. At
#   initialisation the two terms are $\log V$ and $\log 2$, and the binary loss stays much
#   smaller during training; ELECTRA's $\lambda$ = {glue:text}`lam:.0f` makes the
#   discriminator's term the larger one, which matters where the gradients meet, in the
#   shared embeddings.
# * The discriminator has a loss term at every non-pad token, the generator only at
#   the {glue:text}`mlm_share:.1%` of tokens that were masked in our batch.
# * Token cross-entropy averages over the kept positions only; its gradient is
#   $(p - \text{onehot})/|K|$, zero at ignored positions, and an all-ignored batch gives 0, not NaN.
# * Label smoothing replaces the target by $\tilde q$; the gradient becomes $p - \tilde q$
#   and the optimal logit gap becomes finite.
# * Distillation's gradient is $T(q - p)/N$; the $T^2$ factor cancels the $1/T^2$ decay
#   of the soft-target gradient.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("02_losses")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`clark2020electra` for the RTD objective and $\lambda$,
# {cite:t}`devlin2019bert` for masked language modeling,
# {cite:t}`bishop2006pattern` and {cite:t}`goodfellow2016deep` for the Bernoulli
# likelihood and the softplus form of binary cross-entropy,
# {cite:t}`szegedy2016rethinking` and {cite:t}`muller2019does` for label smoothing,
# {cite:t}`hinton2015distilling` for distillation and the $T^2$ factor, and
# {cite:t}`kingma2015adam` and {cite:t}`loshchilov2019decoupled` for the optimizer.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
