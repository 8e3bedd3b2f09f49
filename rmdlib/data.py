"""Datasets by name: pinned Hub sources that are checked on loading, and one NER loader for any source.

Every dataset the book uses is a frozen :class:`DatasetSpec` in :data:`REGISTRY`:
Hub id, pinned revision, expected split sizes, label names in order.
:func:`load_spec` loads one with ``datasets.load_dataset`` and fails loudly when
the sizes or the label order differ, so an upstream change can never shift
every label id by one unnoticed.

:func:`load_ner` returns the same ``DatasetDict`` (``tokens``; ``ner_tags`` as a
``ClassLabel`` sequence; optionally ``doc_id``) from any source:

* ``"synthetic"``: the micro-world of :mod:`rmdlib.synth` (sizes as keyword arguments);
* a registry name such as ``"conll2003"``: read from ``$RMD_DATA/<spec.local_dir>``
  when that folder exists (``RMD_DATA=../shared/data`` holds ``conll2003/train.txt``),
  otherwise from the Hub at the pinned revision; either way checked against the spec;
* a folder of CoNLL files (``train.txt valid.txt test.txt``, WikiANN's ``train dev test``
  with the ``en:`` token prefix, which is detected), or a mapping split -> file.
  A file's split is a part of its name (split at ``.``, ``_``, ``-``) among
  :data:`SPLIT_NAMES`; hidden files and documentation (README, LICENSE, SOURCE,
  MANIFEST, ``*.md``) are skipped; any other file is an error that lists it,
  so a training file with an unexpected name never vanishes.  A mapping's keys
  must be split names too (``{"train.conll": ...}`` is an error, not a split);
* a :class:`DatasetSpec` (e.g. one pointing at a local folder of Parquet files).

Split names become ``train``, ``validation`` and ``test``. Used in chapters 3, 4, 6, 7, 8 and 9.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from rmdlib.conll import SCHEMES, Sentence, read_conll

__all__ = ["CONLL2003_LABELS", "REGISTRY", "SPLIT_NAMES", "WIKIANN_LABELS", "DatasetSpec", "load_ner", "load_spec"]

CONLL2003_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
WIKIANN_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
TASKS = ("ner", "sbd", "text")
SPLIT_NAMES = _SPLITS = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
           "dev": "validation", "val": "validation", "testa": "validation", "test": "test", "testb": "test"}
_DOC_FILE = re.compile(r"(readme|licen[cs]e|copying|source|manifest|notice|citation|changes)\b|.*\.md\Z", re.I)
_PREFIX = re.compile(r"([a-z]{2,3}(?:-[a-z]+)*:)\S")  # WikiANN's "en:", "zh-yue:" before every token


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset at one pinned revision, with what loading it must give."""

    name: str  # registry key, e.g. "conll2003"
    path: str  # Hub id, or a local folder of parquet/json files (what load_dataset takes)
    revision: str | None  # a commit SHA where one could be checked, else a named ref; None for local folders
    split_sizes: dict[str, int]  # rows per split after loading: the first thing an upstream change breaks
    task: str = "ner"  # "ner" | "sbd" | "text": which loader the chapters use on it
    label_names: tuple[str, ...] = ()  # tag names in ClassLabel order; () for untagged data
    scheme: str | None = "IOB2"  # tag scheme of label_names; None without tags
    config: str | None = None  # builder config (a README `configs` entry) at that revision
    data_dir: str | None = None  # sub-folder of a parquet export that holds this config
    columns: dict[str, str] = field(default_factory=lambda: {"tokens": "tokens", "tags": "ner_tags"})
    local_dir: str | None = None  # sub-folder of $RMD_DATA with the original files; None = none
    note: str = ""  # what was and was not verified about this pin, and where

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} is not one of {TASKS}")
        if self.task == "ner" and not (self.label_names and self.scheme in SCHEMES):
            raise ValueError(f"{self.name}: an NER spec needs label_names and a scheme in {SCHEMES}")


_UD_NOTE = ("UD 2.7 as converted by the Hub's parquet bot (the loading script used UD 2.7); sizes and "
            "columns from the script's dataset card; the local r2.16 files have 12,544 / 2,001 / 2,077 "
            "sentences, so they are not this revision. Loading at this SHA not tried offline.")
_WIKITEXT_NOTE = ("b08601e = 'Convert dataset to Parquet (#8)' on main, pinned by other public code; "
                  "sizes from the dataset card and torchtext. Loading not tried offline.")

REGISTRY: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec(
        "conll2003", "eriktks/conll2003", "refs/convert/parquet",  # main still has a loading script
        {"train": 14_041, "validation": 3_250, "test": 3_453}, label_names=CONLL2003_LABELS,
        local_dir="conll2003",
        note="Named ref (no full SHA found offline; head seen: ce85b39). Label order from the loading "
             "script's ClassLabel; sizes match the local files. Hub load not tried offline."),
    DatasetSpec(
        "wikiann-en", "unimelb-nlp/wikiann", "refs/convert/parquet", data_dir="en",
        split_sizes={"train": 20_000, "validation": 10_000, "test": 10_000}, label_names=WIKIANN_LABELS,
        local_dir="wikiann/en",
        note="Named ref; label order from the loading script; sizes from the viewer (en: 40k rows) and "
             "the local Rahimi et al. files. Hub load not tried offline."),
    DatasetSpec(
        "ud-english-ewt", "universal-dependencies/universal_dependencies",
        "ff56634a97139d1fdf70ea7b03019d19ef2ffc27", data_dir="en_ewt",  # a refs/convert/parquet commit
        split_sizes={"train": 12_543, "validation": 2_002, "test": 2_077}, task="sbd", scheme=None,
        columns={"id": "idx", "text": "text", "tokens": "tokens", "misc": "misc"}, note=_UD_NOTE),
    DatasetSpec(
        "wikitext-2", "Salesforce/wikitext", "b08601e04326c79dfdd32d625aee71d232d685c3",
        config="wikitext-2-raw-v1", split_sizes={"train": 36_718, "validation": 3_760, "test": 4_358},
        task="text", scheme=None, columns={"text": "text"}, note=_WIKITEXT_NOTE),
    DatasetSpec(
        "wikitext-103", "Salesforce/wikitext", "b08601e04326c79dfdd32d625aee71d232d685c3",
        config="wikitext-103-raw-v1", split_sizes={"train": 1_801_350, "validation": 3_760, "test": 4_358},
        task="text", scheme=None, columns={"text": "text"}, note=_WIKITEXT_NOTE),
]}
# WikiANN de / nl / fr / pt (chapter 9's colab cell and benchmarks/transfer_ner.py): the English spec's
# export and revision, another config folder; every one of these has 20,000 / 10,000 / 10,000 sentences.
REGISTRY |= {f"wikiann-{lang}": replace(REGISTRY["wikiann-en"], name=f"wikiann-{lang}", data_dir=lang,
                                        local_dir=f"wikiann/{lang}")
             for lang in ("de", "nl", "fr", "pt")}


def _check_sizes(name: str, found: Mapping[str, int], expected: Mapping[str, int], origin: str) -> None:
    for split, n in expected.items():
        if split not in found:
            raise ValueError(f"{name}: split {split!r} is missing from {origin}; found splits {sorted(found)}")
        if found[split] != n:
            raise ValueError(f"{name}: split {split!r} has {found[split]:,} rows, expected {n:,} ({origin})")


def _check_features(spec: DatasetSpec, dsd, origin: str) -> None:
    for split, ds in dsd.items():
        missing = sorted(set(spec.columns.values()) - set(ds.column_names))
        if missing:
            raise ValueError(f"{spec.name}: split {split!r} lacks columns {missing} ({origin})")
        if spec.label_names:
            feature = getattr(ds.features[spec.columns["tags"]], "feature", None)
            names = tuple(getattr(feature, "names", ()))
            if names != spec.label_names:
                raise ValueError(f"{spec.name}: split {split!r} has label names {list(names)}, "
                                 f"expected {list(spec.label_names)} in this order ({origin})")


def _split_name(split: str) -> str:
    return _SPLITS.get(split.lower(), split.lower())


def _ordered(splits: Mapping) -> dict:
    """Splits renamed to train / validation / test and put in that order (others after, as found)."""
    renamed = {_split_name(k): v for k, v in splits.items()}
    return dict(sorted(renamed.items(), key=lambda kv: ("train", "validation", "test", kv[0]).index(kv[0])))


def load_spec(spec: DatasetSpec | str):
    """Load a registered (or given) dataset with ``datasets.load_dataset`` and check it against its spec.

    Raises ``ValueError`` naming the dataset, the split, and what was expected
    and found when a split size, a column or the label order differs.
    Returns a ``datasets.DatasetDict`` with splits train / validation / test.
    """
    import datasets

    spec = _spec(spec)
    dsd = datasets.load_dataset(spec.path, spec.config, revision=spec.revision, data_dir=spec.data_dir)
    dsd = datasets.DatasetDict(_ordered(dsd))
    origin = f"{spec.path} @ {spec.revision}"
    _check_sizes(spec.name, {k: v.num_rows for k, v in dsd.items()}, spec.split_sizes, origin)
    _check_features(spec, dsd, origin)
    return dsd


def _spec(spec: DatasetSpec | str) -> DatasetSpec:
    if isinstance(spec, DatasetSpec):
        return spec
    if spec not in REGISTRY:
        raise ValueError(f"unknown dataset {spec!r}; registered: {sorted(REGISTRY)}")
    return REGISTRY[spec]


def _ner_features(label_names, doc_ids: bool):
    from datasets import ClassLabel, Features, Sequence, Value

    features = {"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(label_names)))}
    if doc_ids:
        features["doc_id"] = Value("int32")
    return Features(features)


def _to_dataset_dict(splits: Mapping[str, list[Sentence]], label_names, doc_ids: bool, origin: str):
    """Sentences per split -> DatasetDict; a tag outside label_names is an error, never a silent O."""
    from datasets import Dataset, DatasetDict

    index = {name: i for i, name in enumerate(label_names)}
    out = {}
    for split, sentences in splits.items():
        for i, s in enumerate(sentences):
            unknown = sorted(set(s.tags) - index.keys())
            if unknown:
                raise ValueError(f"{origin}: split {split!r} sentence {i}: unknown tags {unknown}")
        data = {"tokens": [list(s.tokens) for s in sentences],
                "ner_tags": [[index[t] for t in s.tags] for s in sentences]}
        if doc_ids:
            data["doc_id"] = [s.doc_id for s in sentences]
        out[split] = Dataset.from_dict(data, features=_ner_features(label_names, doc_ids))
    return DatasetDict(_ordered(out))


def _infer_labels(splits: Mapping[str, list[Sentence]]) -> tuple[str, ...]:
    """O, then B-/I- of every entity type in alphabetical order: deterministic for a given file set."""
    types = sorted({t[2:] for sentences in splits.values() for s in sentences for t in s.tags if t != "O"})
    return ("O", *(f"{p}-{t}" for t in types for p in "BI"))


def _sniff_prefix(path: Path) -> str:
    """WikiANN's language prefix ("en:") if the first token line has one, else ""."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip() and not line.startswith("-DOCSTART-"):
                m = _PREFIX.match(line)
                return m[1] if m else ""
    return ""


def _file_split(name: str) -> str | None:
    """The split a file name says (a name part among SPLIT_NAMES: eng.testa, dev, train.txt), or None."""
    return next((_SPLITS[x] for x in re.split(r"[._-]", name.lower()) if x in _SPLITS), None)


def _split_files(folder: Path) -> dict[str, Path]:
    """train / validation / test files of a folder; an unrecognised file (not hidden, not documentation) fails."""
    found: dict[str, list[Path]] = {}
    unknown = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith(".") or _DOC_FILE.match(p.name):
            continue
        split = _file_split(p.name)
        if split is None:
            unknown.append(p.name)
        else:
            found.setdefault(split, []).append(p)
    if unknown:
        raise ValueError(f"{folder}: no split in the names of {unknown}; a file name needs a part (between "
                         f". _ -) among {sorted(_SPLITS)}, or pass a mapping split -> file")
    if not found:
        raise ValueError(f"{folder}: no train / valid / dev / test files among {sorted(os.listdir(folder))}")
    for split, paths in found.items():
        if len(paths) > 1:
            raise ValueError(f"{folder}: several files for split {split!r}: {[p.name for p in paths]}; "
                             "pass a mapping split -> file instead")
    return {split: paths[0] for split, paths in found.items()}


def _ner_from_files(files: Mapping[str, str | Path], label_names, scheme: str, token_prefix: str,
                    doc_ids: bool):
    splits = {}
    for split, path in files.items():
        prefix = _sniff_prefix(Path(path)) if token_prefix == "auto" else token_prefix
        conll = read_conll(path, scheme=scheme, label_names=label_names, token_prefix=prefix)
        splits[split] = conll.sentences
    labels = tuple(label_names) if label_names is not None else _infer_labels(splits)
    return _to_dataset_dict(splits, labels, doc_ids, origin=str(Path(next(iter(files.values()))).parent))


def _ner_from_spec(spec: DatasetSpec, doc_ids: bool):
    from datasets import DatasetDict

    if spec.task != "ner":
        raise ValueError(f"{spec.name} is a {spec.task!r} dataset, not NER")
    if doc_ids:
        raise ValueError(f"{spec.name} from the Hub has no document boundaries; use local files (RMD_DATA)")
    dsd, cols, features = load_spec(spec), spec.columns, _ner_features(spec.label_names, False)
    dsd = DatasetDict({split: ds.select_columns([cols["tokens"], cols["tags"]]) for split, ds in dsd.items()})
    dsd = dsd.rename_columns({c: n for c, n in [(cols["tokens"], "tokens"), (cols["tags"], "ner_tags")] if c != n})
    return dsd if all(ds.features == features for ds in dsd.values()) else dsd.cast(features)


def load_ner(source: str | Path | Mapping[str, str | Path] | DatasetSpec = "synthetic", *,
             label_names: tuple[str, ...] | None = None, scheme: str = "IOB2", token_prefix: str = "auto",
             doc_ids: bool = False, **synth_kwargs):
    """NER data from any source as a ``DatasetDict`` of ``tokens`` and ``ner_tags`` (``ClassLabel``).

    ``source``: ``"synthetic"`` (``synth_kwargs`` go to :func:`rmdlib.synth.ner_splits`),
    a registry name (``$RMD_DATA/<local_dir>`` first, then the pinned Hub revision),
    a folder of CoNLL files, a mapping split -> file, or a :class:`DatasetSpec`.
    ``label_names`` fixes the ClassLabel order (default: the spec's, the micro-world's,
    or O then B-/I- per type alphabetically); ``scheme`` and ``token_prefix``
    (``"auto"`` detects WikiANN's ``en:``) go to :func:`rmdlib.conll.read_conll`;
    ``doc_ids`` adds each sentence's ``-DOCSTART-`` document (local files only).
    Used in chapters 3, 4, 6, 7, 8 and 9.
    """
    if synth_kwargs and source != "synthetic":
        raise TypeError(f"keyword arguments {sorted(synth_kwargs)} only apply to source='synthetic'")
    if isinstance(source, DatasetSpec):
        return _ner_from_spec(source, doc_ids)
    if isinstance(source, Mapping):
        bad = [k for k in source if not isinstance(k, str) or k.lower() not in _SPLITS]
        if bad:
            raise ValueError(f"load_ner: mapping keys {bad} are not split names; use keys among "
                             f"{sorted(_SPLITS)} (e.g. {{'train': path}})")
        return _ner_from_files(source, label_names, scheme, token_prefix, doc_ids)
    if source == "synthetic":
        from rmdlib.synth import LABELS, ner_splits

        splits = {k: [Sentence(tuple(w), tuple(t)) for w, t in v] for k, v in ner_splits(**synth_kwargs).items()}
        return _to_dataset_dict(splits, label_names or LABELS, doc_ids, origin="synthetic")
    if isinstance(source, str) and source in REGISTRY:
        spec, root = REGISTRY[source], os.environ.get("RMD_DATA")
        local = Path(root) / spec.local_dir if root and spec.local_dir else None
        if local is None or not local.is_dir():
            return _ner_from_spec(spec, doc_ids)
        dsd = _ner_from_files(_split_files(local), label_names or spec.label_names, scheme, token_prefix, doc_ids)
        _check_sizes(spec.name, {k: v.num_rows for k, v in dsd.items()}, spec.split_sizes, str(local))
        return dsd
    if Path(source).is_dir():
        return _ner_from_files(_split_files(Path(source)), label_names, scheme, token_prefix, doc_ids)
    raise ValueError(f"unknown NER source {str(source)!r}: not 'synthetic', a registered name "
                     f"{sorted(REGISTRY)}, nor an existing folder")
