"""rmdlib.conll: CoNLL column files and CoNLL-U, checked on handwritten samples and, where present, real data."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from rmdlib.conll import (
    ConllLayout, DataFormatError, DataFormatWarning, Sentence, conllu_documents, iob1_to_iob2, read_conll, read_conllu,
    write_conll,
)
from rmdlib.conll import SbdDoc

CONLL03 = (  # CoNLL-2003 layout: 4 columns, docstart + blank line, no newline at the end of the file
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "\n"
    "Peter NNP B-NP B-PER\n"
    "Blackburn NNP I-NP I-PER\n"
    "\n"
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "BRUSSELS NNP B-NP B-LOC\n"
    "1996-08-22 CD I-NP O"
)
DUTCH = "-DOCSTART- -DOCSTART- O\nDe Art O\nKim N B-PER\n\nJa Int O\n\n-DOCSTART- -DOCSTART- O\nOk Adj O\n\n"
WIKIANN = "en:R.H.\tB-ORG\nen:Saunders\tI-ORG\nen:(\tO\n\nen:Conch\tB-LOC\nen:Key\tI-LOC\n\n"
LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def _shared_data() -> Path:
    return Path(os.environ.get("RMD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _needs(rel: str) -> Path:
    path = _shared_data() / rel
    if not path.exists():
        pytest.skip(f"real data absent: {path} (set RMD_SHARED_DATA)")
    return path


def _file(tmp_path: Path, text: str | bytes, name: str = "train.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize("iob1, iob2", [
    (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # entity starts after O
    (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),  # IOB1's B- separates same-type neighbours
    (["I-ORG", "I-LOC", "I-LOC"], ["B-ORG", "B-LOC", "I-LOC"]),  # a type change starts an entity
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # IOB2 is a fixed point
    ([], []),
])
def test_iob1_to_iob2_hand_worked(iob1, iob2):
    assert iob1_to_iob2(iob1) == iob2


def test_read_conll_values_documents_and_rows(tmp_path):
    conll = read_conll(_file(tmp_path, CONLL03), label_names=LABELS)
    assert [(s.tokens, s.tags, s.doc_id) for s in conll.sentences] == [
        (("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), 0),
        (("Peter", "Blackburn"), ("B-PER", "I-PER"), 0),
        (("BRUSSELS", "1996-08-22"), ("B-LOC", "O"), 1),
    ]
    assert conll.sentences[0].rows[0] == ("EU", "NNP", "B-NP", "B-ORG")
    assert conll.layout == ConllLayout(" ", "-DOCSTART- -X- -X- O", True, "", 0, "\n")


@pytest.mark.parametrize("text, prefix", [(CONLL03, ""), (DUTCH, ""), (WIKIANN, "en:"),
                                          (CONLL03.replace("\n", "\r\n") + "\r\n", "")])
def test_write_reproduces_the_original_bytes(tmp_path, text, prefix):
    original = _file(tmp_path, text, "in.txt")
    write_conll(tmp_path / "out.txt", *read_conll(original, token_prefix=prefix))
    assert (tmp_path / "out.txt").read_bytes() == original.read_bytes()


def test_prefix_is_stripped_and_layouts_are_detected(tmp_path):
    wiki = read_conll(_file(tmp_path, WIKIANN), token_prefix="en:")
    assert wiki.sentences[0].tokens == ("R.H.", "Saunders", "(")
    assert (wiki.layout.sep, wiki.layout.token_prefix, wiki.layout.trailing_newlines) == ("\t", "en:", 2)
    dutch = read_conll(_file(tmp_path, DUTCH))
    assert [s.doc_id for s in dutch.sentences] == [0, 0, 1] and dutch.layout.blank_after_docstart is False


def test_schemes_iob1_converts_and_iob2_keeps_i_after_o(tmp_path):
    path = _file(tmp_path, "A x I-PER\nB x I-PER\nC x O\nD x I-LOC\n")
    assert read_conll(path, scheme="IOB1").sentences[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    assert read_conll(path).sentences[0].tags == ("I-PER", "I-PER", "O", "I-LOC")  # as conlleval reads it
    with pytest.raises(ValueError, match="unknown tag scheme 'BIOES'"):
        read_conll(path, scheme="BIOES")


def test_writing_code_made_sentences_and_lost_documents(tmp_path):
    write_conll(tmp_path / "o.txt", [Sentence(("Kim", "sang"), ("B-PER", "O"))], ConllLayout(sep="\t"))
    assert (tmp_path / "o.txt").read_text() == "Kim\tB-PER\nsang\tO\n"
    two_docs = [Sentence(("a",), ("O",), 0), Sentence(("b",), ("O",), 1)]
    with pytest.raises(ValueError, match="several documents but layout.docstart is None"):
        write_conll(tmp_path / "o.txt", two_docs)


@pytest.mark.parametrize("edit, line, reason", [
    (("Peter NNP B-NP B-PER", "Peter NNP B-PER"), 7, "3 columns, expected 4 as on line 3"),
    (("B-PER", "B_PER"), 7, "malformed tag 'B_PER' (expected O, B-TYPE or I-TYPE)"),
    (("B-PER", "X-PER"), 7, "malformed tag 'X-PER' (expected O, B-TYPE or I-TYPE)"),
    (("B-LOC", "B-GPE"), 12, "unknown tag 'B-GPE' (not in label_names)"),
    (("\nEU", "\n EU"), 3, "token '' is empty"),
])
def test_format_errors_name_file_line_and_reason(tmp_path, edit, line, reason):
    path = _file(tmp_path, CONLL03.replace(*edit, 1))
    with pytest.raises(DataFormatError) as err:
        read_conll(path, label_names=LABELS)
    assert str(err.value) == f"{path}:{line}: {reason}"
    assert (err.value.path, err.value.line, err.value.reason) == (str(path), line, reason)


@pytest.mark.parametrize("content, line, reason", [
    (b"", 1, "empty file"),
    (b"\n  \n", 1, "empty file"),
    (b"-DOCSTART- -X- -X- O\n\n", 1, "no token lines: the file holds no sentence"),
    (b"EU NNP B-ORG\nOl\xff NNP O\n", 2, "not UTF-8: byte 0xff at column 3"),
    (b"Kim\n", 1, "a token line needs a token and a tag column"),
    ("en:Kim\tB-PER\nSmith\tI-PER\n".encode(), 2, "token 'Smith' lacks the prefix 'en:'"),
])
def test_file_level_errors(tmp_path, content, line, reason):
    path = _file(tmp_path, content)
    with pytest.raises(DataFormatError, match="^" + str(path) + f":{line}: ") as err:
        read_conll(path, token_prefix="en:" if b"\t" in content else "")
    assert err.value.reason == reason


CONLLU = (
    "# newdoc id = doc1\n# sent_id = s1\n# newpar id = p1\n# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n"
    "\n"
    "# sent_id = s2\n# text = Fine.\n"
    "1\tFine\tfine\tADJ\tJJ\t_\t0\troot\t_\tSpaceAfter=No\n"
    "1.1\tis\tbe\tAUX\tVBZ\t_\t_\t_\t1:cop\t_\n"
    "2\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_\n"
    "\n"
    "# sent_id = s3\n# newpar id = p2\n# text = New\u00a0para\n"
    "1\tNew\tnew\tADJ\tJJ\t_\t2\tamod\t_\tSpacesAfter=\\u00A0\n"
    "2\tpara\tpara\tNOUN\tNN\t_\t0\troot\t_\t_\n"
    "\n"
    "# newdoc id = doc2\n# sent_id = s4\n# text = Bye!\n"
    "1\tBye\tbye\tINTJ\tUH\t_\t0\troot\t_\tSpaceAfter=No\n"
    "2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_\n"
    "\n"
)


def test_read_conllu_tokens_words_spacing_and_structure(tmp_path):
    s1, s2, s3, s4 = read_conllu(_file(tmp_path, CONLLU, "x.conllu"))
    assert s1.tokens == ("I", "don't", "know", ".")  # the multiword token once, its words not
    assert s1.words == ("I", "do", "n't", "know", ".")
    assert s1.spaces_after == (" ", " ", "", " ")
    assert s2.words == ("Fine", ".")  # the empty node 1.1 is skipped
    assert s3.spaces_after == ("\u00a0", " ")  # SpacesAfter=\u00A0 decoded
    assert [(s.sent_id, s.newdoc, s.newpar, s.line) for s in (s1, s2, s3, s4)] == [
        ("s1", "doc1", True, 1), ("s2", None, False, 12), ("s3", None, True, 18), ("s4", "doc2", False, 24)]
    assert all(s.rebuilt_text() == s.text for s in (s1, s2, s3, s4))


def test_conllu_documents_rebuild_running_text(tmp_path):
    sentences = read_conllu(_file(tmp_path, CONLLU, "x.conllu"))
    assert conllu_documents(sentences) == [
        SbdDoc("I don't know. Fine.\nNew\u00a0para", (13, 19, 28)), SbdDoc("Bye!", (4,))]
    doc = conllu_documents(sentences, paragraph_sep="\n\n")[0]
    assert doc.sentence_ends == (13, 19, 29) and isinstance(doc, SbdDoc)


@pytest.mark.parametrize("edit, line, reason", [
    (("5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_", "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_"), 10,
     "9 tab-separated columns, expected 10"),
    (("4\tknow", "7\tknow"), 9, "word id '7', expected 4"),
    (("# sent_id = s2\n# text = Fine.\n1\tFine\tfine\tADJ\tJJ\t_\t0\troot\t_\tSpaceAfter=No\n"
      "1.1\tis\tbe\tAUX\tVBZ\t_\t_\t_\t1:cop\t_\n2\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_\n", "# sent_id = s2\n"), 13,
     "comment lines with no sentence after them"),
])
def test_conllu_errors_name_file_line_and_reason(tmp_path, edit, line, reason):
    path = _file(tmp_path, CONLLU.replace(*edit), "x.conllu")
    with pytest.raises(DataFormatError) as err:
        read_conllu(path)
    assert str(err.value) == f"{path}:{line}: {reason}"


@pytest.mark.realdata
@pytest.mark.parametrize("name, sentences, tokens, docs", [
    ("train", 14_041, 203_621, 946), ("valid", 3_250, 51_362, 216), ("test", 3_453, 46_435, 231)])
def test_real_conll2003_counts_and_exact_round_trip(tmp_path, name, sentences, tokens, docs):
    path = _needs(f"conll2003/{name}.txt")
    conll = read_conll(path, label_names=LABELS)
    assert len(conll.sentences) == sentences
    assert sum(len(s.tokens) for s in conll.sentences) == tokens
    assert len({s.doc_id for s in conll.sentences}) == docs
    write_conll(tmp_path / "copy.txt", *conll)
    assert (tmp_path / "copy.txt").read_bytes() == path.read_bytes()


@pytest.mark.realdata
@pytest.mark.parametrize("split, sentences, docs", [("train", 12_544, 540), ("dev", 2_001, 318),
                                                    ("test", 2_077, 316)])
def test_real_ud_ewt_rebuilds_every_text_line(split, sentences, docs):
    ud = read_conllu(_needs(f"ud_english_ewt/en_ewt-ud-{split}.conllu"))
    assert len(ud) == sentences
    assert [s.sent_id for s in ud if s.rebuilt_text() != s.text] == []
    documents = conllu_documents(ud)
    assert len(documents) == docs == sum(s.newdoc is not None for s in ud)
    assert sum(len(d.sentence_ends) for d in documents) == sentences
    rebuilt = [d.text[a:b].strip() for d in documents for a, b in zip((0, *d.sentence_ends), d.sentence_ends)]
    assert rebuilt == [s.text for s in ud]


# --- issue 17: input that must not pass silently, tested from the outside (file in, result or error out) ---

def test_a_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    plain = read_conll(_file(tmp_path, "EU B-ORG\nrejects O\n", "a.txt")).sentences
    bom = read_conll(_file(tmp_path, "\ufeffEU B-ORG\nrejects O\n", "b.txt")).sentences
    assert bom == plain and bom[0].tokens == ("EU", "rejects")
    with_docstart = read_conll(_file(tmp_path, "\ufeff" + CONLL03, "c.txt")).sentences
    assert with_docstart == read_conll(_file(tmp_path, CONLL03, "d.txt")).sentences  # no bogus sentence
    assert with_docstart[0].tokens == ("EU", "rejects", "German")
    assert read_conllu(_file(tmp_path, "\ufeff" + CONLLU, "x.conllu")) == read_conllu(_file(tmp_path, CONLLU, "y.conllu"))


@pytest.mark.parametrize("text, line, cause", [
    ("EU B-ORG \nrejects O\n", 1, "line ends with a space after 'EU B-ORG'"),
    ("EU NNP B-ORG\nrejects VBZ O \n", 2, "line ends with a space after 'rejects VBZ O'"),
    ("EU\tB-ORG\t\nrejects\tO\n", 1, "line ends with a tab after 'EU\\tB-ORG'"),
    ("EU B-ORG\nrejects O\r", 2, "line ends with a carriage return (\\r) without a line feed after 'rejects O'"),
])
def test_trailing_whitespace_is_named_as_the_cause(tmp_path, text, line, cause):
    path = _file(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_conll(path)
    assert err.value.line == line and err.value.reason.startswith(cause), err.value.reason


@pytest.mark.parametrize("text, line, found", [
    ("EU B-ORG\r\nrejects O\nGerman B-MISC\n", 2, "LF alone"),  # first line CRLF, the rest LF ("19 columns")
    ("EU B-ORG\nrejects O\r\nGerman B-MISC\n", 2, "CRLF"),  # a stray \r at the end of a tag
])
def test_mixed_line_ends_are_named_as_the_cause(tmp_path, text, line, found):
    for reader, name in ((read_conll, "a.txt"), (read_conllu, "a.conllu")):
        path = _file(tmp_path, text, name)
        with pytest.raises(DataFormatError) as err:
            reader(path)
        assert err.value.line == line and err.value.reason.startswith("mixed line ends") and found in err.value.reason


def test_a_conllu_line_with_trailing_whitespace_is_named(tmp_path):
    path = _file(tmp_path, CONLLU.replace("punct\t_\t_\n", "punct\t_\t_ \n", 1), "x.conllu")
    with pytest.raises(DataFormatError, match=r":10: line ends with a space"):
        read_conllu(path)


def test_a_text_comment_that_disagrees_with_its_tokens_names_the_sentence(tmp_path):
    path = _file(tmp_path, CONLLU.replace("# text = Fine.", "# text = Fine!"), "x.conllu")
    with pytest.raises(DataFormatError) as err:
        read_conllu(path)
    assert err.value.line == 12 and "sentence 's2'" in err.value.reason and "at character 4" in err.value.reason


def test_conllu_documents_honour_space_after_no_between_sentences(tmp_path):
    zh = ("# newdoc id = d\n# sent_id = 1\n# text = 我来了。\n"
          "1\t我来了\t_\t_\t_\t_\t0\troot\t_\tSpaceAfter=No\n2\t。\t_\t_\t_\t_\t1\tpunct\t_\tSpaceAfter=No\n\n"
          "# sent_id = 2\n# text = 好。\n"
          "1\t好\t_\t_\t_\t_\t0\troot\t_\tSpaceAfter=No\n2\t。\t_\t_\t_\t_\t1\tpunct\t_\tSpaceAfter=No\n\n")
    (doc,) = conllu_documents(read_conllu(_file(tmp_path, zh, "zh.conllu")))
    assert doc == SbdDoc("我来了。好。", (4, 6))  # no space invented at the sentence boundary


def test_iob1_data_read_as_iob2_warns_naming_the_scheme_option(tmp_path):
    iob1 = "Kim I-PER\nsaw O\nOslo I-LOC\n\nAcme I-ORG\nCorp I-ORG\nhired O\nLee I-PER\n\n"
    path = _file(tmp_path, iob1)
    with pytest.warns(DataFormatWarning, match=r"4 of 4 entities start with I-.*scheme='IOB1'"):
        read_conll(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_conll(path, scheme="IOB1")  # converted, no warning
        read_conll(_file(tmp_path, CONLL03, "iob2.txt"))  # IOB2 data: no warning
        read_conll(_file(tmp_path, "Kim I-PER\nsaw O\n\nOslo B-LOC\n", "slip.txt"))  # one slip is not IOB1
