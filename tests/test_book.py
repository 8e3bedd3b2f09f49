"""The book: chapters paired and output-free, one repository URL, citations resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))


def _load_sync():
    spec = importlib.util.spec_from_file_location("sync", ROOT / "tools" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _load_sync()


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def _bib_keys() -> set[str]:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    return set(re.findall(r"^@\w+\{([^,]+),", text, flags=re.MULTILINE))


def test_chapters_and_notebooks_are_in_sync_and_output_free():
    assert sync.problems() == []


def test_sync_detects_a_stale_notebook(tmp_path, monkeypatch):
    (tmp_path / "01_x.py").write_text('# %%\nREPO = "x"\n', encoding="utf-8")
    monkeypatch.setattr(sync, "CHAPTERS", tmp_path)
    found = sync.problems()
    assert any("Colab install cell does not use" in p for p in found)
    assert any("no paired 01_x.ipynb" in p for p in found)


def test_toc_points_at_notebooks_that_exist():
    for name in _toc_files():
        candidates = [ROOT / f"{name}{ext}" for ext in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), name
        if name.startswith("chapters/"):
            assert (ROOT / f"{name}.ipynb").exists(), f"{name}: the TOC must point at the .ipynb (Colab opens notebooks)"
    listed = {n for n in _toc_files() if n.startswith("chapters/")}
    assert listed == {f"chapters/{p.stem}" for p in CHAPTERS}


def test_repository_url_is_set_in_exactly_one_place():
    url = sync.repository_url()
    holders = []
    for path in ROOT.rglob("*"):
        skip = {".git", ".venv", "_build", "chapters", "__pycache__"}
        if path.is_file() and not skip.intersection(path.relative_to(ROOT).parts):
            try:
                if url in path.read_text(encoding="utf-8"):
                    holders.append(path.relative_to(ROOT).as_posix())
            except UnicodeDecodeError:
                continue
    assert holders == ["_config.yml"]


def test_every_citation_resolves():
    keys = _bib_keys()
    sources = list((ROOT / "book").glob("*.md")) + CHAPTERS
    for path in sources:
        for group in re.findall(r"\{(?:foot)?cite(?::[pt])?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            for key in group.split(","):
                assert key.strip() in keys, f"{path.name}: unknown citation {key.strip()}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_template(chapter):
    text = chapter.read_text(encoding="utf-8")
    assert "rmdlib.setup(" in text, "chapters start with rmdlib.setup()"
    for heading in ("Learning objectives", "Time", "Summary", "References"):
        assert heading in text, f"missing section: {heading}"
    exercises = re.findall(r"```\{exercise\}", text)
    solutions = re.findall(r"```\{solution(?:-start)?\}", text)  # plain or gated (code that the build runs)
    assert len(exercises) >= 2 and len(solutions) == len(exercises)
    assert text.count(":class: dropdown") >= len(solutions), "solutions are hidden"
    references = text.split("## References", 1)[-1]
    assert "{cite" in text and "{cite:t}" in references, "chapters cite and name their sources at the end"
    assert "glue(" in text and "run_card(" in text, "numbers are glued; the run card states seed, profile, hardware"


def _fence_problems(text: str) -> list[str]:
    """Directive fences that a code block inside them would close early (MyST: the outer fence must be longer)."""
    problems, open_fence = [], None  # (backtick count, line number) of the enclosing directive
    for k, line in enumerate(text.splitlines(), 1):
        line = line[2:] if line.startswith("# ") else line
        fence = re.match(r"^(`{3,})(\{\w+\}|\w*)", line)
        if not fence:
            continue
        ticks, info = len(fence.group(1)), fence.group(2)
        if open_fence is None:
            if info.startswith("{"):
                open_fence = (ticks, k)
        elif info and ticks >= open_fence[0]:
            problems.append(f"line {k}: a {ticks}-backtick code block inside the directive of line "
                            f"{open_fence[1]} would close it; fence the directive with {ticks + 1} backticks")
        elif not info and ticks == open_fence[0]:
            open_fence = None
    return problems


def test_fence_checker_finds_a_code_block_that_closes_its_solution():
    bad = "# ```{solution} ex\n# ```python\n# x = 1\n# ```\n# ```\n"
    good = bad.replace("# ```{solution}", "# ````{solution}").replace("# ```\n# ```\n", "# ```\n# ````\n")
    assert _fence_problems(bad) and not _fence_problems(good)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_blocks_inside_exercises_do_not_close_them(chapter):
    assert _fence_problems(chapter.read_text(encoding="utf-8")) == []
