"""A simulated Hugging Face Hub on 127.0.0.1, for running the colab profile where the Hub is unreachable.

The book's colab profile loads models with ``from_pretrained(name, revision=...)``
and datasets with ``load_dataset(name, revision=...)``.  Neither has run where the
book is built (no network).  This tool builds the closest thing that exercises
*the same code*: a loopback HTTP server that answers the calls ``huggingface_hub``,
``transformers`` and ``datasets`` make to ``HF_ENDPOINT`` (file ``resolve`` with
``X-Repo-Commit`` / ``ETag`` / ``X-Linked-Size`` / ``Range``, the
``/api/{models,datasets}/<id>/revision/<rev>`` info call, ``tree`` listing and
``paths-info``), serving repositories under their real ids at the registry's
pinned revisions (``rmdlib.hub.MODELS``, ``rmdlib.data.REGISTRY``).  A revision the
registry does not pin is a ``RevisionNotFound`` 404, like on the Hub.

Why a server and not a pre-filled cache with ``HF_HUB_OFFLINE=1``: offline,
``datasets.load_dataset(hub_id, revision=...)`` does not read the Hub cache's
snapshots at all (it looks for a dataset it prepared before), and
``from_pretrained`` never resolves the revision against the Hub; a server makes
both run their online path, downloads and cache layout included.

Contents (``python tools/sim_hub.py build``, into ``_build/sim-hub``):

* models: random weights (``model.safetensors``) of each registry model's real
  architecture and config; ``google/electra-small-*`` at full size (hidden 256,
  12 layers, embedding 128, vocab 30,522); the base/large ELECTRAs, BERT-base,
  mBERT and XLM-R with their real vocabulary sizes but hidden/layers scaled down
  (``SCALED``), since random weights of 110-560 M parameters only cost disk and
  time.  WordPiece ``vocab.txt`` files have the real size with BERT's special
  tokens at their real ids; XLM-R gets a small Unigram (sentencepiece-style)
  ``tokenizer.json`` built with ``tokenizers``.
* datasets as Parquet at the real split sizes: CoNLL-2003 and WikiANN from the
  real files in ``$RMD_SHARED_DATA`` (default ``../shared/data``) when present,
  otherwise ``rmdlib.synth`` sentences with the real label names; UD EWT and
  WikiText-2 from ``rmdlib.synth`` text (the registry's row counts and columns).
  WikiText-103 (1.8 M rows, full profile only) is not built.

``python tools/sim_hub.py run -- CMD ...`` serves the built hub on a free port and
runs CMD with ``HF_ENDPOINT`` pointing at it and a fresh ``HF_HOME``; the request
log goes to ``<hub>/requests.log``; unknown routes are logged as ``UNHANDLED``.
Never used by the offline book.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HUB = ROOT / "_build" / "sim-hub"
LFS_SUFFIXES = (".safetensors", ".parquet", ".bin")
BERT_UNCASED_SPECIALS = 999  # [PAD], [unused0..98], [UNK], [CLS], [SEP], [MASK], [unused99..993]


# ---------------------------------------------------------------- repositories on disk
# <hub>/index.json: {"model": {id: {"refs": {ref: sha}, "aliases": [...]}}, "dataset": {...}}
# <hub>/<type>/<id>/<sha>/<files>


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _fake_commit(*parts: str) -> str:
    """A deterministic 40-hex id for a simulated commit (for refs the registry pins by name)."""
    return hashlib.sha1("\0".join(("sim-hub", *parts)).encode()).hexdigest()


@dataclass
class Hub:
    root: Path

    def index(self) -> dict:
        return json.loads((self.root / "index.json").read_text())

    def commit_dir(self, kind: str, repo: str, sha: str) -> Path:
        return self.root / kind / repo / sha

    def add(self, kind: str, repo: str, files: dict[str, Path | bytes], *, refs: dict[str, str | None],
            aliases: tuple[str, ...] = ()) -> str:
        """Store one commit holding ``files``; ``refs`` maps ref names to it (None: a derived fake id)."""
        digest = hashlib.sha1()
        for name in sorted(files):
            data = files[name] if isinstance(files[name], bytes) else Path(files[name]).read_bytes()
            digest.update(name.encode() + b"\0" + _git_oid(data).encode())
        sha = next((s for s in refs.values() if s), None) or _fake_commit(kind, repo, digest.hexdigest())
        target = self.commit_dir(kind, repo, sha)
        shutil.rmtree(target, ignore_errors=True)
        for name, content in files.items():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                dest.write_bytes(content)
            else:
                shutil.copyfile(content, dest)
        path = self.root / "index.json"
        index = json.loads(path.read_text()) if path.exists() else {"model": {}, "dataset": {}}
        entry = index[kind].setdefault(repo, {"refs": {}, "aliases": []})
        entry["refs"].update({ref: sha for ref in refs})
        entry["aliases"] = sorted(set(entry["aliases"]) | set(aliases))
        path.write_text(json.dumps(index, indent=1, sort_keys=True))
        return sha


# ---------------------------------------------------------------- the HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub
    log_file: Path | None = None
    _lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        if self.log_file is not None:
            with self._lock, open(self.log_file, "a") as f:
                f.write("%s %s\n" % (time.strftime("%H:%M:%S"), format % args))

    # --- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict | None = None):
        self._send(status, json.dumps({"error": message}).encode(), {"X-Error-Code": code, **(headers or {})})

    def _repo(self, kind: str, name: str):
        index = self.hub.index()[kind]
        if name in index:
            return name, index[name]
        for repo, entry in index.items():
            if name in entry["aliases"]:
                return repo, entry
        return None, None

    def _resolve(self, kind: str, name: str, rev: str):
        """(repo, sha, commit folder) or None after answering with the Hub's 404."""
        repo, entry = self._repo(kind, name)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
            return None
        rev = unquote(rev)
        sha = entry["refs"].get(rev) or (rev if self.hub.commit_dir(kind, repo, rev).is_dir() else None)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None
        return repo, sha, self.hub.commit_dir(kind, repo, sha)

    def _entry(self, base: Path, rel: str, expand: bool = False) -> dict:
        p = base / rel
        if p.is_dir():
            return {"type": "directory", "oid": _fake_commit("tree", str(p)), "path": rel}
        data = p.read_bytes()
        entry = {"type": "file", "oid": _git_oid(data), "size": len(data), "path": rel}
        if rel.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        if expand:
            entry["lastCommit"] = {"id": base.name, "title": "simulated commit", "date": "2024-01-01T00:00:00.000Z"}
        return entry

    @staticmethod
    def _files(base: Path) -> list[str]:
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())

    # --- routes
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        if parts[0] == "api" and len(parts) >= 3 and parts[1] in ("models", "datasets"):
            return self._api(parts[1][:-1], parts[2:], query)
        kind = "model"
        if parts[0] == "datasets":
            kind, parts = "dataset", parts[1:]
        if "resolve" in parts:
            i = parts.index("resolve")
            if i >= 1 and len(parts) > i + 2:
                return self._file(kind, "/".join(parts[:i]), parts[i + 1], "/".join(unquote(p) for p in parts[i + 2:]))
        self.log_message("UNHANDLED %s %s", self.command, self.path)
        self._error(404, "EntryNotFound", f"simulated hub: no route for {self.path}")

    def do_POST(self):
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        if parts[0] == "api" and len(parts) >= 3 and parts[1] in ("models", "datasets") and "paths-info" in parts:
            i = parts.index("paths-info")
            got = self._resolve(parts[1][:-1], "/".join(parts[2:i]), "/".join(parts[i + 1:]))
            if got is None:
                return
            _, sha, base = got
            expand = form.get("expand", ["false"])[0].lower() == "true"
            out = [self._entry(base, p, expand) for p in form.get("paths", []) if (base / p).exists()]
            return self._send(200, json.dumps(out).encode(), {"X-Repo-Commit": sha})
        self.log_message("UNHANDLED %s %s", self.command, self.path)
        self._error(404, "EntryNotFound", f"simulated hub: no route for POST {self.path}")

    def _api(self, kind: str, rest: list[str], query: dict):
        for verb in ("revision", "tree"):
            if verb in rest:
                i = rest.index(verb)
                name, after = "/".join(rest[:i]), rest[i + 1:]
                break
        else:
            name, verb, after = "/".join(rest), "revision", ["main"]
        if not after:
            after = ["main"]
        got = self._resolve(kind, name, after[0])
        if got is None:
            return
        repo, sha, base = got
        headers = {"X-Repo-Commit": sha}
        if verb == "revision":
            info = {"_id": _fake_commit("id", repo), "id": repo, "sha": sha, "private": False, "gated": False,
                    "disabled": False, "downloads": 0, "likes": 0, "tags": [], "author": repo.split("/")[0],
                    "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2020-01-01T00:00:00.000Z",
                    "siblings": [{"rfilename": f} for f in self._files(base)], "cardData": {}}
            if kind == "model":
                cfg = base / "config.json"
                if cfg.exists():
                    c = json.loads(cfg.read_text())
                    info.update(config={"architectures": c.get("architectures"), "model_type": c.get("model_type")},
                                library_name="transformers", pipeline_tag=None)
            return self._send(200, json.dumps(info).encode(), headers)
        path = "/".join(unquote(p) for p in after[1:])
        if path and not (base / path).exists():
            return self._error(404, "EntryNotFound", f"{path} does not exist on {after[0]}", headers)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expand = query.get("expand", ["false"])[0].lower() == "true"
        folder = base / path
        children = folder.rglob("*") if recursive else folder.iterdir()
        out = sorted((self._entry(base, str(p.relative_to(base)), expand) for p in children),
                     key=lambda e: (e["type"] != "directory", e["path"]))
        return self._send(200, json.dumps(out).encode(), headers)

    def _file(self, kind: str, name: str, rev: str, path: str):
        got = self._resolve(kind, name, rev)
        if got is None:
            return
        repo, sha, base = got
        f = base / path
        if not f.is_file():
            return self._error(404, "EntryNotFound", f"{path} does not exist at {sha}", {"X-Repo-Commit": sha})
        data = f.read_bytes()
        etag = hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES) else _git_oid(data)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Last-Modified": email.utils.formatdate(0, usegmt=True)}
        if path.endswith(LFS_SUFFIXES):
            headers.update({"X-Linked-Size": len(data), "X-Linked-Etag": f'"{etag}"'})
        rng = self.headers.get("Range")
        ctype = "application/octet-stream"
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            start = int(start_s) if start_s else max(0, len(data) - int(end_s))
            end = min(int(end_s), len(data) - 1) if end_s and start_s else len(data) - 1
            if start >= len(data):
                return self._error(416, "RangeNotSatisfiable", "range", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], headers, ctype)
        return self._send(200, data, headers, ctype)


def serve(hub_root: Path = DEFAULT_HUB, port: int = 0, log_file: Path | None = None):
    """Start the server in a daemon thread; return (server, endpoint URL)."""
    if not (hub_root / "index.json").exists():
        raise FileNotFoundError(f"{hub_root}/index.json: no simulated hub there; run `python tools/sim_hub.py build`")
    handler = type("Handler", (_Handler,), {"hub": Hub(Path(hub_root)), "log_file": log_file})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def hub_env(endpoint: str, hf_home: Path) -> dict[str, str]:
    """The environment for a process that should talk to the simulated hub and nothing else."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE",
                        "HF_DATASETS_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_XET="1", HF_TOKEN="", HF_HUB_ETAG_TIMEOUT="30", HF_HUB_DOWNLOAD_TIMEOUT="60")
    return env


# ---------------------------------------------------------------- contents


def shared_data() -> Path | None:
    path = Path(os.environ.get("RMD_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return path if path.is_dir() else None


def wordpiece_vocab(size: int, texts, *, lowercase: bool, uncased_layout: bool) -> list[str]:
    """A WordPiece vocabulary of exactly ``size`` entries with BERT's special tokens at BERT's ids.

    Uncased BERT/ELECTRA: [PAD]=0, [unused0..98]=1..99, [UNK]=100, [CLS]=101, [SEP]=102,
    [MASK]=103, [unused99..993]=104..998.  Cased BERT/mBERT: [PAD]=0, [unused1..99]=1..99,
    then [UNK], [CLS], [SEP], [MASK] at 100..103.  Then characters, ``##`` characters,
    words by frequency in ``texts`` and ``##`` word endings; numbered ``[unusedN]`` fill
    only if the text runs out.
    """
    if uncased_layout:
        vocab = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                 *(f"[unused{i}]" for i in range(99, 994))]
    else:
        vocab = ["[PAD]", *(f"[unused{i}]" for i in range(1, 100)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words: Counter = Counter()
    for text in texts:
        words.update((text.lower() if lowercase else text).split())
    chars = sorted({c for w in words for c in w} | {chr(c) for c in range(33, 127)})
    if lowercase:
        chars = sorted({c.lower() for c in chars})
    seen = set(vocab)
    out = list(vocab)

    def add(tok: str) -> None:
        if tok not in seen and len(out) < size:
            seen.add(tok)
            out.append(tok)

    for c in chars:
        add(c)
    for c in chars:
        add("##" + c)
    ranked = [w for w, _ in words.most_common()]
    for w in ranked:
        add(w)
    for n in (2, 3, 4):
        for w in ranked:
            if len(w) > n:
                add("##" + w[-n:])
    i = 1000
    while len(out) < size:
        add(f"[unused{i}]")
        i += 1
    return out[:size]


def _save_bert_tokenizer(folder: Path, vocab: list[str], lowercase: bool, cls_name: str) -> None:
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = getattr(transformers, cls_name)(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=lowercase,
                                          model_max_length=512)
    tok.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")  # the repository's own file


def _save_unigram_tokenizer(folder: Path, texts, vocab_size: int) -> None:
    """XLM-R's layout: <s>=0, <pad>=1, </s>=2, <unk>=3, then the Unigram pieces, <mask> last."""
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaTokenizer

    sp = SentencePieceUnigramTokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    sp.train_from_iterator(list(texts), vocab_size=vocab_size - 1, special_tokens=specials, unk_token="<unk>",
                           show_progress=False)
    pieces = json.loads(sp.to_str())["model"]["vocab"]
    vocab = [(p, 0.0) for p in specials] + [(p, s) for p, s in pieces if p not in specials] + [("<mask>", 0.0)]
    XLMRobertaTokenizer(vocab=vocab, model_max_length=512).save_pretrained(folder)


def _electra(vocab: int, hidden: int, layers: int, heads: int, inter: int, emb: int, arch: str) -> dict:
    return {"architectures": [arch], "attention_probs_dropout_prob": 0.1, "embedding_size": emb,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": hidden, "initializer_range": 0.02,
            "intermediate_size": inter, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
            "model_type": "electra", "num_attention_heads": heads, "num_hidden_layers": layers,
            "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": vocab}


def _bert(vocab: int, hidden: int, layers: int, heads: int, inter: int, model_type="bert", arch="BertForMaskedLM",
          **extra) -> dict:
    return {"architectures": [arch], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "hidden_size": hidden, "initializer_range": 0.02,
            "intermediate_size": inter, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
            "model_type": model_type, "num_attention_heads": heads, "num_hidden_layers": layers,
            "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": vocab, **extra}


# Real configs where the model is small enough to simulate at full size; the others keep their real
# vocabulary and architecture but a hidden size / depth scaled down (SCALED says from what).
SCALED = {
    "google/electra-base-discriminator": "hidden 768 -> 64, layers 12 -> 2, embedding 768 -> 64",
    "google/electra-base-generator": "hidden 256 -> 64, layers 12 -> 2, embedding 768 -> 64",
    "google/electra-large-discriminator": "hidden 1024 -> 64, layers 24 -> 2, embedding 1024 -> 64",
    "google/electra-large-generator": "hidden 256 -> 64, layers 24 -> 2, embedding 1024 -> 64",
    "bert-base-cased": "hidden 768 -> 64, layers 12 -> 2",
    "bert-base-multilingual-cased": "hidden 768 -> 64, layers 12 -> 2",
    "xlm-roberta-base": "hidden 768 -> 64, layers 12 -> 2, vocabulary 250,002 -> 8,000 (Unigram trained here)",
}


def _model_plan() -> dict[str, tuple[dict, str, dict]]:
    """Hub id -> (config, tokenizer kind, tokenizer options)."""
    small = dict(hidden=256, layers=12, heads=4, inter=1024, emb=128)
    tiny = dict(hidden=64, layers=2, heads=2, inter=256, emb=64)
    uncased = ("wordpiece", {"size": 30522, "lowercase": True, "uncased_layout": True, "cls": "ElectraTokenizer"})
    plan = {
        "google/electra-small-discriminator": (_electra(30522, arch="ElectraForPreTraining", **small), *uncased),
        "google/electra-small-generator": (_electra(30522, arch="ElectraForMaskedLM", **small), *uncased),
    }
    for size in ("base", "large"):
        plan[f"google/electra-{size}-discriminator"] = (_electra(30522, arch="ElectraForPreTraining", **tiny), *uncased)
        plan[f"google/electra-{size}-generator"] = (_electra(30522, arch="ElectraForMaskedLM", **tiny), *uncased)
    plan["bert-base-cased"] = (_bert(28996, 64, 2, 2, 256), "wordpiece",
                               {"size": 28996, "lowercase": False, "uncased_layout": False, "cls": "BertTokenizer"})
    plan["bert-base-multilingual-cased"] = (
        _bert(119547, 64, 2, 2, 256, directionality="bidi", pooler_type="first_token_transform"), "wordpiece",
        {"size": 119547, "lowercase": False, "uncased_layout": False, "cls": "BertTokenizer"})
    plan["xlm-roberta-base"] = (
        _bert(8000, 64, 2, 2, 256, model_type="xlm-roberta", arch="XLMRobertaForMaskedLM", bos_token_id=0,
              eos_token_id=2, pad_token_id=1, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5),
        "unigram", {"size": 8000})
    return plan


# The Hub redirects these legacy ids to their organisation; the server answers both names.
ALIASES = {"bert-base-cased": ("google-bert/bert-base-cased",),
           "bert-base-multilingual-cased": ("google-bert/bert-base-multilingual-cased",),
           "xlm-roberta-base": ("FacebookAI/xlm-roberta-base",)}


def _texts(shared: Path | None, languages=("en",)) -> list[str]:
    """Sentences for building vocabularies: the real NER files when present, else the micro-world."""
    from rmdlib import synth

    texts = [" ".join(w) for w, _ in synth.ner_splits(seed=0)["train"]]
    texts += synth.corpus(0, n_docs=300)
    if shared is not None:
        from rmdlib.conll import read_conll

        conll = shared / "conll2003" / "train.txt"
        if conll.exists():
            texts += [" ".join(s.tokens) for s in read_conll(conll).sentences]
        for lang in languages:
            f = shared / "wikiann" / lang / "train"
            if f.exists():
                texts += [" ".join(s.tokens) for s in read_conll(f, token_prefix=f"{lang}:").sentences]
    return texts


def build_models(hub: Hub, names, shared: Path | None, work: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForPreTraining

    from rmdlib import hub as registry

    plan = _model_plan()
    en_texts = multi_texts = None
    for name in names:
        config_dict, tok_kind, tok = plan[name]
        folder = work / name.replace("/", "--")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        multilingual = "multilingual" in name or "xlm" in name
        if multilingual:
            multi_texts = multi_texts or _texts(shared, ("en", "de", "nl", "fr", "pt"))
            texts = multi_texts
        else:
            en_texts = en_texts or _texts(shared)
            texts = en_texts
        if tok_kind == "wordpiece":
            vocab = wordpiece_vocab(tok["size"], texts, lowercase=tok["lowercase"], uncased_layout=tok["uncased_layout"])
            _save_bert_tokenizer(folder, vocab, tok["lowercase"], tok["cls"])
        else:
            _save_unigram_tokenizer(folder, texts, tok["size"])
            from transformers import AutoTokenizer

            config_dict = {**config_dict, "vocab_size": len(AutoTokenizer.from_pretrained(folder))}
        config = AutoConfig.for_model(**config_dict)
        torch.manual_seed(0)
        auto = AutoModelForPreTraining if config_dict["architectures"][0].endswith("PreTraining") else AutoModelForMaskedLM
        auto.from_config(config).save_pretrained(folder)  # config.json + model.safetensors
        files = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
        rev = registry.MODELS[name].revision
        refs = {"main": None} if not registry.is_commit(rev) else {"main": rev}
        hub.add("model", name, files, refs=refs, aliases=ALIASES.get(name, ()))
        print(f"sim-hub: model {name} @ {rev} ({sum(p.stat().st_size for p in files.values()) / 1e6:.1f} MB)"
              + (f"; scaled: {SCALED[name]}" if name in SCALED else ""))


def _parquet(rows: dict, features, path: Path) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


def _ner_rows(spec, shared: Path | None, local: str | None, lang_prefix: str = "", seed: int = 0):
    """Split -> (tokens, tag ids): the real files when present, else micro-world sentences, real sizes."""
    from rmdlib import data, synth

    names = spec.label_names
    if shared is not None and local and (shared / local).is_dir():
        dsd = data.load_ner(str(shared / local), label_names=names)
        return {s: (dsd[s]["tokens"], dsd[s]["ner_tags"]) for s in dsd}, f"real files {shared / local}"
    sizes = spec.split_sizes
    splits = synth.ner_splits(seed=seed, n_train=sizes["train"], n_val=sizes["validation"], n_test=sizes["test"])
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
        sents = splits[key] if key in splits else splits[split]
        out[split] = ([list(w) for w, _ in sents], [[index.get(t, 0) for t in tags] for _, tags in sents])
    return out, "rmdlib.synth sentences (tags outside the label set mapped to O)"


def build_datasets(hub: Hub, shared: Path | None, work: Path, names=None) -> None:
    from datasets import ClassLabel, Features, List, Value

    from rmdlib import data, synth

    reg = data.REGISTRY
    names = names or ["conll2003", "wikiann", "ud-english-ewt", "wikitext-2"]
    if "conll2003" in names:
        spec = reg["conll2003"]
        rows, origin = _ner_rows(spec, shared, spec.local_dir)
        feats = Features({"id": Value("string"), "tokens": List(Value("string")),
                          "ner_tags": List(ClassLabel(names=list(spec.label_names)))})
        files = {}
        for split, (toks, tags) in rows.items():
            p = work / "conll2003" / "conll2003" / split / "0000.parquet"
            _parquet({"id": [str(i) for i in range(len(toks))], "tokens": toks, "ner_tags": tags}, feats, p)
            files[f"conll2003/{split}/0000.parquet"] = p
        sha = hub.add("dataset", spec.path, files, refs={"refs/convert/parquet": None})
        # main holds the loading script, which datasets 5 refuses: the pin to the parquet branch matters
        hub.add("dataset", spec.path, {"conll2003.py": b"# a loading script (not runnable in datasets >= 4)\n",
                                       "README.md": b"---\npretty_name: CoNLL-2003\n---\n"}, refs={"main": None})
        print(f"sim-hub: dataset {spec.path} @ refs/convert/parquet ({sha[:8]}) from {origin}")
    if "wikiann" in names:
        spec = reg["wikiann-en"]
        files, origins = {}, set()
        for lang in ("en", "de", "nl", "fr", "pt"):
            rows, origin = _ner_rows(spec, shared, f"wikiann/{lang}", seed=("en", "de", "nl", "fr", "pt").index(lang))
            origins.add(origin.split(" ")[0])
            feats = Features({"tokens": List(Value("string")),
                              "ner_tags": List(ClassLabel(names=list(spec.label_names))),
                              "langs": List(Value("string"))})
            for split, (toks, tags) in rows.items():
                p = work / "wikiann" / lang / split / "0000.parquet"
                _parquet({"tokens": toks, "ner_tags": tags, "langs": [[lang] * len(t) for t in toks]}, feats, p)
                files[f"{lang}/{split}/0000.parquet"] = p
        sha = hub.add("dataset", spec.path, files, refs={"refs/convert/parquet": None})
        print(f"sim-hub: dataset {spec.path} @ refs/convert/parquet ({sha[:8]}), 5 languages, from {origins}")
    if "ud-english-ewt" in names:
        spec = reg["ud-english-ewt"]
        sizes = spec.split_sizes
        splits = synth.ner_splits(seed=7, n_train=sizes["train"], n_val=sizes["validation"], n_test=sizes["test"])
        feats = Features({"idx": Value("string"), "text": Value("string"), "tokens": List(Value("string")),
                          "misc": List(Value("string"))})
        files = {}
        for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
            sents = splits[key] if key in splits else splits[split]
            toks = [list(w) for w, _ in sents]
            p = work / "ud" / spec.data_dir / split / "0000.parquet"
            _parquet({"idx": [f"sim-{split}-{i}" for i in range(len(toks))], "text": [" ".join(t) for t in toks],
                      "tokens": toks, "misc": [["_"] * len(t) for t in toks]}, feats, p)
            files[f"{spec.data_dir}/{split}/0000.parquet"] = p
        hub.add("dataset", spec.path, files, refs={"refs/convert/parquet": spec.revision})
        print(f"sim-hub: dataset {spec.path} @ {spec.revision[:8]} from rmdlib.synth sentences")
    if "wikitext-2" in names:
        spec = reg["wikitext-2"]
        docs = synth.corpus(3, n_docs=2500)
        lines, k = [], 0
        while len(lines) < sum(spec.split_sizes.values()):
            doc = docs[k % len(docs)]
            lines += ["", f" = Article {k} = ", "", *(f" {p.strip()} " for p in doc.split("\n") if p.strip())]
            k += 1
        files, start = {}, 0
        for split in ("train", "validation", "test"):
            n = spec.split_sizes[split]
            p = work / "wikitext" / spec.config / f"{split}-00000-of-00001.parquet"
            _parquet({"text": lines[start:start + n]}, Features({"text": Value("string")}), p)
            files[f"{spec.config}/{split}-00000-of-00001.parquet"] = p
            start += n
        card = ("---\nconfigs:\n- config_name: wikitext-2-raw-v1\n  data_files:\n"
                + "".join(f"  - split: {s}\n    path: wikitext-2-raw-v1/{s}-*\n" for s in ("train", "validation", "test"))
                + "---\n# WikiText (simulated: rmdlib.synth text in WikiText's layout)\n")
        files["README.md"] = card.encode()
        hub.add("dataset", spec.path, files, refs={"main": spec.revision})
        print(f"sim-hub: dataset {spec.path} @ {spec.revision[:8]} ({spec.config}) from rmdlib.synth text")


def build(hub_root: Path = DEFAULT_HUB, models=None, datasets=None, *, real_data: bool = True) -> Hub:
    """Build the repositories (default: every registry model and dataset); ``real_data=False`` never
    reads ``$RMD_SHARED_DATA`` (the micro-world stands in, as on a machine without it)."""
    from rmdlib import hub as registry

    hub_root.mkdir(parents=True, exist_ok=True)
    hub = Hub(hub_root)
    work = hub_root / "_work"
    shared = shared_data() if real_data else None
    print(f"sim-hub: building into {hub_root}; real data: {shared or 'absent (rmdlib.synth instead)'}")
    build_models(hub, models if models is not None else list(registry.MODELS), shared, work)
    build_datasets(hub, shared, work, datasets)
    shutil.rmtree(work, ignore_errors=True)
    (hub_root / "BUILT").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return hub


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hub", type=Path, default=DEFAULT_HUB, help="where the simulated hub lives")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the repositories (models, datasets) under --hub")
    b.add_argument("--models", nargs="*", help="Hub ids (default: every rmdlib.hub.MODELS entry)")
    b.add_argument("--datasets", nargs="*", help="conll2003 wikiann ud-english-ewt wikitext-2 (default: all)")
    r = sub.add_parser("run", help="serve --hub and run a command against it (after --)")
    r.add_argument("--hf-home", type=Path, help="HF_HOME for the command, kept (default: <hub>/hf-home, emptied first)")
    r.add_argument("argv", nargs=argparse.REMAINDER)
    s = sub.add_parser("serve", help="serve --hub until interrupted")
    s.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        build(args.hub, args.models, args.datasets)
        return 0
    log = args.hub / "requests.log"
    server, endpoint = serve(args.hub, getattr(args, "port", 0), log)
    if args.cmd == "serve":
        print(f"simulated hub at {endpoint} (HF_ENDPOINT={endpoint}); log {log}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            return 0
    cmd = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    hf_home = args.hf_home
    if hf_home is None:  # a fresh cache each run: every file is downloaded through the server
        hf_home = args.hub / "hf-home"
        shutil.rmtree(hf_home, ignore_errors=True)
    try:
        rc = subprocess.call(cmd, env=hub_env(endpoint, hf_home))
    finally:
        server.shutdown()
    unhandled = [line for line in log.read_text().splitlines() if "UNHANDLED" in line] if log.exists() else []
    for line in unhandled[:20]:
        print(f"sim-hub: {line}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
