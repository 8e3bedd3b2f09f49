"""CoNLL column files and CoNLL-U treebanks: readers, writers and the checks that keep them honest.

Two formats carry nearly all public NER and sentence-segmentation data:

* **CoNLL column files** (CoNLL-2002/2003, WikiANN): one token per line, columns
  separated by a space or a tab, the entity tag in one column, a blank line
  after each sentence, ``-DOCSTART-`` lines between documents.
* **CoNLL-U** (Universal Dependencies): ``# sent_id`` / ``# text`` comments,
  ten tab-separated columns, ``SpaceAfter=No`` in MISC, ``# newdoc`` and
  ``# newpar`` marking documents and paragraphs, so running text can be rebuilt.

Nothing is guessed silently: a malformed file fails with :class:`DataFormatError`
naming the file, the line and the reason; an unknown tag is an error, never a
silent ``O``; IOB1 is converted only when the caller says the file is IOB1.
IOB2 input is taken as it is, including an ``I-X`` right after ``O`` (conlleval
reads it as the start of an entity; CoNLL-2002 Spanish has one, as in the original);
a file where most entities start that way is evidently IOB1, and reading it as
IOB2 warns (:class:`DataFormatWarning`) naming the ``scheme`` option.

Both readers drop a UTF-8 byte-order mark at the start of a file (Windows editors
write one; it is not part of the first token).  A line that ends in a space, a
tab or a lone carriage return, and a file that mixes CRLF and LF line ends, fail
with that cause named rather than as a column count or a malformed tag.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "ConllFile", "ConllLayout", "DataFormatError", "DataFormatWarning", "SbdDoc", "Sentence", "UdSentence",
    "conllu_documents", "iob1_to_iob2", "read_conll", "read_conllu", "write_conll",
]

DOCSTART = "-DOCSTART-"
SCHEMES = ("IOB1", "IOB2")
_TAG = re.compile(r"(?:O|[BI]-\S+)\Z")  # "B_PER", "X-PER", "B-" are malformed
_BOM = "\ufeff"  # UTF-8 byte-order mark, as text
_TRAILING = {" ": "a space", "\t": "a tab", "\r": "a carriage return (\\r) without a line feed"}


class DataFormatError(ValueError):
    """A file that is not what it claims to be; the message is ``"{path}:{line}: {reason}"``."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason


class DataFormatWarning(UserWarning):
    """A file that reads without error but is probably not what the caller said (e.g. IOB1 read as IOB2)."""


class SbdDoc(NamedTuple):
    """A text with its sentence boundaries: the SBD example format of the book (chapter 5).

    ``sentence_ends`` are strictly increasing offsets, each one past a sentence's
    last non-space character.  Real treebanks (:func:`conllu_documents`) and the
    micro-world (:func:`rmdlib.synth.sbd_splits`) both give it.
    """

    text: str  # original whitespace kept; only whitespace lies between sentences
    sentence_ends: tuple[int, ...]  # one past the last non-space character of each sentence


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 -> IOB2: an ``I-X`` that starts an entity becomes ``B-X``.

    In IOB1 (Ramshaw & Marcus 1995; the original CoNLL-2003 files) ``B-X`` only
    separates two adjacent entities of the same type; in IOB2 every entity
    starts with ``B-X``. An ``I-X`` starts an entity when the previous tag is
    ``O`` or has another type.
    """
    out, prev = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


class Sentence(NamedTuple):
    """One sentence of a column file: tokens, IOB2 tags, its document, and every column as read."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    doc_id: int = 0  # index of its -DOCSTART- document (0 when the file has none)
    rows: tuple[tuple[str, ...], ...] = ()  # all columns per token (POS, chunk...); () when built in code


@dataclass(frozen=True)
class ConllLayout:
    """How a column file is laid out, so that writing it back reproduces its bytes."""

    sep: str = " "  # column separator: " " in CoNLL-2002/2003, "\t" in WikiANN
    docstart: str | None = None  # the document line as written, e.g. "-DOCSTART- -X- -X- O"
    blank_after_docstart: bool = True  # CoNLL-2003 has a blank line after it, CoNLL-2002 Dutch has not
    token_prefix: str = ""  # "en:" in WikiANN: on every token in the file, stripped on reading
    trailing_newlines: int = 1  # after the last token line: CoNLL-2003 has 0, WikiANN 2
    newline: str = "\n"  # "\r\n" for files written on Windows


class ConllFile(NamedTuple):
    """What :func:`read_conll` returns: the sentences and the layout to write them back with."""

    sentences: list[Sentence]
    layout: ConllLayout


def _read_text(path: Path) -> str:
    """The file as text without a leading byte-order mark; a byte that is not UTF-8 fails with its line and column."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        return text[1:] if text.startswith(_BOM) else text
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - data.rfind(b"\n", 0, e.start)  # 1-based column of the bad byte
        raise DataFormatError(path, line, f"not UTF-8: byte 0x{data[e.start]:02x} at column {col}") from None


def _split_lines(path: Path) -> tuple[list[str], str, int]:
    """Lines without line ends, the newline used, and how many newlines end the file."""
    text = _read_text(path)
    if not text.strip():
        raise DataFormatError(path, 1, "empty file")
    newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    _check_line_ends(path, text, newline)
    lines = text.split(newline)  # never splitlines(): it also splits on \x1c, \u2028 ... inside tokens
    trailing = 0
    while lines[-1] == "":
        lines.pop()
        trailing += 1
    return lines, newline, trailing


def _check_line_ends(path: Path, text: str, newline: str) -> None:
    """One line end for the whole file: CRLF (as line 1) or LF alone, never both."""
    lf_lines = text.split("\n")[:-1]  # every line that a line feed ends
    odd = [no for no, line in enumerate(lf_lines, 1) if line.endswith("\r") != (newline == "\r\n")]
    if odd:
        found = "LF alone" if newline == "\r\n" else "CRLF"
        raise DataFormatError(path, odd[0], f"mixed line ends: line 1 ends in {newline!r}, this line in "
                                            f"{found} ({len(odd)} such lines); convert the file to one line end")


def _check_no_trailing_space(path: Path, no: int, line: str) -> None:
    """A token line must not end in whitespace: it would make an empty or altered last column."""
    if line and line[-1] in _TRAILING:
        raise DataFormatError(path, no, f"line ends with {_TRAILING[line[-1]]} after {line.rstrip()[-20:]!r}; "
                                        "strip trailing whitespace")


def _iob1_starts(sentences: Sequence["Sentence"]) -> tuple[int, int]:
    """(entities that start with I-X, all entities) in IOB2 reading: many I- starts means IOB1."""
    i_starts = starts = 0
    for s in sentences:
        prev = "O"
        for tag in s.tags:
            if tag != "O" and (tag[0] == "B" or prev == "O" or prev[2:] != tag[2:]):
                starts += 1
                i_starts += tag[0] == "I"
            prev = tag
    return i_starts, starts


class _ColumnReader:
    """The state of one pass over a column file (kept apart so read_conll stays short)."""

    def __init__(self, path: Path, tag_column: int, scheme: str, label_names, token_prefix: str):
        self.path, self.tag_column, self.scheme, self.prefix = path, tag_column, scheme, token_prefix
        self.labels = None if label_names is None else set(label_names)
        self.sentences: list[Sentence] = []
        self.rows: list[tuple[str, ...]] = []
        self.line_nos: list[int] = []
        self.ncols = self.first = None  # column count of the first token line, and its line number
        self.sep = self.docstart = self.blank_after_docstart = None
        self.doc, self.after_docstart = -1, False

    def feed(self, no: int, line: str) -> None:
        if self.after_docstart and self.blank_after_docstart is None:
            self.blank_after_docstart = not line.strip()
        self.after_docstart = False
        if not line.strip():
            return self.flush()
        _check_no_trailing_space(self.path, no, line)
        if line.split(maxsplit=1)[0] == DOCSTART:
            return self._docstart(line)
        if self.sep is None:
            self.sep = "\t" if "\t" in line else " "
        fields = tuple(line.split(self.sep))
        if self.ncols is None:
            if len(fields) < 2:
                raise DataFormatError(self.path, no, "a token line needs a token and a tag column")
            self.ncols, self.first = len(fields), no
        if len(fields) != self.ncols:
            raise DataFormatError(
                self.path, no, f"{len(fields)} columns, expected {self.ncols} as on line {self.first}")
        self._check_token(no, fields[0])
        tag = fields[self.tag_column]
        if not _TAG.match(tag):
            raise DataFormatError(self.path, no, f"malformed tag {tag!r} (expected O, B-TYPE or I-TYPE)")
        self.rows.append(fields)
        self.line_nos.append(no)

    def _check_token(self, no: int, token: str) -> None:
        if not token.startswith(self.prefix) or token == self.prefix:
            what = f"lacks the prefix {self.prefix!r}" if self.prefix else "is empty"
            raise DataFormatError(self.path, no, f"token {token!r} {what}")

    def _docstart(self, line: str) -> None:
        self.flush()
        self.docstart = self.docstart or line
        self.doc = self.doc + 1 if self.doc >= 0 else int(bool(self.sentences))
        self.after_docstart = True

    def flush(self) -> None:
        if not self.rows:
            return
        tags = [row[self.tag_column] for row in self.rows]
        if self.scheme == "IOB1":
            tags = iob1_to_iob2(tags)
        for tag, no in zip(tags, self.line_nos):
            if self.labels is not None and tag not in self.labels:
                raise DataFormatError(self.path, no, f"unknown tag {tag!r} (not in label_names)")
        tokens = tuple(row[0][len(self.prefix):] for row in self.rows)
        self.sentences.append(Sentence(tokens, tuple(tags), max(self.doc, 0), tuple(self.rows)))
        self.rows, self.line_nos = [], []


def read_conll(path: str | Path, *, tag_column: int = -1, scheme: str = "IOB2",
               label_names: Iterable[str] | None = None, token_prefix: str = "") -> ConllFile:
    """Read a CoNLL column file into sentences with IOB2 tags, keeping documents and layout.

    ``tag_column`` picks the tag column (the token is column 0); ``scheme="IOB1"``
    converts with :func:`iob1_to_iob2`, ``"IOB2"`` keeps tags as they are (and warns
    with :class:`DataFormatWarning` when most entities start with ``I-``: IOB1);
    ``label_names`` (if given) makes any other tag an error; ``token_prefix``
    (``"en:"`` for WikiANN) must start every token and is stripped.  A leading
    byte-order mark is dropped.  Errors name the file, the line and the reason.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {SCHEMES}")
    path = Path(path)
    lines, newline, trailing = _split_lines(path)
    reader = _ColumnReader(path, tag_column, scheme, label_names, token_prefix)
    for no, line in enumerate(lines, 1):
        reader.feed(no, line)
    reader.flush()
    if not reader.sentences:
        raise DataFormatError(path, len(lines), "no token lines: the file holds no sentence")
    if scheme == "IOB2":
        _warn_if_iob1(path, reader.sentences)
    layout = ConllLayout(reader.sep, reader.docstart, reader.blank_after_docstart is not False,
                         token_prefix, trailing, newline)
    return ConllFile(reader.sentences, layout)


def _warn_if_iob1(path: Path, sentences: Sequence[Sentence]) -> None:
    i_starts, starts = _iob1_starts(sentences)
    if i_starts >= 3 and 2 * i_starts > starts:  # a stray I- start is an IOB2 annotation slip; most is IOB1
        warnings.warn(f"{path}: {i_starts} of {starts} entities start with I- after O or another type, "
                      "which is IOB1; read it with scheme='IOB1' to convert it", DataFormatWarning, stacklevel=3)


def _token_lines(s: Sentence, layout: ConllLayout, tag_column: int) -> list[str]:
    if len(s.tokens) != len(s.tags) or (s.rows and len(s.rows) != len(s.tokens)):
        raise ValueError(f"sentence {s.tokens[:5]}...: {len(s.tokens)} tokens, {len(s.tags)} tags")
    lines = []
    for i, (token, tag) in enumerate(zip(s.tokens, s.tags)):
        row = list(s.rows[i]) if s.rows else [token, tag]
        row[0], row[tag_column] = layout.token_prefix + token, tag
        lines.append(layout.sep.join(row))
    return lines


def write_conll(path: str | Path, sentences: Iterable[Sentence],
                layout: ConllLayout = ConllLayout(), *, tag_column: int = -1) -> None:
    """Write sentences as a column file; ``write_conll(p, *read_conll(q))`` reproduces ``q``'s bytes.

    A new ``doc_id`` opens a document with ``layout.docstart``; sentences from
    several documents with no docstart line to write are an error (the
    boundaries would be lost).
    """
    out: list[str] = []
    prev_doc = None
    for s in sentences:
        new_doc = s.doc_id != prev_doc
        if new_doc and prev_doc is not None and layout.docstart is None:
            raise ValueError("sentences span several documents but layout.docstart is None")
        blank = bool(out)  # a blank line ends the previous block
        if new_doc and layout.docstart is not None:
            out += [""] * blank + [layout.docstart]
            blank = layout.blank_after_docstart
        out += [""] * blank + _token_lines(s, layout, tag_column)
        prev_doc = s.doc_id
    text = layout.newline.join(out) + layout.newline * layout.trailing_newlines
    Path(path).write_bytes(text.encode("utf-8"))


class UdSentence(NamedTuple):
    """One CoNLL-U sentence: its surface tokens with spacing, its words, and its place in the text."""

    sent_id: str | None
    text: str  # the "# text =" comment (rebuilt from tokens when the comment is missing)
    tokens: tuple[str, ...]  # surface tokens: a multiword token ("don't") counts once, its words not
    spaces_after: tuple[str, ...]  # per surface token: " ", "" (SpaceAfter=No) or a decoded SpacesAfter
    words: tuple[str, ...]  # syntactic words (integer ids: "do", "n't"); empty nodes (8.1) skipped
    newdoc: str | None  # id of a "# newdoc" line before it ("" without id); None if there is none
    newpar: bool  # a "# newpar" line comes before it
    line: int  # line number of its first line, for error messages

    def rebuilt_text(self) -> str:
        """The sentence text from its tokens and their spacing; it should equal ``text``."""
        inner = zip(self.tokens[:-1], self.spaces_after[:-1])  # what follows the last token is not in # text
        return "".join(t + sp for t, sp in inner) + self.tokens[-1]


_UD_ESCAPES = {"s": " ", "t": "\t", "r": "\r", "n": "\n", "p": "|", "\\": "\\"}
_UD_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|[strnp\\])")


def _ud_unescape(m: re.Match) -> str:
    code = m[1]
    return chr(int(code[1:], 16)) if code[0] == "u" else _UD_ESCAPES[code]


def _space_after(misc: str) -> str:
    """The text after a token: "" for SpaceAfter=No, SpacesAfter decoded (\\s, \\n, \\u00A0 ...), else " "."""
    for item in misc.split("|"):
        if item == "SpaceAfter=No":
            return ""
        if item.startswith("SpacesAfter="):
            return _UD_ESCAPE.sub(_ud_unescape, item[len("SpacesAfter="):])
    return " "


def _ud_sentence(path: Path, start: int, comments: dict[str, str], token_lines: list[tuple[int, list[str]]]):
    tokens, spaces, words, covered, expected = [], [], [], 0, 1
    for no, cols in token_lines:
        wid = cols[0]
        if "." in wid:  # empty node of enhanced UD: no surface form, no word of the basic tree
            continue
        if "-" in wid:  # multiword token "1-2": the surface form; its words follow as 1 and 2
            covered = int(wid.split("-")[1])
        elif not wid.isdigit() or int(wid) != expected:
            raise DataFormatError(path, no, f"word id {wid!r}, expected {expected}")
        else:
            words.append(cols[1])
            expected += 1
            if int(wid) <= covered:
                continue
        tokens.append(cols[1])
        spaces.append(_space_after(cols[9]))
    s = UdSentence(comments.get("sent_id"), "", tuple(tokens), tuple(spaces), tuple(words),
                   comments.get("newdoc"), "newpar" in comments, start)
    rebuilt = s.rebuilt_text()
    if "text" in comments and comments["text"] != rebuilt:
        raise DataFormatError(path, start, f"sentence {s.sent_id!r}: '# text' disagrees with its tokens at "
                                           f"character {_first_difference(comments['text'], rebuilt)}: "
                                           f"{comments['text']!r:.120} vs tokens + SpaceAfter {rebuilt!r:.120}")
    return s._replace(text=comments.get("text", rebuilt))


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def read_conllu(path: str | Path) -> list[UdSentence]:
    """Read a CoNLL-U file (Universal Dependencies) into sentences; errors name file, line, reason.

    Keeps what sentence segmentation needs: ``# text``, ``# sent_id``,
    ``# newdoc`` / ``# newpar`` and ``SpaceAfter=No``.  A ``# text`` that differs
    from the sentence's tokens and their spacing is an error naming the sentence
    (the text would be trusted for training while the tokens say otherwise).
    A leading byte-order mark is dropped.
    """
    path = Path(path)
    lines, _, _ = _split_lines(path)
    out, comments, token_lines, start = [], {}, [], 1
    for no, line in enumerate([*lines, ""], 1):
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition(" = ")  # "newdoc id = x" -> newdoc: x
            if key:
                comments[key.split()[0]] = value.strip()
        elif line.strip():
            _check_no_trailing_space(path, no, line)
            cols = line.split("\t")
            if len(cols) != 10:
                raise DataFormatError(path, no, f"{len(cols)} tab-separated columns, expected 10")
            token_lines.append((no, cols))
        elif token_lines:
            out.append(_ud_sentence(path, start, comments, token_lines))
            comments, token_lines, start = {}, [], no + 1
        elif comments:
            raise DataFormatError(path, no, "comment lines with no sentence after them")
        else:
            start = no + 1
    if not out:
        raise DataFormatError(path, len(lines), "no sentence in the file")
    return out


def conllu_documents(sentences: Iterable[UdSentence], *, paragraph_sep: str = "\n") -> list[SbdDoc]:
    """Rebuild running text per ``# newdoc`` document from CoNLL-U sentences.

    Sentences of one paragraph are joined by what follows the previous
    sentence's last token (a space, nothing for ``SpaceAfter=No`` as in Chinese
    or Japanese, or a ``SpacesAfter`` value), paragraphs (``# newpar``) by
    ``paragraph_sep``. The result is the SBD example format of the book:
    ``text`` and strictly increasing ``sentence_ends`` (one past each
    sentence's last non-space character), as :class:`SbdDoc`.
    Used in chapter 5.
    """
    docs: list[SbdDoc] = []
    text, ends, gap = "", [], " "
    for s in sentences:
        if s.newdoc is not None and ends:
            docs.append(SbdDoc(text, tuple(ends)))
            text, ends = "", []
        sentence = s.text.strip()
        if not sentence:
            raise ValueError(f"sentence {s.sent_id!r} (line {s.line}) has no text")
        if ends:
            text += paragraph_sep if s.newpar else gap
        text += sentence
        ends.append(len(text))
        gap = s.spaces_after[-1]  # what follows this sentence's last token
    if ends:
        docs.append(SbdDoc(text, tuple(ends)))
    return docs
