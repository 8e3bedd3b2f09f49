"""rmdlib.data: the pinned registry, spec validation on local Parquet, and load_ner from every kind of source."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from rmdlib import data
from rmdlib.conll import DataFormatError
from rmdlib.data import CONLL2003_LABELS, REGISTRY, WIKIANN_LABELS, DatasetSpec, load_ner, load_spec
from rmdlib.synth import LABELS, ner_splits

TINY_LABELS = ("O", "B-PER", "I-PER")
TINY_SIZES = {"train": 3, "validation": 2, "test": 1}


def _shared_data() -> Path:
    return Path(os.environ.get("RMD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """load_dataset caches Arrow files: keep them out of the user's ~/.cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("RMD_DATA", raising=False)


def _parquet_dir(tmp_path: Path, names=TINY_LABELS, sizes=TINY_SIZES) -> Path:
    """A local folder shaped like a Hub parquet export: train/validation/test.parquet with ClassLabel tags."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(names))),
                         "pos": Sequence(Value("string"))})
    for split, n in sizes.items():
        rows = {"tokens": [["Kim", "Lee", "sang"]] * n, "ner_tags": [[1, 2, 0]] * n, "pos": [["N", "N", "V"]] * n}
        Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}.parquet"))
    return folder


def _tiny_spec(folder: Path, **changes) -> DatasetSpec:
    spec = DatasetSpec("tiny", str(folder), None, dict(TINY_SIZES), label_names=TINY_LABELS)
    return replace(spec, **changes)


def test_registry_pins_every_dataset():
    assert {"conll2003", "wikiann-en", "ud-english-ewt", "wikitext-2", "wikitext-103"} <= REGISTRY.keys()
    for spec in REGISTRY.values():
        assert spec.revision and spec.note and set(spec.split_sizes) == {"train", "validation", "test"}
        assert "/" in spec.path and not Path(spec.path).exists()  # Hub ids, never local paths
    c = REGISTRY["conll2003"]
    assert (c.path, c.revision, c.split_sizes) == (
        "eriktks/conll2003", "refs/convert/parquet", {"train": 14_041, "validation": 3_250, "test": 3_453})
    assert c.label_names == CONLL2003_LABELS == LABELS  # the micro-world uses the Hub parquet's order
    assert REGISTRY["wikiann-en"].label_names == WIKIANN_LABELS == LABELS[:7]
    assert re.fullmatch(r"[0-9a-f]{40}", REGISTRY["wikitext-103"].revision)


def test_wikiann_languages_share_the_english_pin_with_their_own_folders():
    en = REGISTRY["wikiann-en"]
    for lang in ("de", "nl", "fr", "pt"):
        s = REGISTRY[f"wikiann-{lang}"]
        assert (s.path, s.revision, s.split_sizes, s.label_names) == (
            "unimelb-nlp/wikiann", "refs/convert/parquet", {"train": 20_000, "validation": 10_000, "test": 10_000},
            WIKIANN_LABELS)
        assert (s.path, s.revision) == (en.path, en.revision)
        assert (s.name, s.data_dir, s.local_dir) == (f"wikiann-{lang}", lang, f"wikiann/{lang}")


def test_spec_rejects_an_ner_spec_without_labels():
    with pytest.raises(ValueError, match="an NER spec needs label_names"):
        DatasetSpec("x", "a/b", "main", {"train": 1})
    with pytest.raises(ValueError, match="task 'pos' is not one of"):
        DatasetSpec("x", "a/b", "main", {"train": 1}, task="pos", scheme=None)


def test_load_spec_passes_on_matching_local_parquet(tmp_path):
    dsd = load_spec(_tiny_spec(_parquet_dir(tmp_path)))
    assert list(dsd) == ["train", "validation", "test"]
    assert {k: v.num_rows for k, v in dsd.items()} == TINY_SIZES
    assert dsd["train"].features["ner_tags"].feature.names == list(TINY_LABELS)


def test_load_spec_fails_loudly_on_a_wrong_size(tmp_path):
    spec = _tiny_spec(_parquet_dir(tmp_path), split_sizes={"train": 3, "validation": 4, "test": 1})
    with pytest.raises(ValueError, match=r"^tiny: split 'validation' has 2 rows, expected 4 \(.*tiny @ None\)$"):
        load_spec(spec)


def test_load_spec_fails_loudly_on_a_missing_split(tmp_path):
    spec = _tiny_spec(_parquet_dir(tmp_path), split_sizes={"train": 3, "dev2": 1})
    with pytest.raises(ValueError, match=r"tiny: split 'dev2' is missing .* found splits \['test', 'train', "):
        load_spec(spec)


def test_load_spec_fails_loudly_on_a_wrong_label_order(tmp_path):
    folder = _parquet_dir(tmp_path, names=("O", "I-PER", "B-PER"))
    with pytest.raises(ValueError) as err:
        load_spec(_tiny_spec(folder))
    assert str(err.value).startswith("tiny: split 'train' has label names ['O', 'I-PER', 'B-PER'], "
                                     "expected ['O', 'B-PER', 'I-PER'] in this order")


def test_load_ner_from_a_spec_keeps_only_tokens_and_class_labels(tmp_path):
    dsd = load_ner(_tiny_spec(_parquet_dir(tmp_path)))
    assert dsd["train"].column_names == ["tokens", "ner_tags"]
    assert dsd["test"][0] == {"tokens": ["Kim", "Lee", "sang"], "ner_tags": [1, 2, 0]}
    assert dsd["test"].features["ner_tags"].feature.names == list(TINY_LABELS)


def test_load_ner_synthetic_has_the_micro_world_labels():
    dsd = load_ner("synthetic", seed=3, n_train=12, n_val=4, n_test=5)
    assert {k: v.num_rows for k, v in dsd.items()} == {"train": 12, "validation": 4, "test": 5}
    feature = dsd["train"].features["ner_tags"]
    assert isinstance(feature.feature, ClassLabel) and feature.feature.names == list(LABELS)
    expected = ner_splits(3, n_train=12, n_val=4, n_test=5)["validation"]
    names = feature.feature.names
    assert [(row["tokens"], [names[i] for i in row["ner_tags"]]) for row in dsd["validation"]] == expected


CONLL = "-DOCSTART- -X- -X- O\n\nKim NNP B-NP B-PER\nsang VBD B-VP O\n\nOslo NNP B-NP B-LOC\n"


def test_load_ner_from_a_conll2003_style_folder(tmp_path):
    for name in ("train.txt", "valid.txt", "test.txt"):
        (tmp_path / name).write_text(CONLL)
    (tmp_path / "README").write_text("not data")
    dsd = load_ner(tmp_path, label_names=CONLL2003_LABELS, doc_ids=True)
    assert list(dsd) == ["train", "validation", "test"]
    assert dsd["validation"].to_dict() == {"tokens": [["Kim", "sang"], ["Oslo"]], "ner_tags": [[1, 0], [5]],
                                           "doc_id": [0, 0]}


def test_load_ner_from_a_wikiann_style_folder_strips_the_prefix_and_infers_labels(tmp_path):
    for name in ("train", "dev", "test"):
        (tmp_path / name).write_text("en:Kim\tB-PER\nen:in\tO\nen:Oslo\tB-LOC\nen:Fjord\tI-LOC\n\n")
    dsd = load_ner(str(tmp_path))
    assert dsd["train"][0]["tokens"] == ["Kim", "in", "Oslo", "Fjord"]
    assert dsd["train"].features["ner_tags"].feature.names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_load_ner_from_a_mapping_normalises_split_names_and_converts_iob1(tmp_path):
    (tmp_path / "a.iob").write_text("Kim I-PER\nLee I-PER\nsang O\n")
    dsd = load_ner({"Dev": tmp_path / "a.iob"}, label_names=TINY_LABELS, scheme="IOB1")
    assert list(dsd) == ["validation"] and dsd["validation"][0]["ner_tags"] == [1, 2, 0]


def test_an_unknown_label_is_an_error_with_file_and_line(tmp_path):
    (tmp_path / "train.txt").write_text("Kim B-PER\nsang O\n\nOslo B-LOC\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'train.txt'}:4: unknown tag 'B-LOC'")):
        load_ner(tmp_path, label_names=TINY_LABELS)


def test_rmd_data_is_read_before_the_hub_and_checked(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("train", "dev", "test"):
        (folder / name).write_text("Kim\tB-PER\nsang\tO\n\n")
    monkeypatch.setenv("RMD_DATA", str(tmp_path))
    monkeypatch.setitem(REGISTRY, "mine", DatasetSpec(
        "mine", "nobody/nothing", "main", {"train": 1, "validation": 1, "test": 1}, label_names=TINY_LABELS,
        local_dir="mine"))
    assert load_ner("mine")["test"][0] == {"tokens": ["Kim", "sang"], "ner_tags": [1, 0]}
    monkeypatch.setitem(REGISTRY, "mine", replace(REGISTRY["mine"], split_sizes={"train": 2}))
    with pytest.raises(ValueError, match=f"^mine: split 'train' has 1 rows, expected 2 \\({folder}\\)$"):
        load_ner("mine")


@pytest.mark.parametrize("source, kwargs, error, message", [
    ("nowhere", {}, ValueError, "unknown NER source 'nowhere'"),
    ("conll2003", {"n_train": 5}, TypeError, "only apply to source='synthetic'"),
    ("wikitext-2", {}, ValueError, "wikitext-2 is a 'text' dataset, not NER"),
])
def test_bad_sources_are_named(source, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        load_ner(source, **kwargs)


def test_a_folder_with_two_files_for_one_split_is_ambiguous(tmp_path):
    for name in ("esp.train", "ned.train"):
        (tmp_path / name).write_text("Kim B-PER\n")
    with pytest.raises(ValueError, match=r"several files for split 'train': \['esp.train', 'ned.train'\]"):
        load_ner(tmp_path)


def test_split_files_follow_the_conll2002_names(tmp_path):
    for name in ("esp.train", "esp.testa", "esp.testb"):
        (tmp_path / name).touch()
    assert {k: v.name for k, v in data._split_files(tmp_path).items()} == {
        "train": "esp.train", "validation": "esp.testa", "test": "esp.testb"}


@pytest.mark.realdata
def test_real_conll2003_through_rmd_data(monkeypatch):
    root = _shared_data()
    if not (root / "conll2003").is_dir():
        pytest.skip(f"real data absent: {root / 'conll2003'} (set RMD_SHARED_DATA)")
    monkeypatch.setenv("RMD_DATA", str(root))
    dsd = load_ner("conll2003", doc_ids=True)
    assert {k: v.num_rows for k, v in dsd.items()} == {"train": 14_041, "validation": 3_250, "test": 3_453}
    assert {k: sum(map(len, v["tokens"])) for k, v in dsd.items()} == {
        "train": 203_621, "validation": 51_362, "test": 46_435}
    assert {k: len(set(v["doc_id"])) for k, v in dsd.items()} == {"train": 946, "validation": 216, "test": 231}
    first = dsd["train"][0]
    assert (first["tokens"][:3], first["ner_tags"][:3]) == (["EU", "rejects", "German"], [3, 0, 7])


def test_a_folder_file_whose_name_maps_to_no_split_is_an_error_that_lists_it(tmp_path):
    for name in ("eng_training_data.conll", "valid.txt", "test.txt"):  # "training" is a split name part
        (tmp_path / name).write_text(CONLL)
    (tmp_path / "README.md").write_text("documentation is skipped")
    assert list(load_ner(tmp_path, label_names=CONLL2003_LABELS)) == ["train", "validation", "test"]
    (tmp_path / "eng_training_data.conll").rename(tmp_path / "eng.trn")  # the old code dropped it silently
    with pytest.raises(ValueError) as err:
        load_ner(tmp_path, label_names=CONLL2003_LABELS)
    assert "no split in the names of ['eng.trn']" in str(err.value)
    assert "'dev', 'test', 'testa', 'testb', 'train', 'training', 'val', 'valid', 'validation'" in str(err.value)


def test_a_mapping_keyed_by_file_names_is_not_taken_as_split_names(tmp_path):
    (tmp_path / "a.iob").write_text("Kim B-PER\nsang O\n")
    with pytest.raises(ValueError, match=r"mapping keys \['eng.train.iob'\] are not split names"):
        load_ner({"eng.train.iob": tmp_path / "a.iob"}, label_names=TINY_LABELS)
