"""The GPU check: does the book's training path do on a GPU what it claims?  ``python tools/gpu_check.py``.

The logic lives in ``rmdlib`` (``train.fit``: autocast, GradScaler, the
scheduler rule, fused AdamW, ``no_sync``; ``tokens.pad_multiple``); this script
only drives it on the machine it runs on and measures:

1. precision: the autocast dtype ``fit`` picks (bf16 where supported, else fp16
   with a GradScaler) and, on CUDA, an fp16 run whose second step overflows:
   the scaler skips it and the learning-rate schedule does not advance;
2. fused AdamW on CUDA (and CPU), PyTorch's choice elsewhere;
3. ``pad_to_multiple_of=8`` on CUDA only: every training batch's length;
4. DDP under torchrun with gradient accumulation: the all-reduces counted by a
   communication hook (one per optimizer step, not one per micro-batch: ``no_sync``),
   and the weights compared with one process that sees the same batches;
5. chapter 4's recipe in the colab profile (its encoder, data, TaggingConfig and
   TrainConfig): tokens/s and model FLOPs utilisation, MFU = tokens/s x 6 N_eff / peak,
   with 6 N_eff = 3 x ``zoo.flops_per_token`` (forward 2N + 4LTD, backward twice that)
   and the peak from :data:`PEAK_TFLOPS`.

Results go to ``--out`` as JSON (default ``benchmarks/results/gpu_check.json``).
Hub downloads may be impossible (no network): then the encoder is the colab
profile's architecture (``ElectraConfig()``'s defaults are ELECTRA-Small's shapes)
with random weights and the data the micro-world at the colab scale; the JSON says
so, and tokens/s and MFU, which depend on shapes and not on weights, still hold.
``--smoke`` runs every part tiny on the CPU (DDP on gloo with 2 processes), as
``tests/test_gpu_check.py`` does.  Budget: under 8 minutes on one modern GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rmdlib  # noqa: E402
from rmdlib import _parallel as par  # noqa: E402
from rmdlib import data, models, tagging, train, zoo  # noqa: E402
from rmdlib.report import hardware  # noqa: E402
from rmdlib.tokens import pad_multiple  # noqa: E402

# Dense (no sparsity) tensor-core peak in TFLOP/s for bf16 / fp16 inputs with fp32 accumulation,
# from NVIDIA's data sheets (H100/H200: "H100 Tensor Core GPU" and "H200" data sheets; A100: "A100
# Tensor Core GPU" data sheet; L4, T4, V100: their data sheets).  Matched on torch.cuda.get_device_name();
# the first entry whose every word is in the name wins (order matters: "H100 PCIe" before "H100").
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.4, "fp16": 989.4}),
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0}),
    ("H100 NVL", {"bf16": 835.0, "fp16": 835.0}),
    ("H100", {"bf16": 989.4, "fp16": 989.4}),  # SXM5 ("H100 80GB HBM3")
    ("A100", {"bf16": 312.0, "fp16": 312.0}),
    ("L4", {"bf16": 121.0, "fp16": 121.0}),
    ("T4", {"fp16": 65.0}),  # Turing: no bf16, so fit uses fp16 with a GradScaler
    ("V100", {"fp16": 125.0}),  # SXM2; no bf16
]
BUDGET_S = 8 * 60


def peak_flops(device: torch.device, dtype: torch.dtype | None) -> tuple[float | None, str]:
    """(peak FLOP/s, which entry) for ``device`` computing in ``dtype``; (None, why) when unknown."""
    if device.type != "cuda" or dtype is None:
        return None, f"no peak for {device.type} in {dtype} (the table covers CUDA tensor cores)"
    name, kind = torch.cuda.get_device_name(device), {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    for key, peaks in PEAK_TFLOPS:
        if all(word in name for word in key.split()) and kind in peaks:
            return peaks[kind] * 1e12, f"{key} {kind} dense: {peaks[kind]} TFLOP/s"
    return None, f"{name!r} is not in PEAK_TFLOPS"


# ----------------------------------------------------------------------------- 1-3: precision, AdamW, padding
def check_precision(device: torch.device) -> dict:
    """The autocast dtype fit uses here; on CUDA, an fp16 run whose step 2 overflows (inf loss)."""
    dtype = train.amp_dtype(device, "auto")
    out = {"autocast": str(dtype).replace("torch.", "") if dtype else "off (full precision)",
           "bf16_supported": bool(device.type == "cuda" and torch.cuda.is_bf16_supported())}
    if device.type != "cuda":
        out["fp16_overflow_run"] = "skipped: fit uses mixed precision on CUDA only"
        return out
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    y = torch.randn(64, 1, generator=torch.Generator().manual_seed(1))
    calls = []

    def loss_fn(m: nn.Module, b: tuple) -> torch.Tensor:
        calls.append(1)
        loss = F.mse_loss(m(b[0]).float(), b[1])
        return loss * float("inf") if len(calls) == 2 else loss  # step 2 overflows

    torch.manual_seed(0)
    cfg = train.TrainConfig(lr=0.1, max_steps=4, warmup_steps=0, log_every=1, amp="fp16", progress=False)
    history = train.fit(nn.Linear(32, 1), loss_fn, [(x, y)], cfg=cfg, device=device)
    lrs = [r["lr"] for r in history.train]
    out["fp16_overflow_run"] = {"lrs": lrs, "schedule_held_on_the_skipped_step": lrs[2] == lrs[1] > lrs[3]}
    return out


def check_optimizer(device: torch.device) -> dict:
    """Whether fit's AdamW is the fused kernel on this device."""
    opt = train.build_optimizer(nn.Linear(4, 4).to(device), train.TrainConfig(), device=device)
    return {"fused": bool(opt.defaults.get("fused")), "expected_fused": device.type in ("cuda", "cpu")}


def check_padding(win, tok, cfg: tagging.TaggingConfig, device: torch.device) -> dict:
    """Training batch lengths on ``device``: multiples of 8 on CUDA, the longest window elsewhere."""
    lengths = [b["input_ids"].shape[1] for b in tagging.train_loader(win, tok, cfg, device=device)]
    return {"pad_to_multiple_of": pad_multiple(device), "batches": len(lengths),
            "all_multiples_of_8": all(t % 8 == 0 for t in lengths), "mean_length": sum(lengths) / len(lengths)}


# ----------------------------------------------------------------------------- 4: DDP, no_sync
def _ddp_batches(rank: int, steps: int, accum: int, world: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Rank ``rank``'s micro-batches; batch (s, m, r) is the same tensor whichever process builds it."""
    out = []
    for s in range(steps):
        for m in range(accum):
            g = torch.Generator().manual_seed(1000 * s + 100 * m + rank)
            out.append((torch.randn(4, 16, generator=g), torch.randn(4, 1, generator=g)))
    return out


def ddp_worker(out_path: str, steps: int, accum: int) -> None:
    """One torchrun process: fit a DDP model with accumulation, count all-reduces; rank 0 compares and writes."""
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    r = par.init("auto" if torch.cuda.device_count() >= 2 else "cpu")
    cfg = train.TrainConfig(lr=0.05, max_steps=steps, grad_accum=accum, warmup_steps=0, progress=False)
    loss_fn = lambda m, b: F.mse_loss(m(b[0]), b[1])  # noqa: E731
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    ddp = par.wrap(model.to(r.device), loss_fn, r)
    reduces = []

    def counting_hook(state, bucket):
        reduces.append(1)
        return default_hooks.allreduce_hook(state, bucket)

    ddp.register_comm_hook(None, counting_hook)
    batches = [(x.to(r.device), y.to(r.device)) for x, y in _ddp_batches(r.rank, steps, accum, r.world)]
    train.fit(ddp, par.call_loss, batches, cfg=cfg, device=r.device)
    par.barrier(r)
    if r.rank == 0:
        ref = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
        ref.load_state_dict(start)
        per_rank = [_ddp_batches(k, steps, accum, r.world) for k in range(r.world)]
        order = [per_rank[k][s * accum + m] for s in range(steps) for m in range(accum) for k in range(r.world)]
        train.fit(ref, loss_fn, order, cfg=replace(cfg, grad_accum=accum * r.world), device="cpu")
        diff = max((a.detach().cpu() - b.detach()).abs().max().item()
                   for a, b in zip(model.parameters(), ref.parameters()))
        result = {"world_size": r.world, "backend": "nccl" if r.device.type == "cuda" else "gloo",
                  "steps": steps, "grad_accum": accum, "all_reduce_calls": len(reduces),
                  "all_reduce_calls_without_no_sync": steps * accum, "max_weight_diff_vs_one_process": diff}
        Path(out_path).write_text(json.dumps(result), encoding="utf-8")
    par.close(r)


def check_ddp(steps: int, accum: int) -> dict:
    """Run :func:`ddp_worker` in 2 processes under torchrun and read rank 0's result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ddp.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               __file__, "--ddp-worker", str(out), "--ddp-steps", str(steps), "--ddp-accum", str(accum)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        # its own process group, so that a timeout ends torchrun *and* its workers
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            raise RuntimeError(f"torchrun took over 900 s:\n{stderr[-3000:]}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun failed ({proc.returncode}):\n{stderr[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- 5: chapter 4 in the colab profile
def _encoder_and_data(P: rmdlib.Profile, smoke: bool) -> tuple:
    """(encoder, tokenizer, NER data, notes): the profile's own where they load, else stand-ins said so."""
    notes = {}
    try:
        tok = zoo.tokenizer(P)
        encoder = models.build_encoder(P.encoder)
        notes["encoder"] = f"{P.encoder} (pretrained, pinned revision)"
    except Exception as e:  # no Hub, no simulated Hub: the architecture with random weights
        tok = zoo.tokenizer(replace(P, encoder=None))
        shape = dict(hidden=32, layers=1, heads=2) if smoke else {}
        encoder = models.build_encoder(None, vocab_size=len(tok), pad_token_id=tok.pad_token_id, **shape) \
            if smoke else _electra_small(len(tok), tok.pad_token_id)
        notes["encoder"] = (f"{'tiny' if smoke else 'ELECTRA-Small-shaped'} encoder, random weights "
                            f"({P.encoder} did not load: {type(e).__name__}); tokens/s and MFU hold, F1 does not")
    try:
        ds = data.load_ner(P.ner_data)
        notes["data"] = P.ner_data
    except Exception as e:
        n = 40 if smoke else P.n(2000)
        ds = data.load_ner("synthetic", seed=P.seed, n_train=n, n_val=max(10, n // 10), n_test=max(10, n // 10))
        notes["data"] = f"micro-world, {n} training sentences ({P.ner_data} did not load: {type(e).__name__})"
    return encoder, tok, ds, notes


def _electra_small(vocab_size: int, pad_token_id: int) -> nn.Module:
    """ELECTRA-Small's discriminator shape (``ElectraConfig()``'s defaults: D 256, 12 layers, E 128)."""
    from transformers import ElectraConfig, ElectraModel

    return ElectraModel(ElectraConfig(vocab_size=vocab_size, pad_token_id=pad_token_id))


def check_finetune(P: rmdlib.Profile, smoke: bool) -> dict:
    """Chapter 4's fine-tuning recipe (TaggingConfig, TrainConfig) on P.device: tokens/s, MFU, F1."""
    encoder, tok, ds, notes = _encoder_and_data(P, smoke)
    tagging_cfg = tagging.TaggingConfig(batch_size=32, dropout=0.1)  # chapter 4's
    steps = 4 if smoke else P.n(400)
    cfg = train.TrainConfig(lr=P.finetune_lr, max_steps=steps, warmup_ratio=0.1, eval_every=max(1, steps // 5),
                            monitor="f1", mode="max", seed=P.seed, log_every=2 if smoke else 10)
    win = tagging.windows(ds, tok, tagging_cfg)
    padding = check_padding(win["train"], tok, tagging_cfg, P.device)
    torch.manual_seed(P.seed)
    start = time.perf_counter()
    model, history = tagging.finetune_tagger(encoder, ds, tok, cfg, tagging_cfg, device=P.device)
    seconds = time.perf_counter() - start
    test_f1 = tagging.evaluate_tagger(model, tok, ds["test"], tagging_cfg, device=P.device)["f1"]
    rates = [r["tokens_per_s"] for r in history.train[1:]] or [history.train[0]["tokens_per_s"]]  # 1st: warm-up
    tokens_per_s = sum(rates) / len(rates)
    seq_len = round(padding["mean_length"])
    flops = 3 * zoo.flops_per_token(model, seq_len)  # training FLOPs per token: forward + 2x backward
    dtype = train.amp_dtype(P.device, cfg.amp)
    peak, peak_source = peak_flops(P.device, dtype)
    return {**notes, "steps": steps, "batch_size": tagging_cfg.batch_size, "lr": cfg.lr,
            "parameters": sum(p.numel() for p in model.parameters()), "train_flops_per_token": flops,
            "linear_weights": sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)),
            "layers": model.config.num_hidden_layers, "hidden": model.config.hidden_size,
            "mean_padded_length": padding["mean_length"], "padding": padding, "seconds": seconds,
            "tokens_per_s": tokens_per_s, "achieved_tflops": tokens_per_s * flops / 1e12,
            "peak": peak_source, "mfu": None if peak is None else tokens_per_s * flops / peak,
            "best_validation_f1": history.best[1] if history.best else None, "test_f1": test_f1,
            "tokens_counted": "real (non-pad) tokens; padding adds work that MFU does not count"}


# ----------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, on the CPU: every part in about a minute")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_check.json")
    parser.add_argument("--ddp-worker", help=argparse.SUPPRESS)  # set by check_ddp's torchrun
    parser.add_argument("--ddp-steps", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--ddp-accum", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        ddp_worker(args.ddp_worker, args.ddp_steps, args.ddp_accum)
        return 0
    t0 = time.perf_counter()
    P = rmdlib.setup(seed=0, profile="colab")
    if args.smoke:
        P = replace(P, device=torch.device("cpu"))
    report = {"check": "gpu_check", "smoke": args.smoke, "hardware": hardware(P.device),
              "torch": torch.__version__, "cuda": torch.version.cuda, "profile": asdict(P) | {"device": str(P.device)},
              "precision": check_precision(P.device), "adamw": check_optimizer(P.device),
              "ddp": check_ddp(args.ddp_steps, args.ddp_accum), "finetune": check_finetune(P, args.smoke)}
    report["seconds"] = time.perf_counter() - t0
    report["within_budget"] = report["seconds"] < BUDGET_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    f = report["finetune"]
    mfu = "n/a" if f["mfu"] is None else f"{100 * f['mfu']:.1f} %"
    print(f"gpu_check: {report['hardware']}; autocast {report['precision']['autocast']}; "
          f"fused AdamW {report['adamw']['fused']}; DDP all-reduces {report['ddp']['all_reduce_calls']} "
          f"(not {report['ddp']['all_reduce_calls_without_no_sync']}); fine-tune {f['tokens_per_s']:.0f} tokens/s, "
          f"MFU {mfu} ({f['peak']}); {report['seconds']:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
