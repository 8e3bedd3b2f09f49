"""From text to model inputs: WordPiece, label alignment, windows, SBD candidates and labels, batching.

Nothing is lost on the way: a sentence longer than the model limit becomes
several overlapping windows and :func:`merge_windows` gives every word exactly
one prediction back; a word that yields no sub-token is an error, not a gap.
Shapes: W windows, B batch, T tokens, N words. Used in chapters 2, 4, 5, 6, 7, 8 and 9.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from torch.utils.data import Sampler
from transformers import DataCollatorForTokenClassification, PreTrainedTokenizerFast

from rmdlib.batch import IGNORE_INDEX

__all__ = [
    "LINE_BREAK", "SPECIAL_TOKENS", "Collator", "LengthGroupedBatchSampler", "TokensError", "align_labels",
    "encode_candidates", "encode_words", "iob2_b_to_i", "merge_windows", "pad_multiple", "sbd_candidates", "sbd_labels",
    "sbd_words", "sentence_ends_from_labels", "split_at", "tokenize_ner", "train_wordpiece", "word_spans",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # BERT's; [PAD] first so its id is 0
_WORD = re.compile(r"\w+|[^\w\s]")  # runs of word characters, or one punctuation mark: lossless
_SPACE = re.compile(r"\s*")


class TokensError(ValueError):
    """Bad input to a function of this module; the message names the item and the reason."""


def train_wordpiece(texts: Iterable[str], *, vocab_size: int = 4000, min_frequency: int = 2,
                    lowercase: bool = False, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts`` and wrap it for transformers.

    Special ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4; ``[CLS] A [SEP]`` and
    ``[CLS] A [SEP] B [SEP]``. Round-trips through ``save_pretrained`` / ``AutoTokenizer``.
    Used in chapters 2 and 9.
    """
    texts = list(texts)  # read twice: once for the "##x" alphabet, once to train
    norm, pre = normalizers.BertNormalizer(lowercase=lowercase), pre_tokenizers.BertPreTokenizer()
    # tokenizers#1794: the trainer numbers "##x" tokens in hash-map order and breaks ties between
    # equally frequent merges by id, so each run gave another vocabulary. Numbering them up front
    # (as stand-in specials, dropped below) makes training deterministic.
    words = (w for t in texts for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)))
    cont = sorted({"##" + c for w in words for c in w[1:]})
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=[*SPECIAL_TOKENS, *cont], show_progress=False)
    scratch = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    scratch.normalizer, scratch.pre_tokenizer = norm, pre
    scratch.train_from_iterator(texts, trainer=trainer)
    tok = Tokenizer(scratch.model)  # same vocabulary, without the stand-in specials
    tok.normalizer, tok.pre_tokenizer = norm, pre  # BERT strips accents iff lowercase
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece(prefix="##")
    # transformers 5: PreTrainedTokenizerFast is an alias of TokenizersBackend.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


def iob2_b_to_i(label_names: Sequence[str]) -> dict[int, int]:
    """Map the id of each ``B-X`` label to the id of ``I-X`` (for later sub-tokens). Used in chapter 4."""
    index = {name: i for i, name in enumerate(label_names)}
    mapping = {}
    for i, name in enumerate(label_names):
        if name.startswith("B-"):
            if "I-" + name[2:] not in index:
                raise TokensError(f"label {name!r} has no matching 'I-{name[2:]}' in {list(label_names)}")
            mapping[i] = index["I-" + name[2:]]
    return mapping


def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int], *,
                 label_all_subtokens: bool = False, b_to_i: Mapping[int, int] | None = None) -> list[int]:
    """Word labels (N,) -> sub-token labels (T,): the first sub-token of a word gets its label.

    Later sub-tokens and specials (word id None) get IGNORE_INDEX, unless
    ``label_all_subtokens``: then later sub-tokens get the label too, mapped by
    ``b_to_i`` (``B-X`` -> ``I-X``, see :func:`iob2_b_to_i`) when given. Used in chapter 4.
    """
    labels: list[int] = []
    previous = None
    for w in word_ids:
        if w is not None and not 0 <= w < len(word_labels):
            raise TokensError(f"word id {w} out of range for {len(word_labels)} word labels")
        if w is None:
            labels.append(IGNORE_INDEX)
        elif w != previous:
            labels.append(int(word_labels[w]))
        elif label_all_subtokens:
            label = int(word_labels[w])
            labels.append(b_to_i.get(label, label) if b_to_i else label)
        else:
            labels.append(IGNORE_INDEX)
        previous = w
    return labels


def _owners(windows_word_ids: Sequence[Sequence[int | None]], windows_example_ids: Sequence[int], *,
            last: bool = False) -> dict[tuple[int, int], tuple[int, int]]:
    """(example, word) -> (window, position of the word's first sub-token there; its last if ``last``).

    Rule: a word's context in a window is min(tokens between the word and the
    window's left edge, tokens between it and the right edge); the window with the
    most context wins, ties go to the earlier window. (The example's own start and
    end need no special case: windows are slices of one sequence, so no later
    window has more left context, nor an earlier one more right context.) A window
    that starts mid-word scores 0 for that word, and the earliest window holding a
    word holds its true first sub-token, so the chosen position always is one.
    With ``last`` the mirror image holds: ties go to the later window, which holds
    the word's true last sub-token.
    """
    ids = list(windows_example_ids)
    if any(b < a for a, b in zip(ids, ids[1:])):
        raise TokensError("windows must be in encoding order (example ids non-decreasing); "
                          "do not shuffle the windows you merge")
    best: dict[tuple[int, int], tuple[int, int, int]] = {}
    for k, (word_ids, e) in enumerate(zip(windows_word_ids, ids)):
        content = [p for p, w in enumerate(word_ids) if w is not None]
        spans: dict[int, list[int]] = {}
        for p in content:
            spans.setdefault(int(word_ids[p]), [p, p])[1] = p
        for w, (first, final) in spans.items():
            context = min(first - content[0], content[-1] - final)
            if (e, w) not in best or context > best[(e, w)][0] or (last and context == best[(e, w)][0]):
                best[(e, w)] = (context, k, final if last else first)
    return {key: (k, a) for key, (_, k, a) in best.items()}


def _check_all_words(n_words: Sequence[int], owners: Mapping[tuple[int, int], Any]) -> None:
    for e, n in enumerate(n_words):
        for w in range(n):
            if (e, w) not in owners:
                raise TokensError(f"word {w} of example {e} has no sub-token in any window "
                                  "(an empty word, or only characters the normalizer removes?)")


def encode_words(tokenizer: PreTrainedTokenizerFast, words_batch: Sequence[Sequence[str]],
                 labels_batch: Sequence[Sequence[int]] | None = None, *, max_length: int | None = None,
                 stride: int = 32, label_all_subtokens: bool = False,
                 b_to_i: Mapping[int, int] | None = None) -> dict[str, list]:
    """Tokenize pre-split words into overlapping windows of at most ``max_length`` tokens.

    Returns lists over W windows: ``input_ids``/``attention_mask``/``word_ids`` (each (T_w,)),
    ``example_id`` and, given labels, ``labels`` (T_w,). Consecutive windows share
    ``stride`` tokens and may cut a word in two. Each word is labelled in exactly one
    window, the one :func:`merge_windows` reads it from; -100 elsewhere.
    """
    max_length = max_length or tokenizer.model_max_length
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if not 0 <= stride < room:  # the Rust side panics (BaseException) instead of raising
        raise TokensError(f"stride={stride} must be in [0, {room}) for max_length={max_length}")
    words_batch = [list(words) for words in words_batch]
    if labels_batch is not None:
        if len(labels_batch) != len(words_batch):
            raise TokensError(f"{len(words_batch)} examples of words but {len(labels_batch)} of labels")
        for e, (words, labels) in enumerate(zip(words_batch, labels_batch)):
            if len(words) != len(labels):
                raise TokensError(f"example {e}: {len(words)} words but {len(labels)} labels")
    enc = tokenizer(words_batch, is_split_into_words=True, truncation=True, max_length=max_length,
                    stride=stride, return_overflowing_tokens=True)
    word_ids = [enc.word_ids(k) for k in range(len(enc["input_ids"]))]
    example_id = [int(e) for e in enc["overflow_to_sample_mapping"]]
    owners = _owners(word_ids, example_id)
    _check_all_words([len(words) for words in words_batch], owners)
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
           "word_ids": word_ids, "example_id": example_id}
    if labels_batch is not None:
        out["labels"] = [
            align_labels([w if w is not None and owners[(e, w)][0] == k else None for w in ids],
                         labels_batch[e], label_all_subtokens=label_all_subtokens, b_to_i=b_to_i)
            for k, (ids, e) in enumerate(zip(word_ids, example_id))]
    return out


def merge_windows(windows_word_ids: Sequence[Sequence[int | None]], windows_example_ids: Sequence[int],
                  window_predictions: Sequence[Sequence[Any]] | torch.Tensor,
                  n_words_per_example: Sequence[int]) -> list[list[Any]]:
    """Window predictions (W, T, ...) -> one prediction per word, per example.

    ``window_predictions[k][p]`` (logits (C,) or a label id) is read at the first
    sub-token of each word in the window where the word has most context, i.e. the
    most tokens between the word and the nearer window edge; ties go to the earlier
    window. Windows must be in encoding order.
    """
    owners = _owners(windows_word_ids, windows_example_ids)
    _check_all_words(n_words_per_example, owners)
    merged: list[list[Any]] = [[None] * n for n in n_words_per_example]
    for (e, w), (k, p) in owners.items():
        if e >= len(merged) or w >= len(merged[e]):
            raise TokensError(f"window {k} holds word {w} of example {e}, beyond n_words_per_example")
        merged[e][w] = window_predictions[k][p]
    return merged


def tokenize_ner(dataset_dict: Any, tokenizer: PreTrainedTokenizerFast, *, max_length: int | None = None,
                 stride: int = 32, label_all_subtokens: bool = False, b_to_i: Mapping[int, int] | None = None,
                 tokens_column: str = "tokens", tags_column: str = "ner_tags") -> Any:
    """Map a ``datasets.DatasetDict`` (or Dataset) of words and integer tags to windows.

    Each row becomes one or more windows (see :func:`encode_words`); ``example_id`` is the
    row index in its split, so ``merge_windows`` maps predictions back.
    """
    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out = encode_words(tokenizer, batch[tokens_column], batch[tags_column], max_length=max_length,
                           stride=stride, label_all_subtokens=label_all_subtokens, b_to_i=b_to_i)
        out["example_id"] = [indices[e] for e in out["example_id"]]
        return out

    def map_split(ds: Any) -> Any:
        return ds.map(encode, batched=True, with_indices=True, remove_columns=ds.column_names)

    if hasattr(dataset_dict, "keys"):
        return type(dataset_dict)({name: map_split(ds) for name, ds in dataset_dict.items()})
    return map_split(dataset_dict)


def word_spans(text: str) -> list[tuple[int, int]]:
    r"""Character spans of the SBD words of ``text``: runs of ``\w`` and single punctuation marks.

    Every non-space character is in exactly one span, except invisible format
    characters (Unicode category Cf: soft hyphen, zero-width joiner, ...), which
    tokenizers delete, so a word of them alone would have no sub-token.  Offsets
    refer to ``text`` unchanged, so nothing is lost.
    """
    return [m.span() for m in _WORD.finditer(text)
            if not all(unicodedata.category(c) == "Cf" for c in m.group())]


def _check_ends(text: str, ends: Sequence[int]) -> None:
    for i, end in enumerate(ends):
        if not 0 < end <= len(text) or (i and end <= ends[i - 1]):
            raise TokensError(f"sentence end {end} (#{i}) must be in (0, {len(text)}] and increasing")
        if text[end - 1].isspace():
            raise TokensError(f"sentence end {end} follows whitespace; it must be one past a non-space char")


def sbd_words(text: str, sentence_ends: Sequence[int]) -> tuple[list[str], list[tuple[int, int]], list[int]]:
    """Words, spans and labels (N,) for SBD: label 1 on the word whose span ends a sentence.

    Raises TokensError when a sentence end falls inside a word.
    """
    _check_ends(text, sentence_ends)
    spans = word_spans(text)
    starts = [a for a, _ in spans]
    at_end = {b: i for i, (_, b) in enumerate(spans)}
    labels = [0] * len(spans)
    for end in sentence_ends:
        if end not in at_end:
            a, b = spans[bisect.bisect_right(starts, end - 1) - 1]
            raise TokensError(f"sentence end at offset {end} falls inside word {text[a:b]!r} ({a}:{b})")
        labels[at_end[end]] = 1
    return [text[a:b] for a, b in spans], spans, labels


def sentence_ends_from_labels(spans: Sequence[tuple[int, int]], labels: Sequence[int]) -> list[int]:
    """Inverse of :func:`sbd_words`: the end offset of every word labelled 1."""
    if len(spans) != len(labels):
        raise TokensError(f"{len(spans)} spans but {len(labels)} labels")
    return [b for (_, b), label in zip(spans, labels) if int(label) == 1]


def split_at(text: str, ends: Sequence[int]) -> list[str]:
    """Cut ``text`` after each sentence end; ``"".join(pieces) == text`` exactly.

    Each piece keeps its trailing whitespace; text after the last end is the last
    sentence even without a predicted end. Used in chapter 5.
    """
    _check_ends(text, ends)
    pieces, start = [], 0
    for end in ends:
        cut = _SPACE.match(text, end).end()  # the piece keeps the whitespace after its end
        pieces.append(text[start:cut])
        start = cut
    if start < len(text):
        pieces.append(text[start:])
    return pieces


# --- sentence boundaries at candidates ----------------------------------------------------------------------

LINE_BREAK = "\n"  # the unit a line break becomes; the tokenizer reads it as its [SEP] token (encode_candidates)
_UNIT = re.compile(r"\n|[^\s]+")  # a line break, or a whitespace-free run: the units a sentence can end at


def _invisible(char: str) -> bool:
    """Characters a BERT normalizer deletes: format (Cf, e.g. soft hyphen, zero-width space) and control."""
    return unicodedata.category(char) in ("Cf", "Cc") or char == "\ufffd"


def sbd_candidates(text: str) -> tuple[list[str], list[int]]:
    r"""The units of ``text`` and the sentence end each stands for: the candidates of chapter 5.

    A unit is a whitespace-free run (``\S+``) or a line break (``"\n"``, one unit per
    break, so a blank line is two).  A run stands for the offset one past its last
    visible character (trailing format characters such as a zero-width space are
    not counted); a line break for the end of the text before it (0 at the start of
    the text, which is never an end).  Every offset is the end of a run, so a split
    there can never cut inside a token like ``U.S.A.``, ``3.14`` or ``a@b.org``.
    Returns (units, offsets), both (N,).  Used in chapter 5.
    """
    units, offsets, last_end = [], [], 0
    for m in _UNIT.finditer(text):
        a, b = m.span()
        if text[a] == "\n":
            units.append(LINE_BREAK)
            offsets.append(last_end)  # only whitespace since the previous run ended
            continue
        while b > a + 1 and _invisible(text[b - 1]):
            b -= 1
        units.append(m.group())
        offsets.append(b)
        last_end = b
    return units, offsets


def sbd_labels(text: str, sentence_ends: Sequence[int], *,
               strict: bool = True) -> tuple[list[str], list[int], list[int]]:
    """Units, offsets and labels (N,) for SBD: label 1 on every candidate that stands for a sentence end.

    A sentence ending right before a line break is labelled twice: on its last run
    and on the break, so either position can carry it.  A gold end that is no
    candidate's offset (inside a whitespace-free run, e.g. ``"end.Next"``) raises
    TokensError, or is skipped with ``strict=False`` (it can then never be found).
    Used in chapter 5.
    """
    _check_ends(text, sentence_ends)
    units, offsets = sbd_candidates(text)
    gold = set(sentence_ends)
    if strict and (missing := sorted(gold - set(offsets))):
        run = next(m for m in re.finditer(r"\S+", text) if m.start() < missing[0] <= m.end())
        raise TokensError(f"sentence end at offset {missing[0]} falls inside the whitespace-free token "
                          f"{run.group()!r} ({run.start()}:{run.end()}), where no candidate is")
    return units, offsets, [int(o in gold and o > 0) for o in offsets]


def encode_candidates(tokenizer: PreTrainedTokenizerFast, units_batch: Sequence[Sequence[str]],
                      labels_batch: Sequence[Sequence[int]] | None = None, *, max_length: int | None = None,
                      stride: int = 32) -> dict[str, list]:
    """Units (see :func:`sbd_candidates`) -> overlapping windows, read at each unit's LAST sub-token.

    A line-break unit becomes the tokenizer's separator token (``[SEP]``).  Returns
    lists over W windows: ``input_ids``/``attention_mask`` (T_w,), ``example_id``,
    ``reads`` (the (unit, position) pairs read from that window: each unit exactly
    once, in the window where it has most context, see ``_owners``) and, given
    labels, ``labels`` (T_w,): the unit's label at its read position, -100
    elsewhere.  A unit with no sub-token (only invisible characters) is never read.
    """
    max_length = max_length or tokenizer.model_max_length
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if not 0 <= stride < room:
        raise TokensError(f"stride={stride} must be in [0, {room}) for max_length={max_length}")
    marker = tokenizer.sep_token or tokenizer.unk_token
    words = [[marker if u == LINE_BREAK else u for u in units] for units in units_batch]
    if any(not w for w in words):
        raise TokensError("encode_candidates: every example needs at least one unit (skip empty texts)")
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length, stride=stride,
                    return_overflowing_tokens=True)
    word_ids = [enc.word_ids(k) for k in range(len(enc["input_ids"]))]
    example_id = [int(e) for e in enc["overflow_to_sample_mapping"]]
    reads: list[list[tuple[int, int]]] = [[] for _ in word_ids]
    for (e, w), (k, p) in sorted(_owners(word_ids, example_id, last=True).items()):
        reads[k].append((w, p))
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "example_id": example_id,
           "reads": reads}
    if labels_batch is not None:
        out["labels"] = []
        for ids, e, read in zip(enc["input_ids"], example_id, reads):
            labels = [IGNORE_INDEX] * len(ids)
            for w, p in read:
                labels[p] = int(labels_batch[e][w])
            out["labels"].append(labels)
    return out


def pad_multiple(device: torch.device | str) -> int | None:
    """``pad_to_multiple_of`` for batches that run on ``device``: 8 on CUDA, else None (no extra padding).

    Tensor cores multiply fp16/bf16 matrices fastest when their sizes are
    multiples of 8 (NVIDIA's guidance, as in ``DataCollatorForTokenClassification``'s
    docs); on a CPU the extra padding is only wasted work.
    """
    return 8 if torch.device(device).type == "cuda" else None


class Collator:
    """Pad a list of windows to the longest (optionally a multiple of 8): tensors (B, T).

    Wraps ``transformers.DataCollatorForTokenClassification``: pads ``input_ids`` with
    [PAD], ``attention_mask`` with 0 and ``labels`` with IGNORE_INDEX. Keys in ``keep``
    (e.g. ``word_ids``, ``example_id``) come back as plain lists; other keys are dropped.
    Used in chapters 4, 6, 7 and 8.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, *, pad_to_multiple_of: int | None = None,
                 keep: Sequence[str] = ("word_ids", "example_id")) -> None:
        self._pad = DataCollatorForTokenClassification(
            tokenizer, pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE_INDEX)
        self._model_keys = {*tokenizer.model_input_names, "labels"}
        self.keep = tuple(keep)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = dict(self._pad([{k: v for k, v in f.items() if k in self._model_keys} for f in features]))
        for key in self.keep:
            if key in features[0]:
                batch[key] = [f[key] for f in features]
        return batch


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of indices of similar length, so little of a batch is padding.

    Each epoch: shuffle all indices, cut into mega-batches of ``batch_size *
    mega_batch_mult``, sort each by length (longest first), cut into batches, shuffle
    the batch order. Every index appears once per epoch (unless ``drop_last``).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, generator: torch.Generator,
                 mega_batch_mult: int = 50, drop_last: bool = False) -> None:
        super().__init__()
        if batch_size < 1 or mega_batch_mult < 1:
            raise TokensError(f"batch_size={batch_size} and mega_batch_mult={mega_batch_mult} must be >= 1")
        self.lengths = [int(n) for n in lengths]
        self.batch_size, self.mega_batch_mult, self.drop_last = batch_size, mega_batch_mult, drop_last
        self.generator = generator

    def __len__(self) -> int:
        n, b = len(self.lengths), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        mega = self.batch_size * self.mega_batch_mult
        batches = []
        for s in range(0, len(perm), mega):
            chunk = sorted(perm[s:s + mega], key=lambda i: -self.lengths[i])
            batches += [chunk[j:j + self.batch_size] for j in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]
