"""The pilot grid behind ``more_seeds.py``'s longer schedule for chapter 6 (kept as it was run).

One schedule per call: chapter 6's data (300 training sentences unless N_TRAIN says otherwise,
its 500 test sentences, seeds 0 .. N_SEEDS-1), arms among none, fgm (epsilon 0.05), dropout (0.1)
and ls (label smoothing 0.1), each paired with none.  Prints, per arm, the test F1 of every seed,
the mean difference from none with the book's interval, and the standard deviation of the
per-seed differences: the numbers of the pilot table in ``benchmarks/README.md``.

    python benchmarks/pilot_regularizers.py STEPS BATCH LR N_TRAIN N_SEEDS [arms...]
    python benchmarks/pilot_regularizers.py 480 4 1e-3 300 6 none fgm dropout ls   # the chosen row
"""
import sys, time
from dataclasses import replace
import numpy as np, torch
import rmdlib
from datasets import DatasetDict
from rmdlib import data, models, regularize, zoo
from rmdlib.compare import paired_f1
from rmdlib.metrics import entity_scores
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger, label_names, predict_split
from rmdlib.train import TrainConfig

steps, bs, lr, n_train = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
n_seeds = int(sys.argv[5]); arms = sys.argv[6:] or ["none", "fgm", "dropout", "ls"]
P = rmdlib.setup(seed=0)
ner = data.load_ner(P.ner_data)
small = DatasetDict(train=ner["train"].shuffle(seed=0).select(range(n_train)),
                    validation=ner["validation"].shuffle(seed=0).select(range(200)),
                    test=ner["test"].shuffle(seed=0).select(range(500)))
names = label_names(small)
gold = [[names[t] for t in tags] for tags in small["test"]["ner_tags"]]
tok = zoo.tokenizer(P); enc_path = zoo.encoder(P)
T = TaggingConfig(batch_size=bs, dropout=0.0)
SEEDS = tuple(range(n_seeds))
EPS = 0.05

def run(arm, seed):
    torch.manual_seed(seed)
    enc = models.build_encoder(enc_path)
    d = 0.1 if arm == "dropout" else 0.0
    regularize.set_dropout(enc, hidden=d, attention=d)
    tg = replace(T, dropout=d, label_smoothing=0.1 if arm == "ls" else 0.0)
    cfg = TrainConfig(lr=lr, max_steps=steps, warmup_ratio=0.1, weight_decay=0.0, seed=seed, log_every=5)
    loss_fn = regularize.fgm(models.tagging_loss_fn(), epsilon=EPS) if arm == "fgm" else None
    m, h = finetune_tagger(enc, DatasetDict(train=small["train"]), tok, cfg, tg, loss_fn=loss_fn, device="cpu")
    pred = predict_split(m, tok, small["test"], T, device="cpu")[1]
    val = evaluate_tagger(m, tok, small["validation"], T, device="cpu")["f1"]
    return pred, entity_scores(gold, pred)["f1"], val

t0 = time.perf_counter()
res = {}
for arm in arms:
    t = time.perf_counter()
    res[arm] = [run(arm, s) for s in SEEDS]
    print(f"  {arm}: {time.perf_counter()-t:.1f} s", flush=True)
tag = f"steps={steps} bs={bs} lr={lr:g} n={n_train}"
print(tag, f"total {time.perf_counter()-t0:.1f} s")
for arm in arms:
    te = [r[1] for r in res[arm]]; va = [r[2] for r in res[arm]]
    line = f"{tag} {arm:8s} test {np.mean(te):.3f} ({' '.join(f'{x:.3f}' for x in te)}) val {np.mean(va):.3f}"
    if arm != "none":
        c = paired_f1(gold, [r[0] for r in res[arm]], [r[0] for r in res["none"]])
        d = np.array(te) - np.array([r[1] for r in res["none"]])
        line += f"  diff {c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}] per-seed sd {d.std(ddof=1):.3f}"
    print(line, flush=True)
