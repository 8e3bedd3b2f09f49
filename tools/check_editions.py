"""Check the two editions' HTML: no solution text in the student edition, all of it in the instructor's.

``python tools/check_editions.py [--student _build/html] [--instructor _build/instructor/_build/html]``

For every solution in the sources (``{solution}`` blocks and gated
``{solution-start}`` … ``{solution-end}`` blocks in ``chapters/*.py``,
``project/*.py`` and ``book/*.md``) it takes a probe: the longest line of plain
prose in the solution (no markup, no math). The student edition must contain no
probe; the instructor edition must contain every probe, which shows the probes
are real text of the page. Run by ``make test`` after both builds.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"^(`{3,}|:{3,})\{solution(?:-start)?\}")
PLAIN = re.compile(r"^[A-Za-z][^`{}$\\*_<>|\[\]'\"=]{30,}$")  # no markup, math, code or quotes


def _markdown_lines(path: Path) -> list[str]:
    """The Markdown of a source: a chapter's ``# `` comment lines, or a page's lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".py":
        return [line[2:] if line.startswith("# ") else ("" if line == "#" else "\x00") for line in lines]
    return lines


def solutions(path: Path) -> list[list[str]]:
    """The Markdown lines of every solution in ``path``."""
    found, current, fence = [], None, None
    for line in _markdown_lines(path):
        if current is None:
            m = START.match(line)
            if m:
                current, fence = [], ("gated" if "solution-start" in line else m.group(1))
            continue
        if (fence == "gated" and "{solution-end}" in line) or (fence != "gated" and line.strip() == fence):
            found.append(current)
            current = None
        elif line != "\x00" and not line.startswith(":"):
            current.append(line)
    return found


def probe(lines: list[str]) -> str | None:
    """The longest line of plain prose in a solution (None when it holds none)."""
    prose, in_code = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and PLAIN.match(line.strip()) and "--" not in line and "..." not in line:
            prose.append(line.strip())  # Sphinx's smart quotes rewrite quotes, -- and ...: avoid them
    candidates = prose
    return max(candidates, key=len) if candidates else None


def probes(root: Path = ROOT) -> list[str]:
    sources = [*sorted((root / "chapters").glob("[0-9][0-9]_*.py")), *sorted((root / "project").glob("*.py")),
               *sorted((root / "book").glob("*.md"))]
    return [p for path in sources for sol in solutions(path) if (p := probe(sol))]


def visible_text(page: str) -> str:
    """A page's text with tags removed and whitespace collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())  # inline tags split no words


def leaks(page: str, wanted: list[str]) -> list[str]:
    """The probes that occur in ``page``'s visible text."""
    text = visible_text(page)
    return [p for p in wanted if " ".join(p.split()) in text]


def found_in(build: Path, wanted: list[str]) -> set[str]:
    seen: set[str] = set()
    for page in build.rglob("*.html"):
        seen.update(leaks(page.read_text(encoding="utf-8", errors="replace"), wanted))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--instructor", type=Path, default=ROOT / "_build" / "instructor" / "_build" / "html")
    args = parser.parse_args()
    wanted = probes()
    leaked = found_in(args.student, wanted)
    missing = set(wanted) - found_in(args.instructor, wanted)
    for p in sorted(leaked):
        print(f"student edition shows a solution: {p!r}")
    for p in sorted(missing):
        print(f"instructor edition lacks a solution: {p!r}")
    print(f"{len(wanted)} solutions: {len(leaked)} in the student edition, "
          f"{len(wanted) - len(missing)} in the instructor edition")
    return 1 if leaked or missing or not wanted else 0


if __name__ == "__main__":
    sys.exit(main())
