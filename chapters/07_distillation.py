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
# (ch-07)=
# # 7. Distillation
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. explain what a teacher's softened output distribution tells a student that a gold
#    tag does not, and what the {term}`temperature` $T$ does to it;
# 2. write the distillation loss for a tagger, mixing soft targets and hard labels, and
#    say why it carries the factor $T^2$;
# 3. say why a student made of every other teacher layer, as DistilBERT's, saves little
#    when embeddings dominate, and build a narrower one;
# 4. distil a teacher on unlabelled text, measure the trade-off a student offers
#    (parameters, CPU latency, entity F1), and decide with paired intervals whether soft
#    targets beat the labels and the teacher's hard tags;
# 5. say how this task-specific distillation differs from DistilBERT's.
# :::
#
# What the chapter assumes (the Transformer block, tokenizers, PyTorch basics) is in
# {ref}`app-prerequisites`.
#
# **Time:** about 50 minutes to read and run; the code ran in
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
# ## 1. The teacher
#
# {term}`Knowledge distillation` {cite}`hinton2015distilling` trains a small model,
# the *student*, to imitate a larger trained one, the *teacher*. The teacher here is
# the tagger of chapter 4: the pretrained encoder with a task head, fine-tuned on the
# full micro-world training split with the same recipe, keeping the weights of the
# best validation F1.

# %%
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from datasets import DatasetDict
from IPython.display import display

from rmdlib import data, distill, infer, models, tokens, zoo
from rmdlib.compare import paired_f1
from rmdlib.losses import IGNORE_INDEX
from rmdlib.metrics import entity_scores
from rmdlib.tagging import (TaggingConfig, evaluate_tagger, finetune_tagger,
                            fit_tagger, label_names, windows)
from rmdlib.train import TrainConfig

# The offline sizes; a Colab run (scale 8) reads every CoNLL-2003 sentence.
ner = P.head(data.load_ner(P.ner_data), train=5000, validation=1000, test=1000)
names = label_names(ner)
tok = zoo.tokenizer(P)
TAGGING = TaggingConfig(batch_size=32, dropout=0.1)
FINETUNE = TrainConfig(lr=P.finetune_lr, max_steps=P.n(400),
                       warmup_ratio=0.1, eval_every=P.n(200), monitor="f1", mode="max",
                       seed=P.seed, log_every=20)

torch.manual_seed(P.seed)
t0 = time.perf_counter()
teacher, _ = finetune_tagger(models.build_encoder(zoo.encoder(P)).to(P.device),
                             ner, tok, FINETUNE, TAGGING, device=P.device)
teacher_seconds = time.perf_counter() - t0
teacher.eval()
teacher_f1 = evaluate_tagger(teacher, tok, ner["test"], TAGGING, device=P.device)["f1"]
glue("teacher_f1", teacher_f1)
glue("teacher_seconds", teacher_seconds)
glue("teacher_layers", teacher.config.num_hidden_layers)
glue("teacher_hidden", teacher.config.hidden_size)
print(f"teacher: test entity F1 {teacher_f1:.3f} ({teacher_seconds:.0f} s)")

# %% [markdown]
# The teacher ({glue:text}`teacher_layers:d` layers of width {glue:text}`teacher_hidden:d`)
# reaches test entity F1 {glue:text}`teacher_f1:.3f` after {glue:text}`teacher_seconds:.0f` s
# of fine-tuning.
#
# ## 2. What soft targets carry
#
# A gold tag says only which class is right. The teacher's output distribution also
# says how wrong each other class is: for a word of an organisation name it may give
# `I-ORG` most of its mass, but `I-LOC` far more than `I-PER`, a statement about which
# confusions are plausible that no hard label contains. It is often called
# {term}`dark knowledge`; in Hinton et al.'s words, "the relative probabilities of
# incorrect answers tell us a lot about how the cumbersome model tends to generalize".
# At the usual temperature $T = 1$ the softmax is so peaked that these small
# probabilities hardly affect a cross-entropy; dividing the logits by $T > 1$ before
# the softmax,
#
# $$
# p_c(T) = \frac{\exp(t_c / T)}{\sum_k \exp(t_k / T)},
# $$
#
# flattens the distribution and lets them speak. Here is the teacher's distribution for
# the first word of a multi-word test entity, at four temperatures:

# %%
test_words = ner["test"]["tokens"]
test_tags = [[names[t] for t in row] for row in ner["test"]["ner_tags"]]
sent, word = next((i, k) for i, tags in enumerate(test_tags) for k, t in enumerate(tags)
                  if t.startswith("B-") and k + 1 < len(tags)
                  and tags[k + 1].startswith("I-"))
enc = tok(test_words[sent], is_split_into_words=True, return_tensors="pt")
# the word's first sub-token, where its tag is read
position = enc.word_ids(0).index(word)
with torch.no_grad():
    logits = (teacher(**{k: v.to(P.device) for k, v in enc.items()})
              .logits[0, position].float().cpu())
TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
soft = pd.DataFrame({f"T = {T:g}": torch.softmax(logits / T, dim=-1).numpy()
                     for T in TEMPERATURES}, index=names)
ax = soft.plot.bar(figsize=(10, 3.4), rot=0, width=0.8)
ax.set(ylabel="teacher probability",
       title=f"Teacher's distribution for '{test_words[sent][word]}' "
             f"(gold {test_tags[sent][word]}) at four temperatures")
ax.figure.tight_layout()
plt.show()
entropy = {T: float(-(soft[f"T = {T:g}"] * np.log(soft[f"T = {T:g}"])).sum())
           for T in TEMPERATURES}
glue("word", test_words[sent][word])
glue("gold_tag", test_tags[sent][word])
glue("top_p1", float(soft["T = 1"].max()))
glue("top_p4", float(soft["T = 4"].max()))
glue("H1", entropy[1.0])
glue("H4", entropy[4.0])
glue("logC", float(np.log(len(names))));

# %% [markdown]
# For "{glue:text}`word`" (gold tag {glue:text}`gold_tag`) the teacher puts
# {glue:text}`top_p1:.1%` on its top class at $T = 1$ and {glue:text}`top_p4:.1%` at
# $T = 4$; the entropy of the distribution rises from {glue:text}`H1:.3f` to
# {glue:text}`H4:.3f` nats (the maximum, a uniform guess over the tags, is
# $\log C$ = {glue:text}`logC:.3f`).
#
# ## 3. The distillation loss
#
# For a tagger the loss is taken per word, at the same first sub-tokens that carry the
# hard labels (every other position has the ignore index and is skipped). With student
# logits $s$, teacher logits $t$, $p = \operatorname{softmax}(t/T)$ and
# $q = \operatorname{softmax}(s/T)$, over the $N$ labelled tokens of a batch:
#
# $$
# \mathcal{L} = \alpha\, T^2\, \frac{1}{N}\sum_{i=1}^{N} \operatorname{KL}(p_i \,\|\, q_i)
#   + (1-\alpha)\, \frac{1}{N}\sum_{i=1}^{N} -\log \operatorname{softmax}(s_i)_{y_i}.
# $$
#
# Chapter 2 derived the factor $T^2$: the gradient of the KL term with respect to the
# student's logits is $(q - p)/T$ per token, so without $T^2$ the soft targets' pull
# would fade as $1/T^2$ at high temperature; with it the gradient is $T(q - p)/N$, and
# $\alpha$ keeps its meaning across temperatures. The teacher runs in eval mode under
# `torch.no_grad`: it is a fixed function, and none of its parameters is trained.
# `rmdlib.distill.distill_loss_fn` is this formula as a `loss_fn`, so the student trains
# with the same `finetune_tagger` and `fit` as every other model in the book:

# %% tags=["hide-input"]
source(distill.distill_loss_fn)

# %% [markdown]
# `tests/test_distill.py` checks it against the closed forms: the loss is 0 when the
# student equals the teacher, its gradient is $T(q - p)/N$ plus the cross-entropy's
# $(1-\alpha)(\operatorname{softmax}(s) - y)/N$, at $\alpha = 0$ it is plain token
# cross-entropy, and the teacher receives no gradient.
#
# ## 4. A narrower student
#
# DistilBERT {cite}`sanh2019distilbert` kept BERT's width, halved its depth, and
# initialised the student from the teacher by "taking one layer out of two".
# `distill.student_from_teacher` does the same for any BERT-like tagger: embeddings,
# the kept layers and the head are copied exactly.

# %% tags=["hide-input"]
source(distill.student_from_teacher)

# %%
def n_params(model):
    return sum(p.numel() for p in model.parameters())


EVERY = 2
halved = distill.student_from_teacher(teacher, every=EVERY)  # DistilBERT's recipe
embeddings = teacher.base_model.embeddings
kept = halved.config.num_hidden_layers
glue("halved_layers", kept)
glue("halved_layers_text", f"{kept} layer{'s' if kept != 1 else ''}")
glue("halved_share", n_params(halved) / n_params(teacher))
glue("embedding_share", n_params(embeddings) / n_params(teacher))
glue("teacher_params", n_params(teacher))
print(f"teacher {n_params(teacher):,} parameters; "
      f"every other layer: {n_params(halved):,}")
del halved

# %% [markdown]
# On our teacher that recipe saves little: the copy with
# {glue:text}`halved_layers_text` keeps {glue:text}`halved_share:.0%` of the teacher's
# {glue:text}`teacher_params:,` parameters, because the embeddings, which it keeps
# whole, are {glue:text}`embedding_share:.0%` of the teacher. (BERT-base's layers
# dominate its size, so DistilBERT's halved depth still removed 40 % of it.) To get
# a student several times smaller we make it *narrower*: a fresh encoder whose
# vectors, embeddings included, are much shorter than the teacher's, with two layers
# and two attention heads, built with the same `models.build_encoder` and
# `models.build_tagger` as every tagger in the book. A narrow student cannot copy the
# teacher's weights, so it starts from random ones and learns everything from its
# training signal.

# %%
STUDENT_SIZE = dict(hidden=32, layers=2, heads=2)


def new_student(seed):
    """A fresh narrow tagger for the teacher's vocabulary and tags."""
    torch.manual_seed(seed)  # initialisation
    encoder = models.build_encoder(vocab_size=len(tok), max_position=TAGGING.max_length,
                                   pad_token_id=tok.pad_token_id, **STUDENT_SIZE)
    return models.build_tagger(encoder, names, dropout=TAGGING.dropout).to(P.device)


student_params = n_params(new_student(P.seed))
glue("student_params", student_params)
glue("param_share", student_params / n_params(teacher))
glue("student_hidden", STUDENT_SIZE["hidden"])
glue("student_layers", STUDENT_SIZE["layers"])
print(f"student {student_params:,} parameters, "
      f"{student_params / n_params(teacher):.0%} of the teacher")

# %% [markdown]
# The student has {glue:text}`student_params:,` parameters,
# {glue:text}`param_share:.0%` of the teacher's ({glue:text}`student_layers:d` layers of
# width {glue:text}`student_hidden:d`, against the teacher's width of
# {glue:text}`teacher_hidden:d`). Every part is narrower, its embeddings included: an
# embedding matrix shrinks in proportion to the width, a layer's weight matrices with
# its square.
#
# ## 5. Where a teacher pays: unlabelled text
#
# A teacher is worth imitating where it knows more than the labels the student could
# get. That is the usual situation: gold tags are expensive, text is not. So we give
# every student the same small budget of annotation, the first
# {glue:text}`n_labelled:,` training sentences, and let the teacher annotate the rest.
# Four students, each trained from the same initialisation with the same recipe
# (steps, batch size, learning rate; each keeps its last weights):
#
# * **gold labels**: the token cross-entropy on the {glue:text}`n_labelled:,` labelled
#   sentences, what a small model gets without a teacher;
# * **teacher's hard tags**: the cross-entropy on all {glue:text}`n_transfer:,`
#   training sentences tagged with the teacher's top class, the limit $T \to 0$ of
#   the soft targets, where only the teacher's decision is passed on;
# * **soft targets at $T$ = 2 and 4**: the distillation loss with $\alpha = 1$ on the
#   same {glue:text}`n_transfer:,` sentences, where the student imitates the teacher's
#   whole distribution. {glue:text}`t1_note`
#
# The transfer sentences (the {term}`transfer set`) are the training split with its
# gold tags unread: at
# $\alpha = 1$ the loss uses only the teacher, and the tags serve only to mark where
# each word starts. Soft and hard targets see the same text, so the difference
# between them is what the teacher's distribution adds to its decision. One
# `distill.TeacherCache` holds the teacher's logits for every arm (the hard tags are
# their top class: `distill_loss_fn(..., hard=True)`), so the teacher reads each
# sentence once.

# %%
SEEDS = (0, 1, 2)
N_LABELLED = P.n(300)
STUDENT = TrainConfig(lr=P.student_lr, max_steps=P.n(120),
                      warmup_ratio=0.1, seed=P.seed, log_every=20)
labelled = DatasetDict(train=ner["train"].select(range(N_LABELLED)))
transfer = DatasetDict(train=ner["train"])  # transfer text, tags unread at alpha 1
# each set of sentences becomes training windows once, shared by all its students
win = {"labelled": windows(labelled, tok, TAGGING)["train"],
       "transfer": windows(transfer, tok, TAGGING)["train"]}
cache = distill.TeacherCache(teacher)  # teacher logits, shared by every arm
TEMPS = (2.0, 4.0)
ARMS = {"gold labels": ("labelled", None),
        "teacher's hard tags": ("transfer", {"hard": True}),  # its top class
        **{f"soft, T = {T:g}": ("transfer", {"temperature": T}) for T in TEMPS}}


def train_student(seed, windows_, targets, config=STUDENT):
    """A fresh narrow student on gold tags (None) or on the teacher's ``targets``."""
    loss_fn = None if targets is None else distill.distill_loss_fn(
        teacher, alpha=1.0, cache=cache, **targets)
    model = new_student(seed)
    torch.manual_seed(seed)  # dropout; the batch order follows the config's seed
    fit_tagger(model, windows_, tok, replace(config, seed=seed), TAGGING,
               loss_fn=loss_fn, device=P.device)
    return model.eval()


t0 = time.perf_counter()
preds, students = {}, {}
for name, (text, targets) in ARMS.items():
    for seed in SEEDS:
        students[name, seed] = train_student(seed, win[text], targets)
        preds[name, seed] = infer.predict_tags(students[name, seed], tok, test_words,
                                               batch_size=128, device=P.device)
student_seconds = time.perf_counter() - t0
glue("n_labelled", N_LABELLED)
glue("n_transfer", len(transfer["train"]))
glue("student_steps", STUDENT.max_steps)
glue("student_seconds", student_seconds)
glue("n_student_runs", len(preds));

# %% [markdown]
# Every comparison below is paired: both arms are scored on the same
# {glue:text}`n_test:,` test sentences, and `paired_f1` resamples those sentences to
# give the difference in entity F1, averaged over the {glue:text}`n_seeds:d` seeds,
# with a 95 % interval that also counts the spread between the seeds (the book's
# comparison rule, "How to use this book"). The
# teacher is one model; it is compared with each seed's student.

# %%
teacher_pred = infer.predict_tags(teacher, tok, test_words, batch_size=128,
                                  device=P.device)
arm_preds = {name: [preds[name, s] for s in SEEDS] for name in ARMS}
f1 = {name: [entity_scores(test_tags, p)["f1"] for p in ps]
      for name, ps in arm_preds.items()}
baselines = {"gold labels": arm_preds["gold labels"],
             "hard tags": arm_preds["teacher's hard tags"],
             "teacher": [teacher_pred] * len(SEEDS)}  # one teacher against every seed
vs = {name: {base: paired_f1(test_tags, ps, b_preds, seed=P.seed)
             for base, b_preds in baselines.items()}
      for name, ps in arm_preds.items()}


def interval(c):
    return f"{c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"


SAME = {"gold labels": "gold labels", "hard tags": "teacher's hard tags"}


def cell(name, base):
    """The difference from ``base`` with its interval; a dash for ``base`` itself."""
    return "—" if SAME.get(base) == name else interval(vs[name][base])


table = pd.DataFrame({name: {"test F1 (mean)": f"{np.mean(f1[name]):.3f}",
                             "seeds": " ".join(f"{x:.3f}" for x in f1[name]),
                             **{f"vs {base}": cell(name, base) for base in baselines}}
                      for name in ARMS}).T
display(table)

fig, ax = plt.subplots(figsize=(8, 3.6))
x = np.arange(len(ARMS))
means = [np.mean(f1[name]) for name in ARMS]
ax.bar(x, means, alpha=0.8, color=["tab:gray", "tab:olive"] + ["tab:blue"] * len(TEMPS))
for i, name in enumerate(ARMS):
    ax.scatter(np.full(len(SEEDS), i), f1[name], color="black", s=12, zorder=3)
ax.axhline(teacher_f1, color="tab:red", ls="--", label="teacher")
ax.set_xticks(x, list(ARMS))
ax.set(ylabel="test entity F1", title=f"Students: mean over {len(SEEDS)} seeds (dots)")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% tags=["remove-cell"]
glue("n_test", len(test_words))
glue("n_seeds", len(SEEDS))
glue("gold_f1", float(np.mean(f1["gold labels"])))
glue("hard_f1", float(np.mean(f1["teacher's hard tags"])))
for T in TEMPS:
    glue(f"kd_T{T:g}", float(np.mean(f1[f"soft, T = {T:g}"])))
teacher_gap = vs["gold labels"]["teacher"]
glue("teacher_gap", -teacher_gap.diff)
glue("teacher_gap_low", -teacher_gap.high)
glue("teacher_gap_high", -teacher_gap.low);

# %% [markdown]
# The figure shows each student's test F1 (bars: means; dots: seeds) against the
# teacher's (dashed line). The table gives every difference with its interval. Each
# student trained for {glue:text}`student_steps:d` steps; the
# {glue:text}`n_student_runs:d` runs took {glue:text}`student_seconds:.0f` s.

# %% tags=["hide-input"]
def said(c, better, worse, same):
    """One of three phrases, by the sign of a comparison and whether 0 is outside it."""
    return better if c.significant and c.diff > 0 else worse if c.significant else same


def teacher_verdict():
    c = vs["gold labels"]["teacher"]  # gold-label student - teacher
    how = said(c, "is *not* better than", "is clearly better than",
               "cannot be told apart from")
    gold = np.mean(f1["gold labels"])
    return (f"The teacher ({teacher_f1:.3f}) {how} the small model trained on the gold "
            f"labels ({gold:.3f}): {c.describe('student', 'teacher')}.")


def transfer_verdict():
    best = max(TEMPS, key=lambda T: np.mean(f1[f"soft, T = {T:g}"]))
    c = vs[f"soft, T = {best:g}"]["gold labels"]
    return ("Imitating the teacher on unlabelled text, the best soft student "
            f"(T = {best:g}, "
            f"{np.mean(f1[f'soft, T = {best:g}']):.3f}) "
            + said(c, "clearly beats", "does worse than", "cannot be told apart from")
            + f" the gold-label student: {c.describe(f'T = {best:g}', 'gold labels')}. "
            f"(Picking the best temperature on the test split flatters it a little; "
            + ("the other temperature is" if len(TEMPS) == 2 else "the other temperatures are")
            + " in the table.)")


def dark_knowledge_verdict():
    parts = []
    for T in TEMPS:
        c = vs[f"soft, T = {T:g}"]["hard tags"]
        beyond = " (outside the noise)" if c.significant else ""
        parts.append(f"at T = {T:g} {interval(c)}{beyond}")
    cs = {T: vs[f"soft, T = {T:g}"]["hard tags"] for T in TEMPS}
    better = [T for T in TEMPS if cs[T].significant and cs[T].diff > 0]
    worse = [T for T in TEMPS if cs[T].significant and cs[T].diff < 0]

    def where(ts):  # "at every temperature tried", or which, and the rest
        if len(ts) == len(TEMPS):
            return "at every temperature tried"
        rest = len(TEMPS) - len(ts)
        return (" and ".join(f"at T = {T:g}" for T in ts) + " (at the other "
                f"temperature{'s' if rest > 1 else ''} the two cannot be told apart)")

    reading = ("so the answer depends on the temperature" if better and worse else
               "so on the same text the teacher's full distribution taught the student "
               f"more than its decisions alone {where(better)}: the dark knowledge paid"
               if better else
               "so on the same text the teacher's decisions alone taught the student "
               f"more than its full distribution {where(worse)}: in this run the dark "
               "knowledge did not pay" if worse else
               "so this run cannot tell soft targets from hard tags on the same text: "
               "no gain from the dark knowledge shows")
    return ("Against the teacher's hard tags on the same sentences, soft targets give "
            + "; ".join(parts) + f", {reading}.")


def temperature_verdict():
    c = paired_f1(test_tags, arm_preds["soft, T = 4"], arm_preds["soft, T = 2"],
                  seed=P.seed)
    return (f"Between the temperatures, {c.describe('T = 4', 'T = 2')}: "
            + said(c, "a higher temperature, which lets the small probabilities speak, "
                   "helped", "the higher temperature hurt",
                   "the temperature made no difference these runs can show") + ".")


glue("teacher_verdict", teacher_verdict())
glue("transfer_verdict", transfer_verdict())
glue("dark_verdict", dark_knowledge_verdict())
glue("temperature_verdict", temperature_verdict())
soft_paid = any(vs[f"soft, T = {T:g}"]["hard tags"].significant
                and vs[f"soft, T = {T:g}"]["hard tags"].diff > 0 for T in TEMPS)
glue("dark_reading", (
    "That is dark knowledge at work: the student also learned how the "
    "teacher ranks the wrong tags.") if soft_paid else (
    "The second exercise below asks whether a small transfer set changes that; section 6 measures how "
    "far the teacher's soft targets are from its hard tags."));

# %% [markdown]
# **What the run shows.** {glue:text}`teacher_verdict` {glue:text}`transfer_verdict`
# {glue:text}`dark_verdict` {glue:text}`temperature_verdict` {glue:text}`dark_reading`
#
# :::{admonition} A common mistake
# :class: warning
# Task-specific distillation, as here, is often described as "what DistilBERT does".
# DistilBERT {cite}`sanh2019distilbert` distilled *during pretraining*, not for one
# task. Its student, six layers initialised from every other layer of BERT-base, was
# trained on BERT's pretraining corpus with a triple loss: the distillation loss on the
# teacher's masked-LM distribution at a temperature, the masked-LM loss itself, and a
# cosine loss aligning the directions of the student's and the teacher's hidden states.
# The result is a general-purpose encoder, then fine-tuned on each task like BERT. This
# chapter's student learns only the tagging task from a teacher that is already a
# tagger, with no masked-LM term and no hidden-state term, and it is narrower and starts
# from random weights instead of a copy. Sanh et al. also report a second,
# task-specific distillation on top of the pretrained student ("DistilBERT (D)" in their
# Table 2): it is fine-tuned on SQuAD v1.1 while distilling a BERT teacher that was
# already fine-tuned on SQuAD: the setting closest to this chapter's.
# :::
#
# ## 6. What soft targets can add
#
# {cite:t}`hinton2015distilling` argue that soft targets pay most when the
# transfer set is small: a softened distribution with high entropy carries more
# information per training case than a hard label, and with less variance in the
# gradient between cases. In their speech experiment a model trained on 3 % of the
# data with hard labels overfitted, while the same model trained on soft targets from a
# teacher that had seen all of it came close to the full-data baseline ("soft targets
# allow a new model to generalize well from only 3% of the training set"). Whether
# that holds for our tagger is {ref}`ch-07-ex2`. Here we measure what a student can gain from
# soft targets at all: their extra information is the mass the teacher puts on the
# wrong tags. We read it on every word of the transfer text, from the logits
# the cache already holds:

# %%
collate = tokens.Collator(tok, keep=())
rows = list(win["transfer"])
word_logits = []  # the teacher's logits at every word's first sub-token
for start in range(0, len(rows), 256):
    batch = collate(rows[start:start + 256])
    with torch.no_grad():
        t_logits = cache({k: batch[k].to(P.device)
                          for k in ("input_ids", "attention_mask")}).cpu()
    word_logits.append(t_logits[batch["labels"] != IGNORE_INDEX])  # (N, C)
word_logits = torch.cat(word_logits)
spread = pd.DataFrame({f"T = {T:g}": {
    "mean entropy (nats)": float(torch.special.entr(p).sum(-1).mean()),
    "mean mass on the wrong tags": float(1 - p.max(-1).values.mean()),
    "words with top class > 0.99": float((p.max(-1).values > 0.99).float().mean())}
    for T in (1.0, *TEMPS) for p in [torch.softmax(word_logits / T, -1)]}).T
display(spread.style.format("{:.3f}"))

# %% tags=["hide-input"]
def confidence_reading():
    top1 = spread.loc["T = 1", "words with top class > 0.99"]
    wrong = {T: spread.loc[f"T = {T:g}", "mean mass on the wrong tags"]
             for T in (1.0, 4.0)}
    return (f"At T = 1 the teacher gives more than 0.99 to its top class on {top1:.0%} "
            f"of the words, and on average {wrong[1.0]:.3f} of its probability to the "
            "wrong tags: its soft targets at T = 1 are nearly its hard tags. At T = 4 "
            f"the wrong tags get {wrong[4.0]:.3f} on average.")


def worth_reading():
    paid = any(vs[f"soft, T = {T:g}"]["hard tags"].significant
               and vs[f"soft, T = {T:g}"]["hard tags"].diff > 0 for T in TEMPS)
    return ("Where soft targets paid, the teacher's ranking of the wrong tags was "
            "information the hard tags did not carry." if paid else
            "Soft targets are not free information: they are worth what the teacher's "
            "wrong-tag probabilities are worth, and this confident teacher, fine-tuned "
            "on one task, had little of it to give.")


glue("confidence_reading", confidence_reading())
glue("H1_words", spread.loc["T = 1", "mean entropy (nats)"])
glue("H4_words", spread.loc["T = 4", "mean entropy (nats)"])
glue("worth_reading", worth_reading())
glue("wrong_mass1", spread.loc["T = 1", "mean mass on the wrong tags"])
glue("t1_note", (
    "(A T = 1 arm is left out to keep the chapter fast: at T = 1 this teacher leaves "
    f"only {spread.loc['T = 1', 'mean mass on the wrong tags']:.3f} of its probability "
    "per word to the wrong tags, so its targets are nearly its hard tags; section 6.)"
    if spread.loc["T = 1", "mean mass on the wrong tags"] < 0.05 else
    "(A T = 1 arm is left out to keep the chapter fast; section 6 measures how far "
    "the teacher's targets at T = 1 are from its hard tags.)"));

# %% [markdown]
# {glue:text}`confidence_reading` The mean entropy over all words rises from
# {glue:text}`H1_words:.3f` nats at $T = 1$ to {glue:text}`H4_words:.3f` at $T = 4$.
# Hinton et al. describe the trade-off a temperature makes: a high one makes the student
# match the very negative logits too, which the teacher's own training hardly
# constrained and which may be noise; a low one ignores them. When their student was
# much too small to capture all the teacher knew, intermediate temperatures worked
# best. Our student, {glue:text}`param_share:.0%` of the teacher at width
# {glue:text}`student_hidden:d`, is a small one. {glue:text}`worth_reading`
#
# ## 7. Size, speed and accuracy
#
# A student is worth having if it is cheaper to run. We time `infer.predict_tags` on
# test sentences on the CPU, one sentence per call (an interactive service) and in
# batches of 128 (an offline job), and put the times next to the size and the F1.

# %%
def best_time(run, repeats=3):
    """The fastest of ``repeats`` calls of ``run()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def one_at_a_time(model, sentences):
    for words in sentences:
        infer.predict_tags(model, tok, [words], batch_size=1, device="cpu")


def forward_only(model, encoded):
    with torch.no_grad():
        for enc_one in encoded:
            model(**enc_one)


timed = test_words[: P.n(100)]
batched = test_words[: P.n(500)]
encoded = [tok(words, is_split_into_words=True, return_tensors="pt") for words in timed]
rows = {}
for name, m in (("teacher", teacher), ("student", students["soft, T = 2", SEEDS[0]])):
    m.to("cpu").eval()
    rows[name] = {
        "layers": m.config.num_hidden_layers,
        "parameters": n_params(m),
        "forward only, ms per sentence":
            1e3 * best_time(lambda: forward_only(m, encoded)) / len(timed),
        "end to end, ms per sentence":
            1e3 * best_time(lambda: one_at_a_time(m, timed)) / len(timed),
        "end to end, sentences/s in batches of 128": len(batched) / best_time(
            lambda: infer.predict_tags(m, tok, batched, batch_size=128,
                                       device="cpu")),
    }
sizes = pd.DataFrame(rows).T
display(sizes.style.format({"layers": "{:.0f}", "parameters": "{:,.0f}",
                            "forward only, ms per sentence": "{:.2f}",
                            "end to end, ms per sentence": "{:.2f}",
                            "end to end, sentences/s in batches of 128": "{:,.0f}"}))
t_row, s_row = sizes.iloc[0], sizes.iloc[1]
fwd, e2e, rate = ("forward only, ms per sentence", "end to end, ms per sentence",
                  "end to end, sentences/s in batches of 128")
speedup_fwd, speedup1 = float(t_row[fwd] / s_row[fwd]), float(t_row[e2e] / s_row[e2e])
glue("speedup_fwd", speedup_fwd)
glue("speedup1", speedup1)
glue("speedup128", float(s_row[rate] / t_row[rate]))
# ms/sentence
overhead = {"teacher": float(t_row[e2e] - t_row[fwd]),
            "student": float(s_row[e2e] - s_row[fwd])}
glue("overhead_teacher", overhead["teacher"])
glue("overhead_student", overhead["student"])
# "caps" needs what the numbers show: near-equal overheads, and an end-to-end gain
# no larger than the forward pass's
caps = (abs(overhead["student"] - overhead["teacher"]) <= 0.1 * overhead["teacher"]
        and speedup1 <= speedup_fwd)
glue("overhead_reading",
     "it does not depend on the model, so it caps the end-to-end gain"
     if caps else
     "the two should be equal, since that work does not depend on the model, "
     "so their difference shows how noisy timings on a shared CPU are; "
     "run the cell again to see the spread")
glue("n_timed", len(timed))
glue("n_batched", len(batched))
teacher.to(P.device);

# %% [markdown]
# Timed on {glue:text}`n_timed:d` test sentences, the student's forward pass alone is
# {glue:text}`speedup_fwd:.2f`× as fast as the teacher's. End to end, one sentence per
# call, the gain is {glue:text}`speedup1:.2f`×, and in batches of 128 (on
# {glue:text}`n_batched:d` sentences) {glue:text}`speedup128:.2f`×. The work around the model (tokenization, windowing,
# merging the tags in Python) took {glue:text}`overhead_teacher:.2f` ms per sentence
# with the teacher and {glue:text}`overhead_student:.2f` ms with the student:
# {glue:text}`overhead_reading`. Inside the model everything is narrower, the
# embeddings as well as the layers: the student is a fresh encoder of its own width,
# not a cut-down copy of the teacher. (Timings on a shared CPU vary
# from run to run; the best of three passes is shown.) For reference,
# DistilBERT kept 97 % of BERT-base's GLUE score with 40 % fewer parameters and ran
# 60 % faster {cite}`sanh2019distilbert`; those numbers are for a 12-layer teacher whose
# layers dominate its cost.
#
# **Where distillation helps, and where it does not.** A teacher helps most when it
# knows much more than the labels say: when it is far better than a student trained on
# the labels there are, when labels are few, and when there is unlabelled text it can
# annotate, the setting of section 5. Its soft targets add to its hard tags only what
# its probabilities for the wrong tags hold, which is little when its distributions are
# nearly one-hot (section 6 measured ours). Smoothing the teacher's labels is no cure:
# Müller et al. found that a teacher trained with label smoothing distils *worse*,
# because smoothing erases from its logits the resemblances between classes that
# distillation transfers {cite}`muller2019does`. An earlier version of this chapter
# distilled a two-layer teacher into a copy of its
# own first layer on the teacher's own labelled data: the student kept most of the
# teacher's parameters, matched it on hard labels, and no temperature made a
# difference.
#
# ## Exercises
#
# ```{exercise} ★★ · 20 min
# :label: ch-07-ex1
# Show that for one token the gradient of $T^2\,\mathrm{KL}(p \,\|\, q)$ with respect to
# the student's logits $s$ is $T(q - p)$, where $p$ and $q$ are the teacher's and the
# student's softmax at temperature $T$. Then check it numerically with autograd for the
# teacher logits of section 2 and zero student logits at $T = 4$.
# ```
#
# ```{solution-start} ch-07-ex1
# :class: dropdown
# ```
# $\mathrm{KL}(p\|q) = \sum_c p_c \log p_c - \sum_c p_c \log q_c$, and only the second
# sum depends on $s$. With $\log q_c = s_c/T - \log\sum_k e^{s_k/T}$,
# $\partial(-\sum_c p_c \log q_c)/\partial s_j = -p_j/T + q_j/T$, using $\sum_c p_c = 1$.
# Multiplying by $T^2$ gives $T(q_j - p_j)$.

# %%
from rmdlib.losses import distillation_loss

s = torch.zeros(1, 1, len(names), requires_grad=True)
distillation_loss(s, logits[None, None], temperature=4.0).backward()
expected = 4.0 * (torch.softmax(s.detach() / 4, -1) - torch.softmax(logits / 4, -1))
print((s.grad - expected).abs().max())  # ~1e-8

# %% [markdown]
# The largest difference here is {glue:text}`ex1_err:.1e`.
# ```{solution-end}
# ```
#
# ````{exercise} ★★★ · 30 min
# :label: ch-07-ex2
# Test Hinton et al.'s claim of section 6 on our tagger: repeat section 5's hard-tag and
# soft-target students ($T$ = 2 and 4) on a *small* transfer set, the
# {glue:text}`n_labelled:,` sentences the gold student had (their gold tags unread), at
# the same number of steps, so each sentence is seen many times. Do soft targets beat
# the hard tags there, and by more than on the full text? Compare with `paired_f1`.
# ````
#
# ```{solution-start} ch-07-ex2
# :class: dropdown
# ```
# The code below is scaled down to one seed and `short.max_steps` steps per student so
# that the book's build stays fast; use `SEEDS` and `STUDENT` for the real comparison.

# %%
short = replace(STUDENT, max_steps=P.n(60))  # scaled down for the book's build
small = {name: train_student(0, win["labelled"], targets, config=short)
         for name, targets in (("hard tags", {"hard": True}),
                               ("soft, T = 2", {"temperature": 2.0}),
                               ("soft, T = 4", {"temperature": 4.0}))}
small_preds = {name: [infer.predict_tags(m, tok, test_words, batch_size=128,
                                         device=P.device)]
               for name, m in small.items()}
for name in ("soft, T = 2", "soft, T = 4"):
    c = paired_f1(test_tags, small_preds[name], small_preds["hard tags"], seed=P.seed)
    print(f"{name} - hard tags: {interval(c)}")

# %% [markdown]
# In this scaled-down run (one seed, {glue:text}`ex2_steps:d` steps), soft targets at
# $T = 2$ minus hard tags gave {glue:text}`ex2_T2` and at $T = 4$ {glue:text}`ex2_T4`
# in test F1. One seed at a few steps is a check that the code runs, not a verdict:
# run it with `SEEDS` and `STUDENT`. Whatever the sign, soft targets can only add what
# the teacher's probabilities for the wrong tags hold, which section 6 measured.
# ```{solution-end}
# ```
#
# ```{exercise} ★ · 15 min
# :label: ch-07-ex3
# Why must the teacher be in eval mode during distillation? Predict what happens to the
# soft targets if its dropout stays on, then measure it: compute the teacher's logits for
# one batch twice in train mode and compare the two distributions at $T = 2$.
# ```
#
# ```{solution-start} ch-07-ex3
# :class: dropdown
# ```
# With dropout on, every forward pass samples a different sub-network, so the targets
# change from step to step: noise the student must chase, and not the teacher's
# function. `distill_loss_fn` calls `teacher.eval()` before every forward for this reason.

# %%
batch = tokens.Collator(tok, keep=())(list(windows(ner["test"].select(range(16)), tok)))
inputs = {k: batch[k].to(P.device) for k in ("input_ids", "attention_mask")}
torch.manual_seed(P.seed)  # dropout draws from the global random state
teacher.train()
with torch.no_grad():
    a, b = (torch.softmax(teacher(**inputs).logits / 2, -1) for _ in range(2))
teacher.eval()
keep = batch["labels"].to(P.device) != IGNORE_INDEX
print((a - b).abs().sum(-1)[keep].mean())  # mean L1 distance between the two draws

# %% [markdown]
# Here the mean L1 distance between the two draws is {glue:text}`ex3_l1:.3f` (it is 0 in
# eval mode).
# ```{solution-end}
# ```

# %% tags=["remove-cell"]
# Numbers quoted in the solutions, computed rather than typed.
glue("ex1_err", float((s.grad - expected).abs().max()))
glue("ex3_l1", float((a - b).abs().sum(-1)[keep].mean()))
glue("ex2_steps", short.max_steps)
for T in (2, 4):
    glue(f"ex2_T{T}", interval(paired_f1(test_tags, small_preds[f"soft, T = {T}"],
                                         small_preds["hard tags"], seed=P.seed)));

# %% [markdown]
# ## Summary
#
# * A teacher's softened distribution ranks the wrong classes; the temperature $T$
#   controls how much of that ranking the student sees.
# * The distillation loss mixes $\alpha\,T^2\,\mathrm{KL}(p\,\|\,q)$ with the hard-label
#   cross-entropy over the labelled tokens; $T^2$ keeps the soft term's gradient,
#   $T(q - p)/N$, from fading at high temperature.
# * `distill.student_from_teacher` copies every other layer, as DistilBERT did; on a
#   teacher whose embeddings dominate it keeps {glue:text}`halved_share:.0%` of the
#   parameters. A narrower student is several times smaller: here
#   {glue:text}`param_share:.0%` of the teacher.
# * With {glue:text}`n_labelled:,` labelled sentences the small student reached F1
#   {glue:text}`gold_f1:.3f`, {glue:text}`teacher_gap:.3f` below the teacher
#   (interval {glue:text}`teacher_gap_low:.3f` to {glue:text}`teacher_gap_high:.3f`).
#   Imitating the teacher on {glue:text}`n_transfer:,` unlabelled sentences gave
#   {glue:text}`kd_T2:.3f` and {glue:text}`kd_T4:.3f` at
#   $T$ = 2 and 4, against {glue:text}`hard_f1:.3f` from the teacher's hard tags on the
#   same text. Judge such differences by paired intervals, not by means.
#   What soft targets add to hard tags is the teacher's mass on the wrong tags: at
#   $T = 1$ on average {glue:text}`wrong_mass1:.3f` per word here.
# * The student's forward pass ran {glue:text}`speedup_fwd:.2f`× as fast as the teacher's;
#   end to end the gain was {glue:text}`speedup1:.2f`× one sentence at a time and
#   {glue:text}`speedup128:.2f`× in batches of 128. Measure the whole pipeline, not just
#   the model: the work around it does not shrink with the model.
# * DistilBERT distilled during pretraining with a triple loss; this chapter distils one
#   task, on the task's text.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("07_distillation")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`hinton2015distilling` for distillation with
# temperature and the $T^2$ factor, soft targets on a small transfer set and the choice
# of temperature for a small student, {cite:t}`sanh2019distilbert` for initialising a
# student from every other teacher layer and for DistilBERT's size, speed and GLUE
# figures, and {cite:t}`muller2019does` for the interaction of label smoothing and
# distillation.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
