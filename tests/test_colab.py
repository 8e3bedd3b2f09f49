"""The Colab edition (tools/colab_edition.py): MyST rewritten into Markdown that Colab and GitHub render."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab_edition as ce  # noqa: E402  (tools/ is not a package)

SITE = "https://owner.github.io/repo/"
GLOSSARY = f"{SITE}book/glossary.html"
BIB = f"{SITE}book/bibliography.html"
MYST = re.compile(r"\{glue|\{term\}|\{cite|```\{|:::\{|^\(ch-[\w-]*\)=|\{ref\}|\{numref\}|\{solution|\{exercise",
                  re.MULTILINE)


def links(**exercises) -> ce.Links:
    return ce.Links(site=SITE, glossary={"binary cross-entropy": "term-Binary-cross-entropy",
                                         "unseen entity": "term-Unseen-entity"},
                    citations={"clark2020electra": ("Clark et al.", "2020"),
                               "hinton2015distilling": ("Hinton et al.", "2015")},
                    exercises=exercises)


def md_cell(text):
    return nbformat.v4.new_markdown_cell(text)


def code_cell(text, *tags):
    return nbformat.v4.new_code_cell(text, metadata={"tags": list(tags)} if tags else {})


def test_glossary_anchors_are_the_ids_sphinx_gives_terms():
    glossary = "# Glossary\n\n```{glossary}\nBinary cross-entropy\n  二元交叉熵. Text.\n\n" \
               "Kullback–Leibler divergence\n  KL. Text.\n```\n"
    assert ce.glossary_anchors(glossary) == {"binary cross-entropy": "term-Binary-cross-entropy",
                                             "kullback–leibler divergence": "term-KullbackLeibler-divergence"}


def test_citation_names_are_author_year_labels():
    bib = ("@article{a1,\n  author = {Hinton, Geoffrey and Vinyals, Oriol and Dean, Jeff},\n  year = {2015}\n}\n\n"
           "@inproceedings{b2,\n  author    = {Loshchilov, Ilya and Hutter, Frank},\n  year      = {2019}\n}\n\n"
           "@misc{c3,\n  author = {Hiroki Nakayama},\n  year = {2018},\n}\n\n"
           "@misc{d4,\n  author = {Minixhofer, Benjamin and Vuli{\\'c}, Ivan},\n  year = {2023}\n}\n")
    assert ce.citation_names(bib) == {"a1": ("Hinton et al.", "2015"), "b2": ("Loshchilov and Hutter", "2019"),
                                      "c3": ("Nakayama", "2018"), "d4": ("Minixhofer and Vulic", "2023")}


def test_inline_roles_become_names_links_and_text():
    line = ("The gap is {glue:text}`gap_star:.4f` for {term}`binary cross-entropy` "
            "{cite}`clark2020electra,hinton2015distilling`; see {cite:t}`clark2020electra`, "
            "{term}`new names <unseen entity>` and exercise {ref}`ch-02-ex4`.")
    assert ce.inline(line, links(**{"ch-02-ex4": 4})) == (
        f"The gap is `gap_star` for [binary cross-entropy]({GLOSSARY}#term-Binary-cross-entropy) "
        f"([Clark et al., 2020]({BIB}); [Hinton et al., 2015]({BIB})); see [Clark et al. (2020)]({BIB}), "
        f"[new names]({GLOSSARY}#term-Unseen-entity) and exercise 4.")


def test_a_glued_paragraph_points_at_the_output_that_shows_it():
    assert ce.inline("{glue:md}`verdict`", links()) == \
        "*(`verdict` is shown in the output of the code cell above.)*"


def test_labels_admonitions_exercises_and_solutions_become_markdown():
    text = ("(ch-02)=\n# 2. Losses\n\n:::{admonition} A common mistake\n:class: warning\n"
            "Dividing by $B T$ is wrong; see {ref}`ch-02-ex1`.\n:::\n\n"
            "```{note}\nMath stays: $$\\begin{aligned} a &= b \\end{aligned}$$\n```\n\n"
            "```{exercise} Counting\n:label: ch-02-ex1\nHow many terms?\n```\n\n"
            "````{solution} ch-02-ex1\n:class: dropdown\nSix:\n```python\nprint({'a': 1})\n```\n````\n")
    assert ce.markdown(text, links(**{"ch-02-ex1": 1})) == (
        "# 2. Losses\n\n> **A common mistake**\n>\n> Dividing by $B T$ is wrong; see Exercise 1.\n\n"
        "> **Note**\n>\n> Math stays: $$\\begin{aligned} a &= b \\end{aligned}$$\n\n"
        "### Exercise 1 (Counting)\n\nHow many terms?\n\n"
        "<details>\n<summary>Solution</summary>\n\nSix:\n```python\nprint({'a': 1})\n```\n\n</details>")


def test_gated_solution_becomes_details_then_its_code_folded_and_runnable():
    cells = [
        md_cell("```{exercise}\n:label: ch-09-ex1\nCompute it.\n```\n\n"
                "```{solution-start} ch-09-ex1\n:class: dropdown\n```\nThe answer is {glue:text}`x:.2f`:"),
        code_cell("x = 2 + 2\nprint(x)"),
        md_cell("Done.\n```{solution-end}\n```\n\n## Summary\n\n* {term}`binary cross-entropy`"),
    ]
    out = ce.colab_cells(cells, links())
    assert [(c.cell_type, c.source, dict(c.metadata)) for c in out] == [
        ("markdown", "### Exercise 1\n\nCompute it.", {}),
        ("markdown", "<details>\n<summary>Solution</summary>\n\nThe answer is `x`:\n\n"
                     "```python\nx = 2 + 2\nprint(x)\n```\n\nDone.\n\n</details>", {}),
        ("code", f"{ce.FORM_SOLUTION}\nx = 2 + 2\nprint(x)", {"cellView": "form"}),
        ("markdown", f"## Summary\n\n* [binary cross-entropy]({GLOSSARY}#term-Binary-cross-entropy)", {}),
    ]


def test_book_only_cells_go_the_install_cell_stays_plumbing_is_folded():
    install = 'import sys\nif "google.colab" in sys.modules:\n    REPO = "x"'
    cells = [md_cell("# Title"), code_cell(install, "remove-cell"), code_cell("import rmdlib"),
             code_cell("print('debug')", "remove-cell"), code_cell("glue('n', 3)", "remove-cell"),
             code_cell("source(f)", "hide-input"), code_cell("plot()", "remove-input")]
    out = ce.colab_cells(cells, links())
    assert [(c.cell_type, c.source, dict(c.metadata)) for c in out] == [
        ("markdown", "# Title", {}),
        ("code", install, {}),
        ("code", "import rmdlib", {}),
        ("code", f"{ce.FORM_NUMBERS}\nglue('n', 3)", {"cellView": "form"}),
        ("code", f"{ce.FORM_HIDDEN}\nsource(f)", {"cellView": "form"}),
        ("code", f"{ce.FORM_HIDDEN}\nplot()", {"cellView": "form"}),
    ]


def _colab_notebooks():
    return sorted((ROOT / "colab").glob("*.ipynb"))


def test_there_is_one_colab_notebook_per_chapter():
    assert [p.stem for p in _colab_notebooks()] == [p.stem for p in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))]


@pytest.mark.parametrize("path", _colab_notebooks(), ids=lambda p: p.stem)
def test_colab_notebooks_hold_no_myst_and_start_with_the_install_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            assert not MYST.search(text), f"{path.name}: MyST left in {text[:200]!r}"
        assert not cell.get("outputs"), f"{path.name}: committed with outputs"
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert 'if "google.colab" in sys.modules' in "".join(first_code["source"])
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert text.count("<details>") == text.count("</details>") >= 2, "every solution is folded"


def test_launch_button_opens_the_colab_edition_of_a_chapter():
    import colab_launch
    import yaml

    theme = "https://colab.research.google.com/github/org/repo/blob/main/chapters/04_ner.ipynb"
    assert colab_launch.colab_link(theme, "chapters/04_ner") == \
        "https://colab.research.google.com/github/org/repo/blob/main/colab/04_ner.ipynb"
    other = "https://colab.research.google.com/github/org/repo/blob/main/book/intro.ipynb"
    assert colab_launch.colab_link(other, "book/intro") == other
    binder = "https://mybinder.org/v2/gh/org/repo/main?urlpath=tree/chapters/04_ner.ipynb"
    assert colab_launch.colab_link(binder, "chapters/04_ner") == binder
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["colab_launch"] == "tools/"


def test_launch_button_rewrite_edits_only_the_colab_button():
    import colab_launch

    colab = {"text": "Colab", "url": "https://colab.research.google.com/github/o/r/blob/main/chapters/02_losses.ipynb"}
    binder = {"text": "Binder", "url": "https://mybinder.org/x"}
    context = {"header_buttons": [{"label": "launch-buttons", "buttons": [binder, colab]}]}
    colab_launch._retarget(None, "chapters/02_losses", "page.html", context, None)
    assert colab["url"] == "https://colab.research.google.com/github/o/r/blob/main/colab/02_losses.ipynb"
    assert binder["url"] == "https://mybinder.org/x"


def test_sync_writes_the_colab_edition_and_check_finds_it_stale(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_for_colab_test", ROOT / "tools" / "sync.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    chapters, colab = tmp_path / "chapters", tmp_path / "colab"
    chapters.mkdir()
    (chapters / "01_x.py").write_text(
        '# %% [markdown]\n# (ch-01)=\n# # 1. X\n#\n# See {term}`binary cross-entropy`.\n\n'
        '# %%\nx = 1\n', encoding="utf-8")
    monkeypatch.setattr(sync, "CHAPTERS", chapters)
    monkeypatch.setattr(sync, "COLAB", colab)
    assert sync.colab_problems() == ["colab/01_x.ipynb: missing (run `make sync`)"]
    sync.write_colab()
    assert sync.colab_problems() == []
    nb = nbformat.read(colab / "01_x.ipynb", as_version=4)
    assert nb.cells[0].source.startswith(f"# 1. X\n\nSee [binary cross-entropy]({sync.site_url()}book/glossary.html#")
    (chapters / "01_x.py").write_text("# %%\nx = 2\n", encoding="utf-8")
    (colab / "02_gone.ipynb").write_text("{}", encoding="utf-8")
    assert sync.colab_problems() == ["colab/01_x.ipynb: differs from chapters/01_x.py (run `make sync`)",
                                     "colab/02_gone.ipynb: no chapter chapters/02_gone.py"]
    sync.write_colab()
    assert sync.colab_problems() == [] and not (colab / "02_gone.ipynb").exists()
