"""Self-check quizzes: the questions at the end of every chapter.

Each chapter's quiz is a JSON file in ``rmdlib/quizzes/`` (shipped with the
package, so a Colab learner who installed ``rmdlib`` has it too). The file
holds the questions in `jupyterquiz <https://pypi.org/project/jupyterquiz/>`_'s
format, plus two keys of the course's own that map the chapter's learning
objectives to what tests them:

* every question has ``"objectives": [k, ...]`` (1-based, in the order of the
  chapter's "Learning objectives" list);
* ``"exercises"`` maps each exercise label (``ch-NN-exK``) to its objectives,
  its difficulty (1 to 3 stars) and the minutes it takes.

``tests/test_quiz.py`` checks that every multiple-choice question has exactly one
correct answer with feedback on every answer, that numeric answers are computed
right, and that every objective of the chapter is tested by a question or an
exercise. The syllabus's session table is generated from the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

__all__ = ["QUIZ_DIR", "chapters", "exercises", "load", "questions", "show", "stars"]

QUIZ_DIR = Path(__file__).resolve().parent / "quizzes"
_OWN_KEYS = {"objectives"}  # ours, not jupyterquiz's; stripped before display


@cache
def load(chapter: str) -> dict:
    """The quiz file of ``chapter`` (its stem, e.g. ``"04_ner"``) as a dict."""
    path = QUIZ_DIR / f"{chapter}.json"
    if not path.exists():
        known = ", ".join(chapters()) or "none"
        raise FileNotFoundError(f"no quiz for chapter {chapter!r} in {QUIZ_DIR} (known: {known})")
    return json.loads(path.read_text(encoding="utf-8"))


def chapters() -> list[str]:
    """The chapters that have a quiz, in order."""
    return sorted(p.stem for p in QUIZ_DIR.glob("[0-9][0-9]_*.json"))


def questions(chapter: str) -> list[dict]:
    """The questions of ``chapter`` in jupyterquiz's format (the course's own keys removed)."""
    return [{k: v for k, v in q.items() if k not in _OWN_KEYS} for q in load(chapter)["questions"]]


def exercises(chapter: str) -> dict[str, dict]:
    """``{label: {"objectives": [...], "difficulty": 1-3, "minutes": m}}`` for ``chapter``."""
    return load(chapter)["exercises"]


def stars(difficulty: int) -> str:
    """``★``, ``★★`` or ``★★★``: an exercise's difficulty as the book prints it."""
    if difficulty not in (1, 2, 3):
        raise ValueError(f"difficulty must be 1, 2 or 3, not {difficulty!r}")
    return "★" * difficulty


def show(chapter: str) -> None:
    """Display ``chapter``'s quiz, interactive in Jupyter, Colab and the HTML book.

    Answers keep their order (the feedback sometimes refers to "the first
    answer"); each click shows why the answer is right or wrong.
    """
    from jupyterquiz import display_quiz

    display_quiz(questions(chapter), shuffle_answers=False, max_width=800)
