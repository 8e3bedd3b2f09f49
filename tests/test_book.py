"""The book: chapters paired and output-free, one repository URL, citations resolve."""

from __future__ import annotations

import ast
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
    install = 'REPO = "x"\nTAG = "v0"\npip(f"rmdlib @ git+{REPO}@{TAG}")\n'
    (tmp_path / "01_x.py").write_text("# %%\n" + install, encoding="utf-8")
    (tmp_path / "02_y.py").write_text('# %%\nREPO = "x"\npip(f"rmdlib @ git+{REPO}")\n', encoding="utf-8")
    monkeypatch.setattr(sync, "CHAPTERS", tmp_path)
    found = sync.problems()
    assert any(p.startswith("01_x.py: Colab install cell does not use") for p in found)
    assert any(p.startswith("02_y.py: the Colab install cell must install the release tag") for p in found)
    assert any("no paired 01_x.ipynb" in p for p in found)
    fixed = sync.with_repo_url(install, "https://example.org/r")
    assert fixed == install.replace('"x"', '"https://example.org/r"').replace('"v0"', f'"{sync.release_tag()}"')


def test_sync_detects_a_library_changed_since_its_release_tag(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    (tmp_path / "rmdlib").mkdir()
    (tmp_path / "rmdlib" / "__init__.py").write_text('__version__ = "1.2.0"\n', encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("x\n", encoding="utf-8")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    assert sync.release_problems(tmp_path) == []  # not tagged yet: nothing to compare
    git("tag", "v1.2.0")
    (tmp_path / "README.md").write_text("y\n", encoding="utf-8")
    assert sync.release_problems(tmp_path) == []  # the tag pins the library, not the docs
    (tmp_path / "rmdlib" / "new.py").write_text("x = 1\n", encoding="utf-8")
    git("add", ".")
    [problem] = sync.release_problems(tmp_path)
    assert problem.startswith("rmdlib/new.py: changed since the release tag v1.2.0")
    (tmp_path / "rmdlib" / "__init__.py").write_text('__version__ = "1.3.0"\n', encoding="utf-8")
    assert sync.release_problems(tmp_path) == []  # bumped: v1.3.0 is the next tag to push


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
        skip = {".git", ".venv", "_build", "chapters", "project", "colab", "__pycache__"}  # written by make sync
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


def _exercise_labels(text: str) -> list[str]:
    """Labels of the ``{exercise}`` directives, in order."""
    return re.findall(r"^# (?:`{3,}|:{3,})\{exercise\}.*\n(?:# :(?!label:)[\w-]+:.*\n)*# :label: (\S+)",
                      text, flags=re.MULTILINE)


def _hidden_solutions(text: str) -> list[str]:
    """Exercises that a dropdown solution answers: ``{solution}`` blocks or gated ``{solution-start}``."""
    return re.findall(r"^# (?:`{3,}|:{3,})\{solution(?:-start)?\} (\S+)\n(?:# :(?!class:)[\w-]+:.*\n)*"
                      r"# :class: dropdown", text, flags=re.MULTILINE)


def test_template_check_accepts_both_solution_forms_and_finds_a_visible_one():
    text = ("# ```{exercise}\n# :label: ch-09-ex1\n# Do it.\n# ```\n"
            "# ```{solution} ch-09-ex1\n# :class: dropdown\n# Done.\n# ```\n"
            "# ```{exercise}\n# :label: ch-09-ex2\n# Run it.\n# ```\n"
            "# ```{solution-start} ch-09-ex2\n# :class: dropdown\n# ```\n\n# %%\nx = 1\n"
            "# %% [markdown]\n# ```{solution-end}\n# ```\n")
    assert _exercise_labels(text) == ["ch-09-ex1", "ch-09-ex2"]
    assert _hidden_solutions(text) == ["ch-09-ex1", "ch-09-ex2"]
    shown = text.replace("# ```{solution-start} ch-09-ex2\n# :class: dropdown\n", "# ```{solution-start} ch-09-ex2\n")
    assert _hidden_solutions(shown) == ["ch-09-ex1"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_template(chapter):
    text = chapter.read_text(encoding="utf-8")
    assert "rmdlib.setup(" in text, "chapters start with rmdlib.setup()"
    for heading in ("Learning objectives", "Time", "Summary", "References"):
        assert heading in text, f"missing section: {heading}"
    exercises, hidden = _exercise_labels(text), _hidden_solutions(text)
    assert len(exercises) >= 2, "at least two exercises"
    assert sorted(hidden) == sorted(exercises), "every exercise has one solution, hidden in a dropdown"
    assert text.count("{solution-start}") == text.count("{solution-end}"), "every gated solution is closed"
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


# Chapters whose visible code already fits the page's code column. The lead adds
# the others as their owners wrap them (issue 10, item 7); then this list goes.
CODE_COLUMN = 88  # characters: the width of a code cell in the book's HTML at a laptop's width
FOLDED_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def _wide_visible_lines(nb) -> list[str]:
    """Lines wider than CODE_COLUMN in code cells that the book shows (not removed or folded)."""
    wide = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or FOLDED_TAGS & set(cell.metadata.get("tags", ())):
            continue
        wide += [f"cell {k}: {line}" for line in cell.source.splitlines() if len(line) > CODE_COLUMN]
    return wide


def test_width_check_skips_folded_cells():
    import nbformat

    long = "x = " + "1 + " * 30 + "1"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(long),
                                         nbformat.v4.new_code_cell(long, metadata={"tags": ["hide-input"]})])
    assert _wide_visible_lines(nb) == [f"cell 0: {long}"]


@pytest.mark.parametrize("chapter", CHAPTERS + sorted((ROOT / "project").glob("*.py")), ids=lambda p: p.stem)
def test_visible_code_fits_the_page(chapter):
    import jupytext

    assert _wide_visible_lines(jupytext.read(chapter)) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_time_line_quotes_the_run_not_a_typed_estimate(chapter):
    """The execution time under "Time:" is glued from the chapter's own run (Profile.elapsed)."""
    text = chapter.read_text(encoding="utf-8")
    line = re.search(r"# \*\*Time:\*\*(.*?)\n(?=#\n|\n)", text, re.S)
    assert line, f"{chapter.name}: no **Time:** line"
    claim = line.group(1)
    assert "{glue:text}`run_minutes" in claim, f"{chapter.name}: the run time is not glued"
    typed = re.findall(r"runs in (?:about|under|well under)[^.;]*", claim)
    assert not typed, f"{chapter.name}: a typed run-time claim: {typed}"
    assert 'glue("run_minutes", P.elapsed() / 60)' in text


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_cell_that_ends_in_glue_shows_no_echo(chapter):
    """glue() returns its value: a cell ending in a bare glue(...) would print it on the page."""
    import jupytext

    echoed = []
    for i, cell in enumerate(jupytext.read(chapter).cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        last = tree.body[-1] if tree.body else None
        call = last.value if isinstance(last, ast.Expr) else None
        name = getattr(getattr(call, "func", None), "id", None)
        if name == "glue" and not cell.source.rstrip().endswith(";"):
            echoed.append(f"cell {i}: {cell.source.splitlines()[-1].strip()}")
    assert echoed == []
