"""Every "Used in chapter N" note in rmdlib's docstrings is true: chapter N's code uses what the docstring documents.

``tools/chapter_notes.py`` reads what each chapter imports and calls with ``ast``;
run it without ``--check`` to rewrite the notes after a chapter changes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("chapter_notes", ROOT / "tools" / "chapter_notes.py")
chapter_notes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chapter_notes)


def test_the_note_checker_on_a_package_and_chapters_with_known_answers(tmp_path) -> None:
    chapters, package = tmp_path / "chapters", tmp_path / "rmdlib"
    chapters.mkdir()
    package.mkdir()
    (chapters / "04_ner.py").write_text("from rmdlib import tokens\nfrom rmdlib.train import fit\n"
                                        "tokens.word_spans('a b')\nfit(1, 2, 3).plot()\n")
    (chapters / "05_sbd.py").write_text("import rmdlib\nrmdlib.tokens.split_at('a', [1])\n")
    (package / "tokens.py").write_text(
        '"""Words. Used in chapters 4 and 5."""\n\n\n'
        'def word_spans(text):\n    """Spans.  Used in chapters 4 to 6."""\n\n\n'
        'def split_at(text, ends):\n    """Cut.\n\n    Used in chapter 4.\n    """\n\n\n'
        'def unused():\n    """Never called.  Used in chapter 5."""\n')
    (package / "train.py").write_text(
        'class History:\n    """Records."""\n\n    def plot(self):\n        """Plot.  Used in chapter 4."""\n')
    uses = chapter_notes.chapter_uses(chapters)
    found = {n["object"]: (n["claimed"], n["true"]) for n in chapter_notes.notes(package, uses)}
    assert found == {"tokens": ({4, 5}, {4, 5}), "tokens.word_spans": ({4, 5, 6}, {4}),
                     "tokens.split_at": ({4}, {5}), "tokens.unused": ({5}, set()),
                     "train.History.plot": ({4}, {4})}
    assert chapter_notes.rewrite(package, uses) == 3
    assert all(n["claimed"] == n["true"] for n in chapter_notes.notes(package, uses))
    text = (package / "tokens.py").read_text()
    assert "Spans.  Used in chapter 4." in text and '"""Cut.\n\n    Used in chapter 5.\n' in text
    assert '"""Never called."""' in text


def test_every_chapter_note_in_rmdlib_is_true() -> None:
    false = [f"{n['object']}: '{n['text']}' but used in {sorted(n['true']) or 'no chapter'}"
             for n in chapter_notes.notes() if n["claimed"] != n["true"]]
    assert not false, "run `python tools/chapter_notes.py` to rewrite them:\n" + "\n".join(false)
