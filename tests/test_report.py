"""rmdlib.report: glue returns its value; the run card names seed, profile and hardware."""

from __future__ import annotations

import builtins

import pytest
import torch

from rmdlib.profile import setup
from rmdlib.report import glue, hardware, recorded, run_card


@pytest.fixture
def without_myst_nb(monkeypatch):
    """Import myst_nb fails, as in Colab."""
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst)


def test_glue_returns_the_value_without_myst_nb(without_myst_nb):
    assert glue("x", 0.25) == 0.25


def test_glue_prints_name_and_value_outside_the_book(without_myst_nb, capsys):
    """The Colab edition's text names glued values; the cell that glues them prints them."""
    import numpy as np

    glue("gap_star", 2.484906649788)
    glue("n_words", 1234)
    glue("naive", "inf")
    glue("share", np.float64(0.8125))
    glue("diff", torch.tensor(4.44e-16, dtype=torch.float64))
    assert capsys.readouterr().out.splitlines() == [
        "gap_star = 2.485", "n_words = 1234", "naive = inf", "share = 0.8125", "diff = 4.44e-16"]


def test_run_card_states_profile_seed_and_hardware():
    p = setup(seed=7, profile="offline", verbose=False)
    card = run_card(p)
    assert "profile `offline`" in card and "seed 7" in card
    assert hardware(torch.device("cpu")) in card
    assert f"torch {torch.__version__}" in card


def test_source_shows_the_library_code_itself() -> None:
    from rmdlib.report import source
    from rmdlib.losses import binary_cross_entropy

    code = source(binary_cross_entropy)
    assert code.data.startswith("def binary_cross_entropy(") and code.language == "python"


def test_glue_stores_numpy_and_torch_scalars_as_python_numbers(monkeypatch):
    import numpy as np
    import myst_nb

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: stored.update({name: value}))
    assert glue("a", np.float64(0.25)) == 0.25
    glue("b", torch.tensor(3))
    glue("c", np.array([1.0, 2.0]))
    assert type(stored["a"]) is float and type(stored["b"]) is int
    assert isinstance(stored["c"], np.ndarray)  # arrays stay arrays
    assert f"{stored['a']:.3f}" == "0.250"  # what {glue:text}`a:.3f` does


def test_recorded_reads_a_benchmark_record_from_the_chapter_folder_or_its_parent(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "run.json").write_text('{"f1": [0.5, 0.25]}', encoding="utf-8")
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    assert recorded("run", tmp_path) == {"f1": [0.5, 0.25]}  # from the repository root
    assert recorded("run", chapters) == {"f1": [0.5, 0.25]}  # from chapters/, as the book runs
    assert recorded("other", chapters) is None  # absent (Colab): None, not an error


def test_recorded_names_the_file_of_a_broken_record(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "run.json").write_text('{"f1": [0.5,', encoding="utf-8")
    with pytest.raises(ValueError, match=r"run\.json: not a valid benchmark record"):
        recorded("run", tmp_path)
