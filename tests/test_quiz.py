"""rmdlib.quiz: every chapter has a quiz; one right answer each; every objective is tested."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from seqeval.metrics import f1_score

from rmdlib import quiz
from rmdlib.metrics import boundary_scores, prf

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.py"))


def objectives(chapter: str) -> int:
    """How many numbered learning objectives the chapter's admonition lists."""
    text = (ROOT / "chapters" / f"{chapter}.py").read_text(encoding="utf-8")
    block = text.split("Learning objectives", 1)[1].split("# :::", 1)[0]
    return len(re.findall(r"^# (\d+)\. ", block, flags=re.MULTILINE))


def exercise_labels(chapter: str) -> set[str]:
    text = (ROOT / "chapters" / f"{chapter}.py").read_text(encoding="utf-8")
    return set(re.findall(r"^# :label: (ch-\d\d-ex\d+)", text, flags=re.MULTILINE))


def test_every_chapter_has_a_quiz():
    assert quiz.chapters() == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_question_has_exactly_one_right_answer_and_feedback_everywhere(chapter):
    assert len(quiz.questions(chapter)) >= 4, "a handful of questions per chapter"
    for q in quiz.load(chapter)["questions"]:
        right = [a for a in q["answers"] if a.get("correct")]
        assert len(right) == 1, q["question"]
        assert all(a.get("feedback") for a in q["answers"]), f"an answer without feedback: {q['question']}"
        if q["type"] == "multiple_choice":
            assert len(q["answers"]) >= 3 and len({a["answer"] for a in q["answers"]}) == len(q["answers"])
        else:
            assert q["type"] == "numeric" and any(a["type"] == "default" for a in q["answers"])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_learning_objective_is_tested_by_a_question_or_an_exercise(chapter):
    n = objectives(chapter)
    assert n >= 3, f"{chapter}: could not read its learning objectives"
    data = quiz.load(chapter)
    assert set(data["exercises"]) == exercise_labels(chapter), "the map names exactly the chapter's exercises"
    covered = {k for q in data["questions"] for k in q["objectives"]}
    covered |= {k for e in data["exercises"].values() for k in e["objectives"]}
    assert covered == set(range(1, n + 1)), f"{chapter}: objectives {sorted(set(range(1, n + 1)) - covered)} untested"
    for e in data["exercises"].values():
        assert quiz.stars(e["difficulty"]) and 5 <= e["minutes"] <= 90


def test_displayed_questions_carry_no_course_keys():
    assert all("objectives" not in q for q in quiz.questions("02_losses"))


def test_unknown_chapter_and_bad_difficulty_are_clear_errors():
    with pytest.raises(FileNotFoundError, match="no quiz for chapter '99_x'"):
        quiz.load("99_x")
    with pytest.raises(ValueError, match="1, 2 or 3"):
        quiz.stars(4)


def _right(chapter: str, start: str) -> list[float]:
    """The accepted numeric range of the question of ``chapter`` that starts with ``start``."""
    (q,) = [q for q in quiz.load(chapter)["questions"] if q["question"].startswith(start)]
    return next(a["range"] for a in q["answers"] if a.get("correct"))


def _inside(value: float, bounds: list[float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def test_numeric_answers_are_computed_not_typed():
    """Each numeric answer recomputed with the library or a reference implementation."""
    assert _inside(math.log(30522), _right("02_losses", "At initialisation a masked"))
    assert _inside(512, _right("02_losses", "A batch has 512"))
    gold = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]]
    assert _inside(f1_score(gold, gold), [1, 1])
    from seqeval.metrics.sequence_labeling import get_entities

    assert _inside(len(get_entities(gold[0])), _right("04_ner", "How many entities"))
    assert _inside(prf(6, 8, 10)["f1"], _right("04_ner", "Gold has 10 entities"))
    ends = boundary_scores([range(10)], [[*range(8), 20, 21]])
    assert _inside(ends["f1"], _right("05_sentence_boundaries", "Gold has 10 sentence ends"))
    # distillation gradient: d/ds_i of T^2 KL(p || q) = T (q_i - p_i)
    T = 2.0
    s = torch.tensor([0.3, -1.2, 0.5], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 0.2, -0.4], dtype=torch.float64)
    p, q = torch.softmax(t / T, -1), torch.softmax(s / T, -1)
    (T**2 * (p * (p.log() - q.log())).sum()).backward()
    assert torch.allclose(s.grad, T * (q - p).detach())
    assert _inside(T * (0.3 - 0.1), _right("07_distillation", "For one token, what is the gradient"))
    from transformers import ElectraConfig

    from rmdlib.adapt import AdaptConfig, closed_form_trainable

    one_layer = ElectraConfig(hidden_size=256, num_hidden_layers=1, intermediate_size=1024)
    lora = closed_form_trainable(one_layer, 9, AdaptConfig("lora", r=8), head_params=0)
    assert _inside(lora, _right("08_adapting", "LoRA of rank r"))
    two_adapters = closed_form_trainable(one_layer, 9, AdaptConfig("bottleneck", bottleneck=16), head_params=0)
    assert _inside(two_adapters / 2, _right("08_adapting", "A Houlsby bottleneck"))  # a layer has two
    from rmdlib.synth import vocab_overlap

    overlap = vocab_overlap([["the", "cat", "sat", "mat"]], [["the", "dog", "sat", "log"]])
    assert _inside(overlap, _right("09_transfer", "A source text has the word types"))
