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
# (ch-08)=
# # 8. Loading and adapting custom models
#
# :::{admonition} Learning objectives
# :class: tip
# After this chapter you can
# 1. say what a checkpoint folder holds, read a {term}`safetensors` header by hand, and
#    explain why a pickle checkpoint is refused;
# 2. register your own architecture with the `transformers` {term}`Auto classes`, and
#    say why `trust_remote_code=True` runs code from the Hub and what to do instead;
# 3. load Hub models at a {term}`pinned revision`;
# 4. turn one tagger into each rung of the adaptation ladder (full, head only, top
#    layers, {term}`bottleneck adapter`, {term}`LoRA`, {term}`IA3`, {term}`prefix tuning`),
#    count its trainable parameters in closed form, and compare the rungs with an interval;
# 5. serve two tasks from one frozen encoder by switching adapters.
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
# ## 1. What a checkpoint folder holds
#
# Chapters 4 to 7 saved taggers with `save_pretrained` and loaded them back with
# `from_pretrained`. Here is what passes between the two: we build chapter 4's tagger
# (the encoder the book pretrained in chapter 3, offline; ELECTRA-Small from the Hub in
# the colab profile) and save it.

# %%
import json
import struct
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from datasets import DatasetDict
from IPython.display import display
from transformers import AutoModelForTokenClassification

from rmdlib import compare, custom, data, hub, infer, metrics, models, synth, zoo
from rmdlib.adapt import (AdaptConfig, adapt, closed_form_trainable, count_parameters,
                          save_trainable)
from rmdlib.multitask import MultiTaskTagger
from rmdlib.tagging import (TaggingConfig, finetune_tagger, label_names, sbd_windows,
                            train_loader)
from rmdlib.train import TrainConfig, fit

ner = data.load_ner(P.ner_data)
names = label_names(ner)
tok = zoo.tokenizer(P)
# a folder (offline) or a Hub id, loaded at its pinned revision
ENCODER = zoo.encoder(P)
WORK = Path(tempfile.mkdtemp(prefix="rmd-ch08-"))

torch.manual_seed(P.seed)
tagger = models.build_tagger(ENCODER, names)
tagger.save_pretrained(WORK / "tagger")
files = pd.Series({p.name: p.stat().st_size
                   for p in sorted((WORK / "tagger").iterdir())}, name="bytes")
display(files.to_frame())
config = json.loads((WORK / "tagger" / "config.json").read_text())
print({k: config[k] for k in ("model_type", "architectures", "id2label")})

# %% [markdown]
# Two files. `config.json` says which class to build (`model_type`, `architectures`),
# with what sizes, and the label maps; `model.safetensors` holds the tensors. A
# {term}`safetensors` file is deliberately simple: 8 bytes giving the length $n$ of a
# JSON header (little-endian), the header (name → dtype, shape, byte range), then the raw
# bytes of every tensor. Reading it needs no code from the file itself:

# %%
def safetensors_header(path):
    """The JSON header of a safetensors file: tensor name -> dtype, shape,
    data_offsets."""
    with open(path, "rb") as f:
        # unsigned 64-bit little-endian: the header's length
        (n,) = struct.unpack("<Q", f.read(8))
        return n, json.loads(f.read(n))


n_header, header = safetensors_header(WORK / "tagger" / "model.safetensors")
header.pop("__metadata__", None)
table = pd.DataFrame(
    [(k, v["dtype"], v["shape"], v["data_offsets"]) for k, v in header.items()],
    columns=["tensor", "dtype", "shape", "data_offsets"],
).sort_values("tensor")
display(table.head(6))
# every tensor is F32 here
payload = sum(np.prod(v["shape"], dtype=np.int64) * 4 for v in header.values())
# nothing else is in the file
assert 8 + n_header + payload == files["model.safetensors"]
glue("n_tensors", len(header))
glue("header_bytes", n_header)
glue("payload_mb", float(payload / 1e6));

# %% [markdown]
# The file is {glue:text}`n_tensors` tensors described by a {glue:text}`header_bytes:,`-byte
# header, and its size is exactly 8 + header + {glue:text}`payload_mb:.2f` MB of float32
# data (the `assert` above): there is nowhere for anything else to hide.
#
# The older format, `pytorch_model.bin`, is a Python **pickle**, and unpickling can call
# any Python function the file names: loading a pickle from a stranger is running a
# stranger's program. `torch.load(..., weights_only=True)` restricts it to tensors, and
# `rmdlib.models.load_tagger` goes further and accepts safetensors only:

# %%
bad = WORK / "pickled"
tagger.config.save_pretrained(bad)
torch.save(tagger.state_dict(), bad / "pytorch_model.bin")
try:
    models.load_tagger(bad)
except OSError as err:
    # (the folder's path cut off)
    print("refused:", str(err).splitlines()[0].split(" found in")[0])

# %% [markdown]
# ## 2. The Auto classes, registration, and remote code
#
# `AutoModelForTokenClassification.from_pretrained(folder)` reads `model_type` from
# `config.json` and looks it up in a table: `"electra"` → `ElectraForTokenClassification`.
# A model of your own needs its own entry. `rmdlib.custom` defines one: an ELECTRA encoder
# with a bidirectional LSTM between the encoder and the linear layer (the head then reads
# its neighbours before labelling a word), a config class with its own
# `model_type = "rmd-bilstm-tagger"`, and a `register` function that `import rmdlib`
# calls:

# %% tags=["hide-input"]
source(custom.register)

# %% [markdown]
# The model is built from the same encoder, saved, and loaded back through the Auto class
# in this process, where `rmdlib` was imported:

# %%
bl_config = custom.BiLstmTaggerConfig(
    **{k: v for k, v in tagger.config.to_dict().items()
       if k in custom.BiLstmTaggerConfig.__dataclass_fields__},
    lstm_hidden=64,
)
torch.manual_seed(P.seed)
bilstm = custom.BiLstmTagger(bl_config).eval()
# the same pretrained encoder
bilstm.electra.load_state_dict(tagger.electra.state_dict())
bilstm.save_pretrained(WORK / "bilstm")
reloaded = AutoModelForTokenClassification.from_pretrained(WORK / "bilstm")
batch = tok([" ".join(ner["test"][0]["tokens"])], return_tensors="pt")
diff = (reloaded(**batch).logits - bilstm(**batch).logits).abs().max().item()
print(type(reloaded).__name__,
      f"largest logit difference after the round trip: {diff:.1e}")
glue("bilstm_diff", diff)
glue("bilstm_head", custom.n_head_parameters(bl_config.hidden_size, 64, len(names)));

# %% [markdown]
# The reloaded model is a `BiLstmTagger` with the same logits (largest difference
# {glue:text}`bilstm_diff:.1e`: at most float rounding). Its head has
# {glue:text}`bilstm_head:,` parameters, $2 \cdot 4\,(H(D+H) + 2H) + 2HC + C$ for $H = 64$
# units per direction (four LSTM gates, two directions, two bias vectors per gate).
# Now the same folder in a **fresh Python process that never imported `rmdlib`**:

# %%
code = ("from transformers import AutoModelForTokenClassification as A\n"
        f"A.from_pretrained({str(WORK / 'bilstm')!r})")
result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
err_lines = result.stderr.splitlines()
refusal = [line for line in err_lines if custom.MODEL_TYPE in line] or err_lines[-1:]
# the last, most explicit message
print(refusal[-1].replace(str(WORK), "<folder>")[:400])

# %% [markdown]
# `transformers` does not know `rmd-bilstm-tagger`, and says so. There are two ways out.
#
# * **Install the code, then load.** The architecture lives in a package you installed
#   and reviewed (here `rmdlib`; `pip install` pins its version), and importing it
#   registers the class. The checkpoint folder stays pure data.
# * **`trust_remote_code=True`.** A Hub repository can carry {term}`remote code`, `modeling_*.py` files and an
#   `auto_map` entry in its `config.json`; with this flag `from_pretrained` *downloads and
#   imports those files*, so whoever can push to that repository runs code on your machine,
#   now and at every later download unless the revision is pinned. Read the code first,
#   and pin the revision you read.
#
# Registering a name that `transformers` itself owns is refused, since every ELECTRA
# checkpoint would then be built with your class:

# %%
class Hijack(custom.BiLstmTaggerConfig):
    model_type = "electra"


try:
    custom.register("electra", Hijack)
except ValueError as err:
    print("refused:", err)

# %% [markdown]
# :::{admonition} A common mistake
# :class: warning
# Tutorials on loading custom models often say "add `trust_remote_code=True` if loading
# fails". That flag is not a fix for a missing class: it is permission to execute
# Python from a repository. The failure above is the safe behaviour; register a class you
# have installed, keep weights in safetensors, and pin revisions.
# :::
#
# **Pinned revisions.** `from_pretrained("bert-base-cased")` downloads whatever the
# repository's `main` branch holds that day. `rmdlib.hub.MODELS` gives each Hub model the
# book or the benchmarks load a revision, and `build_encoder`, `load_tagger` and the zoo
# pass it. Where a commit SHA could be found (in public code that pinned or cached the same
# repositories; the Hub itself was unreachable when this was written) it is pinned, as
# for ELECTRA-Small's discriminator, the colab profile's encoder; the other ELECTRA
# checkpoints are still at the branch name `main`, and the table says so:

# %% tags=["hide-input"]
pins = pd.DataFrame([(s.name, s.revision[:12], "commit" if hub.is_commit(s.revision) else "branch")
                     for s in hub.MODELS.values()], columns=["Hub model", "revision", "kind"])
display(pins.style.hide(axis="index"))

# %% [markdown]
# ## 3. The adaptation ladder
#
# Fine-tuning every weight gives each task its own copy of the encoder. The
# {term}`parameter-efficient fine-tuning` methods train a small part instead and keep the
# rest frozen and shared. `rmdlib.adapt.adapt(tagger, AdaptConfig(method))` turns a tagger
# into each rung:
#
# | method | trains, besides the head | trainable parameters |
# |---|---|---|
# | full | everything | all |
# | head | nothing: a frozen feature extractor | $dC + C$ |
# | top-$k$ | the last $k$ layers | $k\,(4d^2 + 2dI + 9d + I)$ |
# | bottleneck adapter {cite}`houlsby2019parameter` | $x + W_u f(W_d x)$ after attention and after the FFN | $2L\,(2md + d + m)$ |
# | LoRA {cite}`hu2022lora` | $W + \frac{\alpha}{r} BA$ for the query and value matrices | $L \cdot 2 \cdot 2rd$ |
# | IA3 {cite}`liu2022few` | vectors rescaling keys, values and FFN activations | $L\,(2d + I)$ |
# | prefix {cite}`li2021prefix,liu2022ptuning` | $n$ key and value vectors per layer | $2nLd$ |
#
# ($d$ hidden width, $I$ feed-forward width, $L$ layers, $C$ classes, $m$ adapter width,
# $r$ LoRA rank, $n$ prefix length; the head adds $dC + C$ to every row.) The last column
# is `closed_form_trainable`, and the counted parameters agree with it:

# %%
# method: (config, learning-rate multiple); frozen encoders take larger steps
LADDER = {
    "full": (AdaptConfig("full"), 1), "head": (AdaptConfig("head"), 3),
    "top_k": (AdaptConfig("top_k", top_k=1), 1),
    "bottleneck": (AdaptConfig("bottleneck", bottleneck=16), 3),
    "lora": (AdaptConfig("lora", r=8, alpha=16), 3), "ia3": (AdaptConfig("ia3"), 10),
    "prefix": (AdaptConfig("prefix", virtual_tokens=10), 10),
}
BASE_LR = P.finetune_lr  # chapter 4's full fine-tuning rate
rows = []
for method, (cfg, _) in LADDER.items():
    torch.manual_seed(P.seed)
    model = models.build_tagger(ENCODER, names)
    total = count_parameters(model)[1]
    trainable = count_parameters(adapt(model, cfg))[0]
    expected = (total if method == "full"
                else closed_form_trainable(model.config, len(names), cfg))
    assert trainable == expected, (method, trainable, expected)
    rows.append((method, trainable, trainable / total))
counts = (pd.DataFrame(rows, columns=["method", "trainable", "share"])
          .set_index("method"))
display(counts.style.format({"trainable": "{:,}", "share": "{:.2%}"}))
glue("n_total", total);

# %% [markdown]
# Every rung trains with the same loop, `finetune_tagger(None, data, tok, cfg, model=adapt(...))`:
# an adapted model is just a model. The ladder runs on the micro-world's NER data, the
# same encoder for every rung, the same number of optimizer steps, three seeds each. The
# learning rate is chapter 4's, times a multiple fixed beforehand (not tuned): methods
# that leave the encoder frozen take larger steps, as their papers do. Prefix tuning hands
# its vectors to every layer as extra keys and values, so the real tokens' positions
# start at $n$: its windows are $n$ sub-tokens shorter.

# %%
small = DatasetDict(train=ner["train"].shuffle(seed=P.seed).select(range(P.n(400))),
                    test=ner["test"].select(range(P.n(400))))
gold = [[names[t] for t in tags] for tags in small["test"]["ner_tags"]]
TAGGING = TaggingConfig(batch_size=32, dropout=0.1)
STEPS, SEEDS = P.n(80), (0, 1, 2)
max_position = models.build_encoder(ENCODER).config.max_position_embeddings


def train_rung(method, seed):
    """One rung, one seed: (predicted test tags, trained model, CPU seconds per step,
    adapter bytes).
    """
    cfg, mult = LADDER[method]
    tagging = TAGGING
    if method == "prefix":
        tagging = replace(TAGGING, max_length=min(TAGGING.max_length,
                                                  max_position - cfg.virtual_tokens))
    torch.manual_seed(seed)
    model = adapt(
        models.build_tagger(ENCODER, names, dropout=TAGGING.dropout).to(P.device), cfg
    )
    train_cfg = TrainConfig(lr=BASE_LR * mult, max_steps=STEPS, warmup_ratio=0.1,
                            seed=seed, log_every=50)
    # CPU time: stable on a shared machine, unlike wall-clock
    start = time.process_time()
    model, _ = finetune_tagger(None, small, tok, train_cfg, tagging, model=model,
                               device=P.device)
    cpu_per_step = (time.process_time() - start) / STEPS
    pred = infer.predict_tags(model, tok, small["test"]["tokens"],
                              max_length=tagging.max_length,
                              batch_size=TAGGING.eval_batch_size, device=P.device)
    size = save_trainable(model, WORK / f"{method}-{seed}.safetensors")
    return pred, model, cpu_per_step, size


preds, kept, cost, sizes = {}, {}, {}, {}
for method in LADDER:
    for seed in SEEDS:
        pred, model, cost[method, seed], sizes[method] = train_rung(method, seed)
        preds[method, seed] = pred
        if seed == 0 and method == "lora":
            kept["lora"] = model
f1 = {k: metrics.entity_scores(gold, v)["f1"] for k, v in preds.items()}
print({m: round(float(np.mean([f1[m, s] for s in SEEDS])), 3) for m in LADDER})

# %% [markdown]
# To compare a rung with full fine-tuning, the book pairs the two over the same seeds and
# resamples test sentences: `rmdlib.compare.paired_f1` returns the mean difference of
# entity F1 (rung − full, averaged over seeds) and a 95 % interval that counts both the
# test sentences and the spread between the seeds (the rule of *How to use this book*).

# %%
def paired_f1(gold, preds_a, preds_b):
    """F1(b) - F1(a): the book's rule (`rmdlib.compare.paired_f1`), arms in this table's
    order.
    """
    c = compare.paired_f1(gold, preds_b, preds_a, seed=P.seed)
    return {"diff": c.diff, "low": c.low, "high": c.high}


def verdict(c):
    if c["high"] < 0:
        return "below full"
    return "above full" if c["low"] > 0 else "not distinguishable"


summary = []
for m in LADDER:
    scores = [f1[m, s] for s in SEEDS]
    c = paired_f1(gold, [preds["full", s] for s in SEEDS], [preds[m, s] for s in SEEDS])
    summary.append({
        "method": m, "share": counts.loc[m, "share"],
        "trainable": counts.loc[m, "trainable"],
        "F1": np.mean(scores), "std": np.std(scores, ddof=1), "vs full": c["diff"],
        "95% CI": f"[{c['low']:+.3f}, {c['high']:+.3f}]",
        "verdict": "–" if m == "full" else verdict(c),
        "adapter kB": sizes[m] / 1e3,
        "CPU ms/step": 1e3 * np.mean([cost[m, s] for s in SEEDS]),
    })
summary = pd.DataFrame(summary).set_index("method")
display(summary.style.format({
    "share": "{:.2%}", "trainable": "{:,}", "F1": "{:.3f}", "std": "{:.3f}",
    "vs full": "{:+.3f}", "adapter kB": "{:,.0f}", "CPU ms/step": "{:.0f}",
}))

# %% tags=["remove-cell"]
for m, r in summary.iterrows():
    glue(f"f1_{m}", float(r["F1"]))
    glue(f"d_{m}", float(r["vs full"]))
    glue(f"share_{m}", float(r["share"]))
    glue(f"kb_{m}", float(r["adapter kB"]))
    glue(f"ms_{m}", float(r["CPU ms/step"]))
    glue(f"v_{m}", r["verdict"])
    glue(f"ci_{m}", r["95% CI"])
glue("steps", STEPS)
glue("n_train_sents", len(small["train"]))
glue("n_test_sents", len(small["test"]))
close = [m for m in LADDER if m != "full" and summary.loc[m, "verdict"] != "below full"]
glue("close_list", ", ".join(close) if close else "none of them")
# the methods that leave the encoder frozen: is the best apart from the next?
frozen = summary.drop(index=["full", "top_k"])["F1"].sort_values(ascending=False)
best, second = frozen.index[:2]
c = paired_f1(gold, [preds[second, s] for s in SEEDS], [preds[best, s] for s in SEEDS])
glue("frozen_rank",
     f"Among the methods that leave the encoder frozen, {best} scored highest, "
     f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] above the next, {second}."
     if c["low"] > 0 else
     f"The methods that leave the encoder frozen lie within "
     f"{frozen.iloc[0] - frozen.iloc[-1]:.3f} F1 of each other ({frozen.index[-1]} "
     f"{frozen.iloc[-1]:.3f} to {best} {frozen.iloc[0]:.3f}), and the highest, {best}, "
     f"is not distinguishable from the next, {second} ({c['diff']:+.3f} "
     f"[{c['low']:+.3f}, {c['high']:+.3f}]).")
# the other rungs against full fine-tuning, in words
rest = summary.drop(index="full")
gap = summary.loc["full", "F1"] - rest["F1"].max()
spread = rest["F1"].max() - rest["F1"].min()
glue("ladder_reading",
     f"every rung but full fine-tuning, whether it trains {rest['share'].min():.2%} or "
     f"{rest['share'].max():.2%} of the parameters, scores between "
     f"{rest['F1'].min():.3f} and {rest['F1'].max():.3f}: the spread among them "
     f"({spread:.3f}) is smaller than their distance to full fine-tuning (at least "
     f"{gap:.3f}). The large difference here is between full fine-tuning and everything "
     "else; the differences among the other methods are small beside it."
     if (rest["verdict"] == "below full").all() and gap > spread else
     f"the rungs other than full fine-tuning score between {rest['F1'].min():.3f} and "
     f"{rest['F1'].max():.3f}, against its {summary.loc['full', 'F1']:.3f}; the list "
     "above gives each one's interval.")
glue("full_over_kb", float(summary.loc["full", "adapter kB"] / summary.loc["lora", "adapter kB"]));

# %% [markdown]
# The figure puts the share of trainable parameters (log scale) against test entity F1,
# with one standard deviation over seeds as the error bar:

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.errorbar(summary["share"], summary["F1"], yerr=summary["std"], fmt="o", capsize=3)
for m, r in summary.iterrows():
    ax.annotate(m, (r["share"], r["F1"]), textcoords="offset points", xytext=(5, 4))
ax.set(xscale="log", xlabel="trainable share of the tagger's parameters",
       ylabel="test entity F1",
       title=f"The adaptation ladder: {STEPS} steps, {len(SEEDS)} seeds")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# With {glue:text}`n_train_sents` training sentences and {glue:text}`steps` steps, full
# fine-tuning reaches {glue:text}`f1_full:.3f`. Against it, with the 95 % interval of the
# paired difference:
#
# * head only: {glue:text}`d_head:+.3f` {glue:text}`ci_head` ({glue:text}`v_head`) with
#   {glue:text}`share_head:.2%` of the parameters trainable;
# * top layer: {glue:text}`d_top_k:+.3f` {glue:text}`ci_top_k` ({glue:text}`v_top_k`);
# * bottleneck adapter: {glue:text}`d_bottleneck:+.3f` {glue:text}`ci_bottleneck`
#   ({glue:text}`v_bottleneck`) at {glue:text}`share_bottleneck:.2%`;
# * LoRA: {glue:text}`d_lora:+.3f` {glue:text}`ci_lora` ({glue:text}`v_lora`) at
#   {glue:text}`share_lora:.2%`;
# * IA3: {glue:text}`d_ia3:+.3f` {glue:text}`ci_ia3` ({glue:text}`v_ia3`) at
#   {glue:text}`share_ia3:.2%`;
# * prefix: {glue:text}`d_prefix:+.3f` {glue:text}`ci_prefix` ({glue:text}`v_prefix`) at
#   {glue:text}`share_prefix:.2%`.
#
# The rungs not below full fine-tuning here: {glue:text}`close_list`.
# {glue:text}`frozen_rank` A full fine-tuned tagger's checkpoint is
# {glue:text}`full_over_kb:.0f` times the LoRA adapter's ({glue:text}`kb_full:,.0f` kB
# against {glue:text}`kb_lora:,.0f` kB). CPU time per step
# is {glue:text}`ms_full:.0f` ms for full fine-tuning, {glue:text}`ms_head:.0f` ms for the
# head alone (no backward pass through the encoder) and {glue:text}`ms_lora:.0f` ms for
# LoRA, whose gradients must still flow back through every layer to reach the first
# adapter: PEFT saves memory and storage, and only as much time as it saves backward work.
#
# **How this compares with the papers.** The LoRA authors' repository reports a GLUE
# average of 87.24 for RoBERTa-base with LoRA (0.8 M trainable parameters) against 86.40
# for full fine-tuning (125 M) {cite}`hu2022lora`. Houlsby et al. report adapters within
# 0.4 % of full fine-tuning on GLUE while adding 3.6 % of the parameters per task (the
# arXiv abstract; the ICML abstract says 0.8 %) {cite}`houlsby2019parameter`. P-tuning v2
# reports that earlier prompt tuning "cannot handle hard sequence labeling tasks" and that
# deep prompts on every layer match fine-tuning with 0.1 %–3 % of the parameters tuned
# {cite}`liu2022ptuning`. All three are encoders of 100 M parameters or more, pretrained on
# billions of words. The encoder here was pretrained for a minute on the micro-world, and
# on it {glue:text}`ladder_reading` `benchmarks/peft_ner.py` runs the same ladder on
# CoNLL-2003.
#
# **LoRA merges away.** $W + \frac{\alpha}{r}BA$ is one matrix again after training, so
# `merge_and_unload` folds the update into the weights and returns a plain
# `ElectraForTokenClassification` with no extra latency. The seed-0 LoRA tagger, before
# and after merging:

# %%
lora = kept["lora"].eval()
before = infer.predict_tags(lora, tok, small["test"]["tokens"], device=P.device)
x = tok([" ".join(small["test"][0]["tokens"])], return_tensors="pt").to(P.device)
logits_before = lora(**x).logits
merged = lora.merge_and_unload()
after = infer.predict_tags(merged, tok, small["test"]["tokens"], device=P.device)
same = np.mean([a == b for a, b in zip(before, after)])
merge_diff = (merged(**x).logits - logits_before).abs().max().item()
print(type(merged).__name__, f"identical tags for {same:.1%} of test sentences, "
      f"largest logit difference {merge_diff:.1e}")
glue("merge_same", float(same))
glue("merge_diff", merge_diff);

# %% [markdown]
# The merged model tags {glue:text}`merge_same:.1%` of test sentences identically (largest
# logit difference {glue:text}`merge_diff:.1e`). A bottleneck adapter cannot be merged
# this way: its GELU sits between $W_d$ and $W_u$ ({ref}`ch-08-ex3`).
#
# ## 4. One frozen encoder, two tasks
#
# The point of keeping the encoder frozen is that it can be shared. `MultiTaskTagger`
# wraps one encoder with a LoRA adapter and a head per task; `set_task(name)` activates
# one adapter and one head and makes only those trainable. Here it learns NER and
# chapter 5's sentence boundaries on the same frozen encoder:

# %%
torch.manual_seed(P.seed)
mt = MultiTaskTagger(models.build_encoder(ENCODER), r=8).add_task("ner", names)
mt.add_task("sbd", infer.SBD_LABELS).to(P.device)
mt_cfg = TrainConfig(lr=BASE_LR * 3, max_steps=STEPS, warmup_ratio=0.1, seed=P.seed,
                     log_every=50)
finetune_tagger(None, small, tok, mt_cfg, TAGGING, model=mt.set_task("ner"),
                device=P.device)
ner_alone = infer.predict_tags(mt, tok, small["test"]["tokens"], device=P.device)

docs = synth.sbd_splits(seed=P.seed, n_train=P.n(100), n_val=10, n_test=40)
sbd_loader = train_loader(sbd_windows(docs["train"], tok, TAGGING), tok, TAGGING,
                          seed=P.seed, device=P.device)
fit(mt.set_task("sbd"), models.tagging_loss_fn(), sbd_loader, cfg=mt_cfg,
    device=P.device)
ends = infer.predict_sentence_ends(mt, tok, [d.text for d in docs["test"]],
                                   device=P.device)
sbd_f1 = metrics.boundary_scores([d.sentence_ends for d in docs["test"]], ends)["f1"]
ner_after = infer.predict_tags(mt.set_task("ner"), tok, small["test"]["tokens"],
                               device=P.device)
assert ner_after == ner_alone  # training the SBD adapter left NER untouched

kb = {t: mt.save_task(t, WORK / f"task-{t}.safetensors") / 1e3 for t in ("ner", "sbd")}
encoder_kb = 4 * count_parameters(models.build_encoder(ENCODER))[1] / 1e3
glue("mt_ner_f1", metrics.entity_scores(gold, ner_after)["f1"])
glue("mt_sbd_f1", sbd_f1)
glue("kb_ner", kb["ner"])
glue("kb_sbd", kb["sbd"])
glue("encoder_kb", encoder_kb)
text = docs["test"][0].text[:220]
print("NER:", [(e.text, e.type)
               for e in infer.tag(mt.set_task("ner"), tok, text, device=P.device)][:6])
cut = infer.predict_sentence_ends(mt.set_task("sbd"), tok, text, device=P.device)
print("SBD:", [text[a:b].strip()[:60] for a, b in zip([0, *cut], cut)])

# %% [markdown]
# One encoder of {glue:text}`encoder_kb:,.0f` kB serves both tasks: the NER adapter and
# head take {glue:text}`kb_ner:,.0f` kB, the sentence-boundary ones
# {glue:text}`kb_sbd:,.0f` kB. NER reaches entity F1 {glue:text}`mt_ner_f1:.3f` and
# sentence boundaries a boundary F1 of {glue:text}`mt_sbd_f1:.3f`, and training the second
# adapter changed none of the first task's predictions (the `assert`; `tests/test_adapt.py`
# also checks that each adapter saved alone and loaded on a fresh copy of the encoder
# reproduces its own logits).
#
# ## Exercises
#
# ````{exercise} ★★★ · 30 min
# :label: ch-08-ex1
# {term}`Prompt tuning` (`AdaptConfig("prompt")`) prepends $n$ trainable embeddings to
# the *sequence*, unlike prefix tuning. What shape do the logits have, what must happen
# to the labels, and why is slicing the logits the same thing? Check it on one batch.
# ````
#
# ```{solution-start} ch-08-ex1
# :class: dropdown
# ```
# The logits are $(B, n + T, C)$: one row per virtual token too. Either pad the labels
# on the left with $n$ values of $-100$, so the virtual positions are ignored, or drop the
# first $n$ rows of the logits; the cross-entropy averages over the same labelled
# positions either way. `rmdlib.adapt.DropVirtualTokens` does the slicing, so the
# prompt-tuned tagger trains and predicts like any other.

# %%
from rmdlib.losses import IGNORE_INDEX, token_cross_entropy
from rmdlib.tokens import Collator
from rmdlib.tagging import windows

pt = adapt(models.build_tagger(ENCODER, names),
           AdaptConfig("prompt", virtual_tokens=5)).eval()
b = Collator(tok, keep=())(list(windows(small["test"].select(range(4)), tok)))
inputs = {k: b[k].to(P.device) for k in ("input_ids", "attention_mask")}
full_logits, sliced = pt.model(**inputs).logits, pt(**inputs).logits
padded = torch.cat([torch.full((len(b["labels"]), 5), IGNORE_INDEX), b["labels"]],
                   dim=1)
print(full_logits.shape, sliced.shape)
print(token_cross_entropy(sliced, b["labels"].to(P.device)).item(),
      token_cross_entropy(full_logits, padded.to(P.device)).item())

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} ★★ · 15 min
# :label: ch-08-ex2
# LoRA on the query and value matrices trains $4rd$ parameters per layer, the bottleneck
# adapter $2(2md + d + m)$. At which rank $r$ does LoRA train as many parameters as a
# bottleneck adapter of width $m = 16$ on this encoder? Then check your answer with
# `closed_form_trainable`.
# ```
#
# ```{solution} ch-08-ex2
# :class: dropdown
# Setting $4rd = 2(2md + d + m)$ gives $r = m + \tfrac12 + \tfrac{m}{2d}$, just above $m$:
# per layer a rank-$r$ LoRA on two matrices costs about as much as a width-$r$ adapter at
# two places. With $d$ = {glue:text}`ex2_d` that is $r$ = {glue:text}`ex2_r:.2f`;
# `closed_form_trainable` gives {glue:text}`ex2_lora16:,` trainable parameters for LoRA at
# $r = 16$ and {glue:text}`ex2_bn16:,` for the adapter at $m = 16$, heads included.
# ```
#
# ```{exercise} ★ · 10 min
# :label: ch-08-ex3
# LoRA's update can be merged into the weights after training; can a bottleneck adapter's?
# Can IA3's? What does the answer mean for inference speed?
# ```
#
# ```{solution} ch-08-ex3
# :class: dropdown
# LoRA adds $\frac{\alpha}{r}BA$ to a matrix, a linear change, so $W' = W + \frac{\alpha}{r}BA$
# is one matrix and inference costs what the original model costs. IA3 multiplies keys,
# values or FFN inputs by a vector, which equals scaling the rows or columns of the
# matrix that produces or reads them: it merges too. A bottleneck adapter computes
# $x + W_u f(W_d x)$ with a nonlinearity $f$ between the two matrices; no single matrix
# equals it, so it stays as extra layers and adds latency at every layer (small for a
# small $m$, but not zero). Prefix and prompt tuning add keys, values or positions, which
# also remain at inference.
# ```

# %% tags=["remove-cell"]
# Numbers quoted in the solutions, computed rather than typed.
d = tagger.config.hidden_size
glue("ex2_d", d)
glue("ex2_r", 16 + 0.5 + 16 / (2 * d))
glue("ex2_lora16", closed_form_trainable(tagger.config, len(names), AdaptConfig("lora", r=16)))
glue("ex2_bn16", closed_form_trainable(tagger.config, len(names), AdaptConfig("bottleneck", bottleneck=16)));

# %% [markdown]
# ## Summary
#
# * A checkpoint folder is `config.json` (which class, what sizes, which labels) and
#   `model.safetensors` (a JSON header and raw tensor bytes, nothing executable). Pickle
#   checkpoints can run code and are refused.
# * The Auto classes build a model from `model_type`. A course architecture registers its
#   own name when its package is imported; a fresh process without the package refuses
#   the folder instead of guessing, and `trust_remote_code=True` would mean running the
#   repository's Python. Hub models load at pinned revisions (`rmdlib.hub`).
# * One function, `adapt`, turns a tagger into every rung of the ladder; each rung's
#   trainable parameters have a closed form, from {glue:text}`share_head:.2%` (head only)
#   to {glue:text}`share_top_k:.1%` (top layer) of the tagger here.
# * On this tiny encoder, the rungs not below full fine-tuning within the interval were:
#   {glue:text}`close_list`. LoRA merges into the weights exactly
#   ({glue:text}`merge_same:.1%` identical tags) and its checkpoint is
#   {glue:text}`full_over_kb:.0f` times smaller than a full copy.
# * One frozen encoder served NER and sentence boundaries by switching adapters, each task
#   adding a few hundred kB or less.

# %% [markdown]
# ## Self-check quiz
#
# Pick an answer to see why it is right or wrong. The questions test this chapter's
# learning objectives; the exercises above train them.

# %% tags=["remove-input"]
from rmdlib import quiz

quiz.show("08_adapting")

# %% [markdown]
# ## References
#
# This chapter draws on {cite:t}`houlsby2019parameter` for bottleneck adapters,
# {cite:t}`hu2022lora` for LoRA, {cite:t}`liu2022few` for IA3, {cite:t}`li2021prefix` for
# prefix tuning, {cite:t}`lester2021power` for prompt tuning, {cite:t}`liu2022ptuning` for
# deep prompt tuning on sequence labelling, and {cite:t}`wolf2020transformers` for the
# `transformers` library and its Auto classes.

# %% tags=["remove-cell"]
# The run time quoted under "Time:" at the top of the chapter, from this run.
glue("run_minutes", P.elapsed() / 60);
