"""Keep the "Used in chapter N" notes of rmdlib's docstrings true, by reading the chapters' code.

A note claims that chapter N calls the documented function (or uses the class,
or, in a module docstring, imports the module).  What a chapter uses is read
from ``chapters/NN_*.py`` with ``ast``: ``from rmdlib.M import f`` and
``from rmdlib import M`` followed by ``M.f``; a method counts as used when
the chapter uses its module and calls ``.method``.  As d2l generates its
source markers, this script rewrites every note to the chapters that really
use the object, and drops a note that no chapter supports::

    python tools/chapter_notes.py          # rewrite the notes in place
    python tools/chapter_notes.py --check  # list false notes, exit 1 if any

``tests/test_docstrings.py`` runs the check.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTE = re.compile(r"Used in (chapters?) (\d+(?:\s*(?:to|-)\s*\d+)?(?:(?:, | and )\d+(?:\s*(?:to|-)\s*\d+)?)*)")


def chapter_uses(chapters: Path = ROOT / "chapters") -> dict[int, set[str]]:
    """Per chapter number: the rmdlib modules it uses ("tokens") and the names ("tokens.word_spans", ".plot")."""
    out = {}
    for path in sorted(chapters.glob("[0-9][0-9]_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> module ("" for the package)
        used: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rmdlib":
                parts = node.module.split(".")
                for a in node.names:
                    if len(parts) > 1:
                        used |= {parts[1], f"{parts[1]}.{a.name}"}
                    else:
                        aliases[a.asname or a.name] = a.name
                        used.add(a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "rmdlib":
                        aliases[a.asname or a.name.split(".")[0]] = ""
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                used.add("." + node.attr)
                if isinstance(node.value, ast.Name) and node.value.id in aliases:
                    module = aliases[node.value.id]
                    used.add(f"{module}.{node.attr}" if module else node.attr)
                    if module == "" and node.attr == "setup":
                        used |= {"profile", "profile.setup"}
                elif (isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name)
                      and aliases.get(node.value.value.id) == ""):
                    used |= {node.value.attr, f"{node.value.attr}.{node.attr}"}
        out[int(path.name[:2])] = used
    return out


def _numbers(text: str) -> set[int]:
    found = set()
    for part in re.split(r", | and ", text):
        m = re.fullmatch(r"(\d+)\s*(?:to|-)\s*(\d+)", part.strip())
        found |= set(range(int(m[1]), int(m[2]) + 1)) if m else {int(part)}
    return found


def _users(module: str, qualname: list[str], uses: dict[int, set[str]]) -> set[int]:
    if not qualname:
        return {n for n, u in uses.items() if module in u}
    if len(qualname) == 1:
        return {n for n, u in uses.items() if f"{module}.{qualname[0]}" in u}
    return {n for n, u in uses.items() if module in u and "." + qualname[-1] in u}  # a method: .name on its objects


def notes(package: Path = ROOT / "rmdlib", uses: dict[int, set[str]] | None = None) -> list[dict]:
    """Every note: file, line, object, the chapters it claims and those that use the object."""
    uses = chapter_uses() if uses is None else uses
    found = []
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, qual: list[str]) -> None:
            doc = ast.get_docstring(node, clean=False) if isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) else None
            for m in NOTE.finditer(doc or ""):
                found.append({"path": path, "line": node.body[0].lineno, "object": ".".join([path.stem, *qual]),
                              "text": m[0], "claimed": _numbers(m[2]),
                              "true": _users(path.stem, qual, uses)})
            for child in getattr(node, "body", []):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, qual + [child.name])

        visit(tree, [])
    return found


def _say(chapters: set[int]) -> str:
    n = sorted(chapters)
    listed = str(n[0]) if len(n) == 1 else ", ".join(map(str, n[:-1])) + f" and {n[-1]}"
    return f"Used in chapter{'s' * (len(n) > 1)} {listed}"


def rewrite(package: Path = ROOT / "rmdlib", uses: dict[int, set[str]] | None = None) -> int:
    """Rewrite each false note to the true chapters (or drop it); return how many changed."""
    changed = 0
    for note in notes(package, uses):
        if note["claimed"] == note["true"]:
            continue
        text = note["path"].read_text(encoding="utf-8")
        lines = text.split("\n")
        for i in range(note["line"] - 1, len(lines)):  # the docstring starts at note["line"]
            if note["text"] in lines[i]:
                new = _say(note["true"]) if note["true"] else ""
                lines[i] = lines[i].replace(note["text"] + ".", new + "." if new else "", 1) if (
                    note["text"] + "." in lines[i]) else lines[i].replace(note["text"], new, 1)
                if lines[i].strip():
                    lines[i] = re.sub(r'(\S)\s+"""', r'\1"""', lines[i].rstrip())  # "...text.  """" -> "...text.""""
                else:
                    del lines[i]  # the note was the whole line
                break
        note["path"].write_text("\n".join(lines), encoding="utf-8")
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only list false notes")
    args = parser.parse_args(argv)
    if not args.check:
        print(f"rewrote {rewrite()} notes")
    false = [n for n in notes() if n["claimed"] != n["true"]]
    for n in false:
        print(f"{n['path'].relative_to(ROOT)}:{n['line']}: {n['object']}: '{n['text']}', "
              f"used in {sorted(n['true']) or 'no chapter'}")
    return 1 if false else 0


if __name__ == "__main__":
    sys.exit(main())
