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
# 3. build a shallower student from every other teacher layer, as DistilBERT did;
# 4. measure the trade-off a student offers (parameters, CPU latency, entity F1) and
#    decide, from seeded runs, whether distillation beat training on hard labels.
# :::
#
# **Time:** about 50 minutes to read and run; the code runs in about two and a half
# minutes on 2 CPU cores in the offline profile.

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
from rmdlib.losses import IGNORE_INDEX
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger, label_names, windows
from rmdlib.train import TrainConfig

ner = data.load_ner(P.ner_data)
names = label_names(ner)
tok = zoo.tokenizer(P)
TAGGING = TaggingConfig(batch_size=32, dropout=0.1)
FINETUNE = TrainConfig(lr=3e-3 if P.encoder is None else 1e-4, max_steps=P.n(400), warmup_ratio=0.1,
                       eval_every=P.n(100), monitor="f1", mode="max", seed=P.seed, log_every=20)

torch.manual_seed(P.seed)
t0 = time.perf_counter()
teacher, _ = finetune_tagger(models.build_encoder(zoo.encoder(P)).to(P.device), ner, tok, FINETUNE, TAGGING)
teacher_seconds = time.perf_counter() - t0
teacher.eval()
teacher_f1 = evaluate_tagger(teacher, tok, ner["test"], TAGGING)["f1"]
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
# confusions are plausible that no hard label contains. Hinton et al. called it "dark
# knowledge". At the usual temperature $T = 1$ the softmax is so peaked that these small
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
                  if t.startswith("B-") and k + 1 < len(tags) and tags[k + 1].startswith("I-"))
enc = tok(test_words[sent], is_split_into_words=True, return_tensors="pt")
position = enc.word_ids(0).index(word)  # the word's first sub-token, where its tag is read
with torch.no_grad():
    logits = teacher(**{k: v.to(P.device) for k, v in enc.items()}).logits[0, position].float().cpu()
TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
soft = pd.DataFrame({f"T = {T:g}": torch.softmax(logits / T, dim=-1).numpy() for T in TEMPERATURES}, index=names)
ax = soft.plot.bar(figsize=(10, 3.4), rot=0, width=0.8)
ax.set(ylabel="teacher probability", title=f"Teacher's distribution for '{test_words[sent][word]}' "
       f"(gold {test_tags[sent][word]}) at four temperatures")
ax.figure.tight_layout()
plt.show()
entropy = {T: float(-(soft[f"T = {T:g}"] * np.log(soft[f"T = {T:g}"])).sum()) for T in TEMPERATURES}
glue("word", test_words[sent][word])
glue("gold_tag", test_tags[sent][word])
glue("top_p1", float(soft["T = 1"].max()))
glue("top_p4", float(soft["T = 4"].max()))
glue("H1", entropy[1.0])
glue("H4", entropy[4.0])
glue("logC", float(np.log(len(names))))

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
# ## 4. A student from every other layer
#
# DistilBERT {cite}`sanh2019distilbert` kept BERT's width, halved its depth, and
# initialised the student from the teacher by "taking one layer out of two".
# `distill.student_from_teacher` does the same for any BERT-like tagger: embeddings,
# the kept layers and the head are copied exactly.

# %% tags=["hide-input"]
source(distill.student_from_teacher)

# %%
EVERY = 2
student0 = distill.student_from_teacher(teacher, every=EVERY)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


glue("student_layers", student0.config.num_hidden_layers)
glue("teacher_params", n_params(teacher))
glue("student_params", n_params(student0))
glue("param_share", n_params(student0) / n_params(teacher))
embedding_share = sum(p.numel() for p in teacher.base_model.embeddings.parameters()) / n_params(teacher)
glue("embedding_share", embedding_share)
with torch.no_grad():  # before any training the student is already a (worse) tagger
    student0_f1 = evaluate_tagger(student0.eval(), tok, ner["test"], TAGGING)["f1"]
glue("student0_f1", student0_f1)
print(f"teacher {n_params(teacher):,} parameters, student {n_params(student0):,}; "
      f"untrained student F1 {student0_f1:.3f}")

# %% [markdown]
# The student has {glue:text}`student_layers:d` layer(s) and {glue:text}`student_params:,`
# parameters, {glue:text}`param_share:.0%` of the teacher's {glue:text}`teacher_params:,`.
# The saving is smaller than the halved depth suggests, because the embeddings, which
# the student keeps whole, are {glue:text}`embedding_share:.0%` of the teacher (DistilBERT
# kept 60 % of BERT-base's parameters for the same reason). Copied and not yet trained,
# the student already tags with F1 {glue:text}`student0_f1:.3f`: its layer 0 and head
# come from a trained tagger, but the head now reads layer 0's output instead of the
# last layer's.
#
# ## 5. Hard labels against soft targets
#
# Two students start from the same copy and train with the same recipe (steps,
# learning rate, batches; both keep their last weights): one on the gold tags alone, the other
# with the distillation loss, at $\alpha$ = 0.5 and several temperatures. Each setting
# runs with three seeds.

# %%
SEEDS = (0, 1, 2)
ALPHA = 0.5
STUDENT = replace(FINETUNE, max_steps=P.n(200), eval_every=None)  # no validation: the last weights are kept
student_data = DatasetDict(train=ner["train"])


def train_student(seed, temperature=None):
    """Student from every other teacher layer, fine-tuned on hard labels (None) or distilled at ``temperature``."""
    torch.manual_seed(seed)  # dropout and, via the config, the batch order
    student = distill.student_from_teacher(teacher, every=EVERY)
    loss_fn = None if temperature is None else distill.distill_loss_fn(teacher, temperature=temperature,
                                                                       alpha=ALPHA)
    model, _ = finetune_tagger(None, student_data, tok, replace(STUDENT, seed=seed), TAGGING, loss_fn=loss_fn,
                               model=student)
    return model


ARMS = {"hard labels": None, **{f"distilled, T = {T:g}": T for T in (1.0, 2.0, 4.0)}}
t0 = time.perf_counter()
students, f1 = {}, {}
for name, temperature in ARMS.items():
    for seed in SEEDS:
        students[name, seed] = train_student(seed, temperature)
        f1[name, seed] = evaluate_tagger(students[name, seed], tok, ner["test"], TAGGING)["f1"]
student_seconds = time.perf_counter() - t0
table = pd.DataFrame({name: {"test F1": np.mean([f1[name, s] for s in SEEDS]),
                             "std": np.std([f1[name, s] for s in SEEDS], ddof=1),
                             **{f"seed {s}": f1[name, s] for s in SEEDS}} for name in ARMS}).T
table["/ teacher"] = table["test F1"] / teacher_f1
display(table.style.format("{:.3f}"))
glue("n_student_runs", len(f1))
glue("student_seconds", student_seconds)
glue("student_steps", STUDENT.max_steps)
glue("n_above", int((table["test F1"] > teacher_f1).sum()))
glue("n_arms", len(table))

fig, ax = plt.subplots(figsize=(8, 3.6))
x = np.arange(len(table))
ax.bar(x, table["test F1"], yerr=table["std"], capsize=5, alpha=0.8,
       color=["tab:gray"] + ["tab:blue"] * (len(table) - 1))
for i, name in enumerate(table.index):
    ax.scatter(np.full(len(SEEDS), i), [f1[name, s] for s in SEEDS], color="black", s=12, zorder=3)
ax.axhline(teacher_f1, color="tab:red", ls="--", label="teacher")
ax.set_xticks(x, table.index)
ax.set(ylabel="test entity F1", title=f"Students: mean ± std over {len(SEEDS)} seeds (dots)",
       ylim=(max(0.0, float(table["test F1"].min()) - 0.15), None))
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each student trained for {glue:text}`student_steps:d` steps; the
# {glue:text}`n_student_runs:d` runs took {glue:text}`student_seconds:.0f` s. Both kinds
# of student start from the teacher's own trained weights (embeddings, layer 0, head) and
# then train further, so either can end above the teacher: part of what a
# DistilBERT-style student knows comes from its initialisation, whatever loss it is
# trained with. Here {glue:text}`n_above:d` of the {glue:text}`n_arms:d` settings end
# above the teacher on average.

# %%
hard_mean, hard_std = table.loc["hard labels", ["test F1", "std"]]
best_kd = table["test F1"].drop("hard labels").idxmax()
gap = float(table.loc[best_kd, "test F1"] - hard_mean)
noise = float(max(hard_std, table.loc[best_kd, "std"]))
if abs(gap) <= 2 * noise:
    verdict = ("is within twice the larger seed-to-seed standard deviation, so these runs cannot tell "
               "distillation from hard labels apart")
elif gap > 0:
    verdict = "is more than twice the larger seed-to-seed standard deviation: distillation helped here"
else:
    verdict = "is more than twice the larger seed-to-seed standard deviation: distillation hurt here"
glue("hard_f1", float(hard_mean))
glue("hard_std", float(hard_std))
glue("best_kd", best_kd)
glue("best_kd_f1", float(table.loc[best_kd, "test F1"]))
glue("best_kd_std", float(table.loc[best_kd, "std"]))
glue("kd_gap", gap)
glue("kd_verdict", verdict)
glue("hard_share", float(hard_mean / teacher_f1))
glue("kd_share", float(table.loc[best_kd, "test F1"] / teacher_f1))
glue("room", "which leaves distillation little room" if hard_mean >= 0.97 * teacher_f1
     else "so the soft targets have room to help")
for T in (1.0, 2.0, 4.0):
    glue(f"kd_T{T:g}", float(table.loc[f"distilled, T = {T:g}", "test F1"]))
print(f"best distilled setting: {best_kd}, {gap:+.3f} against hard labels; the difference {verdict}")

# %% [markdown]
# **What the run shows.** Trained on hard labels, the student reaches
# {glue:text}`hard_f1:.3f` ± {glue:text}`hard_std:.3f`, {glue:text}`hard_share:.1%` of the
# teacher's F1. Distilled, it reaches {glue:text}`kd_T1:.3f` at $T = 1$,
# {glue:text}`kd_T2:.3f` at $T = 2$ and {glue:text}`kd_T4:.3f` at $T = 4$ (means over
# seeds). The best distilled setting, {glue:text}`best_kd`
# ({glue:text}`best_kd_f1:.3f` ± {glue:text}`best_kd_std:.3f`,
# {glue:text}`kd_share:.1%` of the teacher), differs from hard labels by
# {glue:text}`kd_gap:+.3f`, which {glue:text}`kd_verdict`. Choosing the temperature by
# the test split, as this table invites, would overstate the gain a little: with a
# validation split, choose there.
#
# ## 6. Size, speed and accuracy
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
        infer.predict_tags(model, tok, [words], batch_size=1)


def forward_only(model, encoded):
    with torch.no_grad():
        for enc_one in encoded:
            model(**enc_one)


timed = test_words[: P.n(200)]
encoded = [tok(words, is_split_into_words=True, return_tensors="pt") for words in timed]
kd_student = students[best_kd, SEEDS[0]]
rows = {}
for name, m in (("teacher", teacher), (f"student ({best_kd})", kd_student)):
    m.to("cpu").eval()
    rows[name] = {
        "layers": m.config.num_hidden_layers,
        "parameters": n_params(m),
        "forward only, ms per sentence": 1e3 * best_time(lambda: forward_only(m, encoded)) / len(timed),
        "end to end, ms per sentence": 1e3 * best_time(lambda: one_at_a_time(m, timed)) / len(timed),
        "end to end, sentences/s in batches of 128": len(test_words) / best_time(
            lambda: infer.predict_tags(m, tok, test_words, batch_size=128)),
        "test F1": teacher_f1 if name == "teacher" else table.loc[best_kd, "test F1"],
    }
sizes = pd.DataFrame(rows).T
display(sizes.style.format({"layers": "{:.0f}", "parameters": "{:,.0f}", "forward only, ms per sentence": "{:.2f}",
                            "end to end, ms per sentence": "{:.2f}",
                            "end to end, sentences/s in batches of 128": "{:,.0f}", "test F1": "{:.3f}"}))
t_row, s_row = sizes.iloc[0], sizes.iloc[1]
fwd, e2e, batched = ("forward only, ms per sentence", "end to end, ms per sentence",
                     "end to end, sentences/s in batches of 128")
glue("speedup_fwd", float(t_row[fwd] / s_row[fwd]))
glue("speedup1", float(t_row[e2e] / s_row[e2e]))
glue("speedup128", float(s_row[batched] / t_row[batched]))
overhead = {"teacher": float(t_row[e2e] - t_row[fwd]), "student": float(s_row[e2e] - s_row[fwd])}  # ms/sentence
glue("overhead_teacher", overhead["teacher"])
glue("overhead_student", overhead["student"])
glue("overhead_reading", "it does not depend on the model, so it caps the end-to-end gain"
     if abs(overhead["student"] - overhead["teacher"]) <= 0.3 * overhead["teacher"] else
     "the two should be equal, since that work does not depend on the model, so their difference shows how "
     "noisy timings on a shared CPU are; run the cell again to see the spread")
glue("n_timed", len(timed))
teacher.to(P.device)

# %% [markdown]
# Timed on {glue:text}`n_timed:d` test sentences, the student's forward pass alone is
# {glue:text}`speedup_fwd:.2f`× as fast as the teacher's. End to end, one sentence per
# call, the gain is {glue:text}`speedup1:.2f`×, and in batches of 128
# {glue:text}`speedup128:.2f`×. The work around the model (tokenization, windowing,
# merging the tags in Python) took {glue:text}`overhead_teacher:.2f` ms per sentence
# with the teacher and {glue:text}`overhead_student:.2f` ms with the student:
# {glue:text}`overhead_reading`. Inside the model, the embeddings
# cost the same in both; only the layers' compute shrinks. (Timings on a shared CPU vary
# from run to run; the best of three passes is shown.) For reference,
# DistilBERT kept 97 % of BERT-base's GLUE score with 40 % fewer parameters and ran
# 60 % faster {cite}`sanh2019distilbert`; those numbers are for a 12-layer teacher whose
# layers dominate its cost.
#
# **Where distillation helps, and where it does not.** Soft targets carry most
# information when the teacher knows much more than the labels say: when the teacher
# is far better than a student trained on hard labels, when labels are few, or when
# there is unlabelled text the teacher can annotate (exercise 2). They carry little
# when the student already matches the teacher on hard labels, or when the teacher's
# distributions are as peaked as one-hot tags, which is what label smoothing prevents
# and overconfident teachers cause {cite}`muller2019does`. Here the student trained on
# hard labels already reaches {glue:text}`hard_share:.1%` of the teacher,
# {glue:text}`room`.
#
# ## Exercises
#
# ```{exercise}
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
# ````{exercise}
# :label: ch-07-ex2
# Distillation does not need gold tags: at $\alpha = 1$ the loss uses only the teacher.
# Train a student on the gold tags of the first 500 training sentences, and another
# with $\alpha = 1$ on *all* training sentences, treating them as unlabelled text (the
# tags then only mark where each word starts). Which is better, and what does it say
# about where distillation earns its keep?
# ````
#
# ```{solution-start} ch-07-ex2
# :class: dropdown
# ```
# The code below is scaled down to `short.max_steps` steps per student so that the book's
# build stays fast; use `STUDENT` itself for the real comparison.

# %%
short = replace(STUDENT, max_steps=P.n(40))  # scaled down for the book's build
few = DatasetDict(train=ner["train"].select(range(500)))
torch.manual_seed(0)
hard_few, _ = finetune_tagger(None, few, tok, short, TAGGING,
                              model=distill.student_from_teacher(teacher, every=EVERY))
torch.manual_seed(0)
soft_all, _ = finetune_tagger(None, student_data, tok, short, TAGGING,
                              loss_fn=distill.distill_loss_fn(teacher, temperature=2.0,
                                                              alpha=1.0),
                              model=distill.student_from_teacher(teacher, every=EVERY))
for label, m in (("500 labelled sentences", hard_few), ("all, teacher only", soft_all)):
    print(label, evaluate_tagger(m, tok, ner["test"], TAGGING)["f1"])

# %% [markdown]
# The student that saw only 500 labelled sentences has far less to learn from than one
# that imitates the teacher on ten times as much text. This is distillation's strongest
# use: the teacher turns unlabelled text into training signal.
# ```{solution-end}
# ```
#
# ```{exercise}
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
glue("ex3_l1", float((a - b).abs().sum(-1)[keep].mean()));

# %% [markdown]
# ## Summary
#
# * A teacher's softened distribution ranks the wrong classes; the temperature $T$
#   controls how much of that ranking the student sees.
# * The distillation loss mixes $\alpha\,T^2\,\mathrm{KL}(p\,\|\,q)$ with the hard-label
#   cross-entropy over the labelled tokens; $T^2$ keeps the soft term's gradient,
#   $T(q - p)/N$, from fading at high temperature.
# * `distill.student_from_teacher` copies every other layer, as DistilBERT did: here
#   {glue:text}`param_share:.0%` of the teacher's parameters, because the embeddings stay whole.
# * The student's forward pass ran {glue:text}`speedup_fwd:.2f`× as fast as the teacher's;
#   end to end the gain was {glue:text}`speedup1:.2f`× one sentence at a time and
#   {glue:text}`speedup128:.2f`× in batches of 128. Measure the whole pipeline, not just
#   the model: the work around it does not shrink with the model. On hard labels it kept
#   {glue:text}`hard_share:.1%` of the teacher's F1; the best distilled setting kept
#   {glue:text}`kd_share:.1%`, a difference that {glue:text}`kd_verdict`.
#
# ## References
#
# This chapter draws on {cite:t}`hinton2015distilling` for distillation with
# temperature and the $T^2$ factor, {cite:t}`sanh2019distilbert` for initialising a
# student from every other teacher layer and for DistilBERT's size, speed and GLUE
# figures, and {cite:t}`muller2019does` for the interaction of label smoothing and
# distillation.
