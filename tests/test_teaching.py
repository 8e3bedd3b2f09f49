"""The teaching kit: generated pages in sync, the appendix's numbers, the editions' check."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, PreTrainedTokenizerFast
from transformers.models.bert.modeling_bert import BertLayer

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


teaching, editions = _tool("teaching"), _tool("check_editions")


def test_generated_teaching_pages_are_in_sync():
    stale = [p.name for p, text in teaching.generated().items() if p.read_text(encoding="utf-8") != text]
    assert stale == [], "run `make sync`"


def test_glossary_index_has_every_term_once_in_both_directions():
    items = teaching.entries(teaching.GLOSSARY.read_text(encoding="utf-8"))
    page = teaching.glossary_zh(items)
    assert len(items) > 50 and len({e.term for e in items}) == len(items)
    for e in items:
        assert page.count(f"| {e.chinese} | {{term}}`{e.term}` |") == 1


def test_a_glossary_entry_without_chinese_is_a_clear_error():
    with pytest.raises(ValueError, match="'Logits' has no Chinese term"):
        teaching.entries("```{glossary}\nLogits\n  Raw scores. Before the softmax.\n```\n")


def test_syllabus_lists_every_chapter_with_its_objectives_and_exercises():
    text = (ROOT / "book" / "syllabus.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py")):
        ch = teaching.chapter(path)
        assert f": {ch.title}" in text and ch.objectives[-1] in text
    assert text.count("### Session ") == len(list((ROOT / "chapters").glob("[0-9][0-9]_*.py")))


def test_appendix_parameter_count_of_a_block_is_12d2_plus_13d():
    for d, heads in ((768, 12), (256, 4)):
        layer = BertLayer(BertConfig(hidden_size=d, num_attention_heads=heads, intermediate_size=4 * d))
        assert sum(p.numel() for p in layer.parameters()) == 12 * d * d + 13 * d
    assert 12 * 768**2 + 13 * 768 == 7_087_872  # the number printed in the appendix's solution
    assert "7{,}087{,}872" in (ROOT / "book" / "prerequisites.md").read_text(encoding="utf-8")


def test_appendix_word_ids_example_is_what_a_fast_tokenizer_returns():
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Anna", "Ko", "##wal", "##czyk", "spoke"])}
    raw = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, cls_token="[CLS]", sep_token="[SEP]",
                                  pad_token="[PAD]", unk_token="[UNK]")
    tok._tokenizer.post_processor = __import__("tokenizers").processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    enc = tok(["Anna", "Kowalczyk", "spoke"], is_split_into_words=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "Anna", "Ko", "##wal", "##czyk", "spoke", "[SEP]"]
    assert enc.word_ids() == [None, 0, 1, 1, 1, 2, None]
    text = (ROOT / "book" / "prerequisites.md").read_text(encoding="utf-8")
    assert "`[None, 0, 1, 1, 1, 2, None]`" in text


def test_appendix_cross_entropy_line_is_the_mean_over_positions_that_count():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(8, 40, 9, generator=g), torch.randint(0, 9, (8, 40), generator=g)
    labels[:, 30:] = -100
    line = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), labels.reshape(-1), ignore_index=-100)
    keep = labels != -100
    manual = -torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0][keep].mean()
    assert torch.allclose(line, manual)


def test_edition_check_finds_a_solution_in_the_student_html(tmp_path):
    solutions = ["The first sub-tokens are Anna, Ko and spoke."]
    student = tmp_path / "student.html"
    student.write_text("<p>Exercise 1</p><p>The first sub-tokens are <code>Anna</code>, Ko and spoke.</p>")
    assert editions.leaks(student.read_text(), solutions) == solutions
    student.write_text("<p>Exercise 1</p>")
    assert editions.leaks(student.read_text(), solutions) == []
