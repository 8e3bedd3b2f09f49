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
    assert ci == [test_line.split("#")[0].strip()] == ["make test"]


def test_package_is_importable_with_its_version():
    import rmdlib

    assert rmdlib.__version__ == _pyproject()["project"]["version"]
