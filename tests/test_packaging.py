"""Packaging: environment.yml, pyproject.toml and constraints.txt agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared() -> dict[str, str]:
    """name -> specifier for the dependencies plus the book and test extras."""
    project = _pyproject()["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["book"]
    lines += project["optional-dependencies"]["test"]
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def _conda_pip() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    lines = [p.split("#")[0].strip() for p in pip if not p.startswith("-")]
    reqs = [Requirement(line) for line in lines if line]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _conda_pip() == _declared()


def test_constraints_pin_every_declared_package_within_its_bounds():
    pins = _constraints()
    for name, spec in _declared().items():
        key = name.replace("_", "-")
        assert key in pins, f"{name} is not pinned in constraints.txt"
        assert Requirement(f"{name}{spec}").specifier.contains(pins[key], prereleases=True), (name, pins[key])


def test_tested_versions_are_the_ones_the_course_promises():
    pins = _constraints()
    assert pins["torch"] == "2.13.0"
    assert pins["jupyter-book"] == "1.0.4.post1"
    assert str(Requirement("jupyter-book" + _declared()["jupyter-book"]).specifier.contains("2.0.0")) == "False"


def test_dependencies_are_lower_bounded_so_colab_keeps_its_torch():
    for name in ("torch", "transformers"):
        spec = _declared()[name]
        assert spec.startswith(">=") and "," not in spec and "==" not in spec, (name, spec)


def _imported_top_level_names() -> set[str]:
    import ast

    names = set()
    for path in (ROOT / "rmdlib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_runtime_dependency_is_imported_by_rmdlib():
    """A package in ``dependencies`` that rmdlib never imports belongs in the extra that needs it."""
    project = _pyproject()["project"]
    runtime = {Requirement(line).name.lower().replace("-", "_") for line in project["dependencies"]}
    assert runtime - _imported_top_level_names() == set()
    assert "accelerate" in {Requirement(x).name for x in project["optional-dependencies"]["bench"]}


def test_the_readmes_test_command_is_the_one_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    test_line = next(line for line in block.splitlines() if "test" in line.split("#")[0])
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert ci[0] == test_line.split("#")[0].strip() == "make test"  # first, as a user runs it
    assert ci[1:] == ["make colab-check"]  # then the colab path, which README.md says CI runs
    assert "CI runs it after `make test`" in readme


def test_package_is_importable_with_its_version():
    import rmdlib

    assert rmdlib.__version__ == _pyproject()["project"]["version"]


def _requires_python() -> dict[str, object]:
    """name -> Requires-Python (its PyPI metadata) of each pin installed here at exactly its pinned version."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    needs = {}
    for name, version in _constraints().items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an extra not installed here (bench, uriel): checked by hand, see the README
        if dist.version == version:
            needs[name] = SpecifierSet(dist.metadata.get("Requires-Python") or "")
    return needs


def _floor(text: str, pattern: str) -> str:
    import re

    return re.search(pattern, text).group(1)


def test_declared_python_floor_is_what_the_pinned_dependencies_need():
    """requires-python is the floor of the pinned runtime dependencies (transformers 5.23 needs 3.11).

    The tested environment (constraints.txt with the book's extras; environment.yml
    and the README) needs more: soupsieve 4.1.2, under beautifulsoup4 and the
    book's theme, needs 3.11.5.  Each floor is accepted by every pin it covers and
    refused, just below it, by at least one: neither is lower or higher than needed.
    """
    needs = _requires_python()
    runtime = {Requirement(line).name.lower() for line in _pyproject()["project"]["dependencies"]}
    package = _floor(_pyproject()["project"]["requires-python"], r">=([\d.]+)")
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    environment = _floor(" ".join(d for d in env["dependencies"] if isinstance(d, str)), r"python>=([\d.]+)")
    assert str(needs["transformers"]) == ">=3.11.0" and package == "3.11"
    for floor, names, below in ((package, runtime, "3.10.99"), (environment, set(needs), "3.11.4")):
        covered = {n: spec for n, spec in needs.items() if n in names}
        refused = {n: str(spec) for n, spec in covered.items() if not spec.contains(floor)}
        assert not refused, f"pins that need more than Python >= {floor}: {refused}"
        assert any(not spec.contains(below) for spec in covered.values()), f"no pin needs Python >= {floor}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Python >= {package}" in readme and f"Python >= {environment}" in readme


def test_colab_install_cells_install_the_release_tag():
    """Every chapter installs ``git+REPO@v<__version__>`` (tools/sync.py writes it), with torch held."""
    import re

    import rmdlib

    for py in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py")) + [ROOT / "project" / "starter.py"]:
        source = py.read_text(encoding="utf-8")
        assert re.search(r'^\s*TAG = "v' + re.escape(rmdlib.__version__) + '"', source, re.MULTILINE), py.name
        assert 'f"rmdlib @ git+{REPO}@{TAG}"' in source, py.name
        assert '"-c", "/tmp/keep-torch.txt"' in source and 'f"torch=={torch.__version__}' in source, py.name
