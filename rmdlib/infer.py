"""Using a trained tagger on new text: entities with character offsets, and sentence splitting.

Both tasks run the same pipeline, and nothing is lost on the way:

1. words: ``rmdlib.tokens.word_spans`` cuts raw text into words and keeps each
   word's character span (pre-split tokens are joined with single spaces);
2. windows: ``rmdlib.tokens.encode_words`` turns words into overlapping windows
   of at most ``max_length`` sub-tokens, so a long text loses no word;
3. logits (W, T, C) for every window (``rmdlib.models.predict_logits``: the
   requested device, eval mode, no gradient, previous mode restored);
4. ``rmdlib.tokens.merge_windows`` gives every word exactly one class, read at
   its first sub-token in the window where it has most context;
5. NER: IOB2 tags -> entity spans (seqeval's ``get_entities``, as in
   ``rmdlib.metrics``) -> character offsets.  SBD differs in steps 1 and 4: the
   model reads candidates (``rmdlib.tokens.sbd_candidates``: the LAST sub-token
   of each whitespace-free run, and each line break as a ``[SEP]``), P(END) > a
   threshold -> end offsets -> ``rmdlib.tokens.split_at``.

A word that yields no sub-token (a control or zero-width character the
normalizer deletes) cannot be seen by the model; it gets the label ``O``
(for SBD: P(END) = 0) instead of failing.  Shapes: W windows, T tokens, C classes.
Used in chapters 4, 5, 7, 8 and 9.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from seqeval.metrics.sequence_labeling import get_entities
from torch import nn

from rmdlib.models import predict_logits
from rmdlib.tokens import Collator, encode_candidates, encode_words, merge_windows, sbd_candidates, split_at, word_spans

__all__ = ["SBD_LABELS", "Entity", "InferError", "predict_sentence_ends", "predict_tags", "split_sentences", "tag"]

SBD_LABELS = ("O", "END")  # class 1 = the candidate ends a sentence, as rmdlib.tokens.sbd_labels labels it
Words = Sequence[Sequence[str]]
Device = torch.device | str  # where the model predicts: it is moved there, and every batch with it


class InferError(ValueError):
    """Input a tagger cannot be applied to, and why."""


class Entity(NamedTuple):
    """One entity found in a text: ``text[start:end] == entity.text``."""

    text: str  # the entity's surface form, copied from the input
    type: str  # entity type without its B-/I- prefix, e.g. "PER"
    start: int  # character offset of the first character
    end: int  # character offset one past the last character


def _max_length(model: nn.Module, tokenizer: Any, max_length: int | None) -> int:
    """Window size: the caller's, else the smaller of the tokenizer's and the model's limits."""
    if max_length is not None:
        return max_length
    limits = [tokenizer.model_max_length, getattr(model.config, "max_position_embeddings", None)]
    return min((n for n in limits if n), default=512)


def _has_subtokens(tokenizer: Any, words: Sequence[str]) -> list[bool]:
    """Whether each word yields at least one sub-token (False for what the normalizer deletes)."""
    if not words:
        return []
    return [len(ids) > 0 for ids in tokenizer(list(words), add_special_tokens=False)["input_ids"]]


def _check_encodable(words_batch: Words) -> None:
    """Every word must be valid Unicode text: a lone surrogate (e.g. from a bad decode) cannot be tokenized."""
    for i, words in enumerate(words_batch):
        for word in words:
            try:
                word.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InferError(f"input {i}: the word {word!r:.40} holds a lone surrogate "
                                 f"{word[e.start]!r} at character {e.start}, which is not text; decode the "
                                 "input with errors='replace' or remove it") from None


def _word_classes(model: nn.Module, tokenizer: Any, words_batch: Words, *, max_length: int | None,
                  stride: int, batch_size: int, device: Device) -> list[list[int]]:
    """The predicted class id of every word of every example: lists (N_i,)."""
    _check_encodable(words_batch)
    visible = [_has_subtokens(tokenizer, words) for words in words_batch]
    kept = [[w for w, v in zip(words, vis) if v] for words, vis in zip(words_batch, visible)]
    if not any(kept):
        return [[] if not words else [_o_id(model)] * len(words) for words in words_batch]
    enc = encode_words(tokenizer, kept, max_length=_max_length(model, tokenizer, max_length), stride=stride)
    windows = [{"input_ids": i, "attention_mask": a} for i, a in zip(enc["input_ids"], enc["attention_mask"])]
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]["input_ids"]))  # little padding per batch
    collate = Collator(tokenizer, keep=())
    loader = (collate([windows[k] for k in order[s:s + batch_size]]) for s in range(0, len(order), batch_size))
    rows = [row for logits in predict_logits(model, loader, device=device) for row in logits.argmax(-1).tolist()]  # W x (T,)
    classes = [None] * len(rows)
    for k, row in zip(order, rows):  # back to encoding order, which merge_windows needs
        classes[k] = row
    merged = merge_windows(enc["word_ids"], enc["example_id"], classes, [len(k) for k in kept])
    return [_spread(m, vis, _o_id(model)) for m, vis in zip(merged, visible)]


def _o_id(model: nn.Module) -> int:
    """Class id of ``O`` (the label of words the model cannot see); 0 if the model has no ``O``."""
    return int(getattr(model.config, "label2id", {}).get("O", 0))


def _spread(classes: list[int], visible: list[bool], fill: int) -> list[int]:
    """Put the classes of the visible words back among all words; invisible ones get ``fill``."""
    it = iter(classes)
    return [int(next(it)) if v else fill for v in visible]


def predict_tags(model: nn.Module, tokenizer: Any, words_batch: Words, *, device: Device,
                 max_length: int | None = None, stride: int = 32, batch_size: int = 32) -> list[list[str]]:
    """One tag (a name of ``model.config.id2label``) per word, for a batch of pre-split examples.

    words_batch: lists (N_i,) of words -> lists (N_i,) of tags.  Windows of at most
    ``max_length`` sub-tokens overlapping by ``stride`` (default limit: the smaller of
    the tokenizer's and the model's), ``batch_size`` windows per forward pass, on
    ``device`` (the model is moved there).
    Used in chapters 4, 7, 8 and 9.
    """
    if isinstance(words_batch, str) or any(isinstance(words, str) for words in words_batch):
        raise InferError("predict_tags takes a batch of word lists, e.g. [['John', 'lives']], not strings")
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    classes = _word_classes(model, tokenizer, words_batch, max_length=max_length, stride=stride,
                            batch_size=batch_size, device=device)
    return [[id2label[c] for c in row] for row in classes]


def _text_and_spans(item: Any, index: int) -> tuple[str, list[tuple[int, int]]]:
    """A raw text with its word spans, or pre-split tokens joined by single spaces with theirs."""
    if isinstance(item, str):
        return item, word_spans(item)
    if not isinstance(item, Sequence) or not all(isinstance(t, str) for t in item):
        raise InferError(f"input {index}: expected a text (str) or a list of tokens (str), got {item!r:.80}")
    spans, start = [], 0
    for token in item:
        spans.append((start, start + len(token)))
        start += len(token) + 1
    return " ".join(item), spans


def _entities(text: str, spans: list[tuple[int, int]], tags: list[str]) -> list[Entity]:
    """IOB2 word tags -> entities with character offsets (seqeval's default = conlleval spans)."""
    found = []
    for typ, first, last in get_entities(tags):  # last is inclusive
        start, end = spans[first][0], spans[last][1]
        found.append(Entity(text[start:end], typ, start, end))
    return found


def tag(model: nn.Module, tokenizer: Any, text_or_tokens: str | Sequence[str | Sequence[str]], *,
        device: Device, max_length: int | None = None, stride: int = 32, batch_size: int = 32) -> list[Any]:
    """Entities in one text (-> list[Entity]) or in a list of texts or token lists (-> one list each).

    Raw text is cut with ``rmdlib.tokens.word_spans``; a token list is read as the
    text ``" ".join(tokens)``.  Offsets are character offsets into that text:
    ``text[e.start:e.end] == e.text``.  A single token list must be wrapped:
    ``tag(m, tok, [tokens])``; a bare list of two or more strings none of which
    holds whitespace (``["John", "lives", "in", "Paris"]``) is ambiguous (one
    pre-split sentence, or one-word texts?) and raises :class:`InferError`: wrap it,
    or pass one-word texts as one-token lists.  Windowing as in :func:`predict_tags`.
    Used in chapters 4 and 8.
    """
    single = isinstance(text_or_tokens, str)
    items = [text_or_tokens] if single else list(text_or_tokens)
    if len(items) > 1 and all(isinstance(x, str) and x and not any(c.isspace() for c in x) for x in items):
        raise InferError(f"tag: {len(items)} strings without whitespace ({items[:4]!r}...) look like the words "
                         "of one sentence; pass [words] for one pre-split sentence, or [[word] for word in "
                         "words] for one-word texts")
    parsed = [_text_and_spans(item, i) for i, item in enumerate(items)]
    words = [[text[a:b] for a, b in spans] for text, spans in parsed]
    tags = predict_tags(model, tokenizer, words, device=device, max_length=max_length, stride=stride,
                        batch_size=batch_size)
    found = [_entities(text, spans, t) for (text, spans), t in zip(parsed, tags)]
    return found[0] if single else found


def _end_probabilities(model: nn.Module, tokenizer: Any, units_batch: Sequence[Sequence[str]], *,
                       max_length: int | None, stride: int, batch_size: int, device: Device) -> list[list[float]]:
    """P(END) of every candidate unit of every example: lists (N_i,); 0 for a unit never read."""
    probs = [[0.0] * len(units) for units in units_batch]
    kept = [e for e, units in enumerate(units_batch) if units]
    if not kept:
        return probs
    enc = encode_candidates(tokenizer, [units_batch[e] for e in kept],
                            max_length=_max_length(model, tokenizer, max_length), stride=stride)
    windows = [{"input_ids": i, "attention_mask": a} for i, a in zip(enc["input_ids"], enc["attention_mask"])]
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]["input_ids"]))  # little padding per batch
    collate, end = Collator(tokenizer, keep=()), SBD_LABELS.index("END")
    loader = (collate([windows[k] for k in order[s:s + batch_size]]) for s in range(0, len(order), batch_size))
    rows = [row for logits in predict_logits(model, loader, device=device) for row in logits.softmax(-1)[..., end].tolist()]
    for k, row in zip(order, rows):
        e = kept[enc["example_id"][k]]
        for w, p in enc["reads"][k]:
            probs[e][w] = row[p]  # rows: W x (T,) lists
    return probs


def predict_sentence_ends(model: nn.Module, tokenizer: Any, text: str | Sequence[str], *, device: Device,
                          threshold: float = 0.5,
                          max_length: int | None = None, stride: int = 32, batch_size: int = 32) -> list[Any]:
    """Sentence ends (offsets one past a sentence's last non-space character) of one text or of each text.

    The model reads every candidate of ``rmdlib.tokens.sbd_candidates`` (the last
    sub-token of each whitespace-free run, and each line break) and a candidate
    with P(END) > ``threshold`` ends a sentence at its offset, so no end ever
    falls inside a whitespace-free token.  A list of texts is encoded and
    predicted in batches of ``batch_size`` windows together.  The text's last run
    always ends a sentence (as ``rmdlib.baselines.regex_split`` rule 3), so a text
    with no predicted end is one sentence, and whitespace-only text has none.
    Scored with ``rmdlib.metrics.boundary_scores``.  Used in chapters 5 and 8.
    """
    single = isinstance(text, str)
    texts = [text] if single else list(text)
    if not all(isinstance(t, str) for t in texts):
        raise InferError("predict_sentence_ends takes a text or a list of texts (str)")
    candidates = [sbd_candidates(t) for t in texts]
    _check_encodable([units for units, _ in candidates])
    probs = _end_probabilities(model, tokenizer, [units for units, _ in candidates], max_length=max_length,
                               stride=stride, batch_size=batch_size, device=device)
    ends = []
    for t, (_, offsets), p in zip(texts, candidates, probs):
        found = {o for o, q in zip(offsets, p) if q > threshold and o > 0}
        last = len(t.rstrip())
        ends.append(sorted(found | {last}) if last else [])
    return ends[0] if single else ends


def split_sentences(model: nn.Module, tokenizer: Any, text: str, *, device: Device, threshold: float = 0.5,
                    max_length: int | None = None, stride: int = 32, batch_size: int = 32) -> list[str]:
    """Cut ``text`` into sentences; ``"".join(split_sentences(...)) == text`` exactly.

    Each sentence keeps the whitespace that follows it (the first also the
    whitespace before it), and no cut falls inside a whitespace-free token.  Ends
    from :func:`predict_sentence_ends`, cut by ``rmdlib.tokens.split_at``.  Used in chapter 5.
    """
    if not isinstance(text, str):
        raise InferError(f"split_sentences takes one text (str), got {type(text).__name__}")
    return split_at(text, predict_sentence_ends(model, tokenizer, text, device=device, threshold=threshold,
                                                max_length=max_length, stride=stride, batch_size=batch_size))
