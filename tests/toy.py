"""A toy tagging task shared by the training-loop and checkpoint tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

V, D, T = 11, 8, 5  # vocabulary, hidden width, tokens per example of the toy task


class TiedTagger(nn.Module):
    """Embedding -> dropout -> LayerNorm -> Linear tied to the embedding: matrices, vectors, a tie, randomness."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.drop = nn.Dropout(0.3)
        self.norm = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)
        self.out.weight = self.emb.weight  # tied: one tensor under two names

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.drop(self.emb(input_ids))))  # (B, T, V)


def toy_examples(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Label of token x is (3x + 1) mod V; attention_mask has a few padded positions."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (n, T), generator=g)
    mask = (torch.rand(n, T, generator=g) > 0.2).long()
    return [{"input_ids": i, "attention_mask": m, "labels": (3 * i + 1) % V} for i, m in zip(ids, mask)]


def toy_batch(n: int = 4) -> dict[str, torch.Tensor]:
    return {k: torch.stack([e[k] for e in toy_examples(n, 0)]) for k in ("input_ids", "attention_mask", "labels")}


def tagging_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    logits = model(batch["input_ids"])  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten())
    return loss, {"acc": (logits.argmax(-1) == batch["labels"]).float().mean().item()}
