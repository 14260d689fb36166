"""``LearningToReweight``: per-batch example weights from a one-step look-ahead on the gold set.

Ren et al. (2018), as used by LLMaAA (§5 of ``notes/llmaaa-method.md``): with per-example losses
l_i(θ) and weights ε = 0, take a virtual step θ'(ε) = θ - α Σ_i ε_i ∇l_i(θ), measure the gold-batch
loss L_M(θ'(ε)), and set w_i = max(-∂L_M/∂ε_i, 0), normalized to sum 1 (all zero: skip the step).

Two implementations, same weights up to second-order terms:

* ``exact``: the look-ahead itself with ``torch.func.functional_call`` and a differentiable virtual
  SGD step over *all* parameters (double backward; needs eager attention on CPU). ~3x a plain step.
* ``fast`` (default): the closed form. At ε = 0, ∂L_M(θ'(ε))/∂ε_i = -Σ_g α_g <∇_g L_M, ∇_g l_i>, so
  w_i ∝ max(Σ_g α_g <∇_g L_M, ∇_g l_i>, 0): a gradient-alignment score. We compute it on the
  classifier head and the top encoder layer's feed-forward block only (the parameters whose
  gradients do not pass through attention), reusing the training forward pass: one extra forward +
  partial backward for the gold batch, one partial double backward for all alignments at once.

Relation to the paper: its look-ahead is a *differentiable Adam* step with a fresh state; at ε = 0
Adam's second moment is zero, ``higher`` masks it, and the step reduces to SGD with lr_g / eps_adam,
i.e. the same alignment with group weights α_g = lr_g: the head counts lr_head / lr_encoder (5x with
the paper's 1e-4 / 2e-5) more than the encoder. Both of our variants use α_g = the group's lr.

Measured (``bench/student_noise.py --weight-diagnostic``, CoNLL03, 120 sentences, sim-0.60 teacher):
the sign is right (sentences with exactly correct labels get 1.2-1.4x the mean weight of corrupted
ones) but the separation is weak, and once the student fits the data the hard ``max(., 0)`` zeroes
20-40% of the *correct* sentences as well (vs 40-50% of corrupted). Computing the gold gradient
without dropout or on 32 gold sentences instead of 8 did not separate better. With a few hundred
labels every dropped correct sentence costs F1: with 500 CoNLL03 sentences, 6 epochs, 3 seeds
(``bench/out/student_noise.json``) reweighting lost to plain training at both teacher levels
(0.81: 0.624 vs 0.679; 0.60: 0.604 vs 0.634), where the paper reports it neutral on CoNLL03. The
``exact`` look-ahead is no better (seed 0, exact / fast / plain: sim-0.60 0.567 / 0.611 / 0.652,
sim-0.81 0.644 / 0.645 / 0.685): the
approximation is not what costs F1; the diagnostic above points at the hard zeroing. Hence reweighting
is off by default.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from llmaaa.models.common import autocast
from llmaaa.models.tokenize import IGNORE as IGNORE_INDEX

log = logging.getLogger(__name__)

METHODS = ("fast", "exact")


class ReweightError(ValueError):
    """Reweighting that cannot run (unknown method, no gold examples)."""


def normalize_weights(g: torch.Tensor) -> torch.Tensor:
    """w = max(-g, 0) / sum; all zeros when no example helps (the caller then skips the step).

    A non-finite meta-gradient (an overflow in one example's look-ahead) gives that example no weight: a
    NaN used to zero the whole batch, and an infinity put NaN into the loss and then the parameters."""
    w = torch.clamp(-g, min=0.0)
    w = torch.where(torch.isfinite(w), w, torch.zeros_like(w))
    total = w.sum()
    return w / total if total > 0 else torch.zeros_like(w)


@dataclass
class WeightStats:
    """Running weight distribution over an epoch, for the log and the history."""

    n: int = 0
    zero: int = 0
    skipped_steps: int = 0
    steps: int = 0
    values: list[float] = field(default_factory=list)

    def add(self, w: torch.Tensor) -> None:
        v = w.detach().float().cpu().numpy()
        # Weights are normalized per batch; scale by the batch size so "1.0" means "as in a plain step".
        self.values.extend((v * len(v)).tolist())
        self.n += len(v)
        self.zero += int((v <= 0).sum())
        self.steps += 1
        self.skipped_steps += int(v.sum() <= 0)

    def summary(self) -> dict[str, Any]:
        v = np.asarray(self.values or [0.0])
        return {"n": self.n, "zero": self.zero, "zero_frac": self.zero / max(self.n, 1), "mean": float(v.mean()),
                "std": float(v.std()), "max": float(v.max()), "steps": self.steps, "skipped_steps": self.skipped_steps}


def meta_loss(losses: torch.Tensor, gold: dict[str, torch.Tensor]) -> torch.Tensor:
    """L_M, the gold batch's loss: the mean over its labeled tokens (the paper's), each token once, so a long
    gold sentence weighs more than a short one; for one label per row (RE pairs) the mean over rows.

    ``losses`` are the per-row losses ``example_losses`` gives (a row's mean over its labeled tokens)."""
    labels = gold.get("labels")
    if labels is None or labels.dim() != 2:
        return losses.mean()
    n = (labels != IGNORE_INDEX).sum(1).to(losses.dtype)
    return (losses * n).sum() / n.sum().clamp(min=1.0)


class LearningToReweight:
    """Weights for each training batch against cycling gold batches (the paper's meta set).

    ``model`` is a student exposing ``net``, ``head_prefix``, ``collate`` and ``example_losses``.
    """

    def __init__(self, model, gold_features: Sequence[dict], *, lr: float, head_lr: float, batch_size: int = 8,
                 method: str = "fast", seed: int = 0) -> None:
        if method not in METHODS:
            raise ReweightError(f"unknown reweighting method {method!r}; use one of {', '.join(METHODS)}")
        if not gold_features:
            raise ReweightError("learning-to-reweight needs gold examples (the meta set); give a non-empty gold set")
        self.model, self.method = model, method
        self.gold = list(gold_features)
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.alpha = {n: (head_lr if n.startswith(model.head_prefix) else lr) for n, _ in model.net.named_parameters()}
        self.scope = alignment_scope(model)
        self._gold_iter = self._cycle()

    def _cycle(self):
        for _ in itertools.count():
            order = self.rng.permutation(len(self.gold))
            for k in range(0, len(order), self.batch_size):
                yield [self.gold[i] for i in order[k : k + self.batch_size]]

    def gold_batch(self) -> dict[str, torch.Tensor]:
        return self.model.collate(next(self._gold_iter))

    # -- exact -----------------------------------------------------------------------------
    def exact_grad(self, batch: dict[str, torch.Tensor], gold: dict[str, torch.Tensor]) -> torch.Tensor:
        """∂L_M(θ - α Σ ε_i ∇l_i)/∂ε at ε = 0, with a differentiable virtual SGD step over all parameters."""
        net = self.model.net
        params = {n: p for n, p in net.named_parameters() if p.requires_grad}
        eps = torch.zeros(batch["input_ids"].shape[0], device=batch["input_ids"].device, requires_grad=True)
        with autocast(self.model.device):
            losses = self.model.example_losses(batch, params)
        grads = torch.autograd.grad((eps * losses).sum(), list(params.values()), create_graph=True, allow_unused=True)
        virtual = {n: (p - self.alpha[n] * g if g is not None else p) for (n, p), g in zip(params.items(), grads)}
        with autocast(self.model.device):
            gold_loss = meta_loss(self.model.example_losses(gold, virtual), gold)
        return torch.autograd.grad(gold_loss, eps)[0].detach()

    # -- fast ------------------------------------------------------------------------------
    def fast_grad(self, losses: torch.Tensor, gold: dict[str, torch.Tensor]) -> torch.Tensor:
        """-Σ_g α_g <∇_g L_M, ∇_g l_i> over the alignment scope, reusing the graph of ``losses``."""
        names = [n for n, _ in self.scope]
        ps = [p for _, p in self.scope]
        with autocast(self.model.device):
            gold_loss = meta_loss(self.model.example_losses(gold), gold)
        v = torch.autograd.grad(gold_loss, ps)
        v = [self.alpha[n] * g.detach() for n, g in zip(names, v)]
        u = torch.ones_like(losses, requires_grad=True)
        g = torch.autograd.grad((u * losses).sum(), ps, create_graph=True, retain_graph=True)
        align = sum((gi * vi).sum() for gi, vi in zip(g, v))
        return -torch.autograd.grad(align, u, retain_graph=True)[0].detach()

    def weights(self, batch: dict[str, torch.Tensor], losses: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized weights for ``batch``; ``losses`` (with graph) lets the fast method reuse the forward pass."""
        gold = self.gold_batch()
        if self.method == "exact":
            return normalize_weights(self.exact_grad(batch, gold))
        if losses is None:
            with autocast(self.model.device):
                losses = self.model.example_losses(batch)
        return normalize_weights(self.fast_grad(losses, gold))


def alignment_scope(model) -> list[tuple[str, torch.nn.Parameter]]:
    """The head plus the top encoder layer's non-attention parameters (feed-forward + its LayerNorm).

    Their gradients do not pass back through attention, so the double backward of the fast method
    stays cheap and works with fused (SDPA) attention on CPU. Falls back to the head alone.
    """
    named = [(n, p) for n, p in model.net.named_parameters() if p.requires_grad]
    head = [(n, p) for n, p in named if n.startswith(model.head_prefix)]
    # BERT, RoBERTa, DeBERTa, ELECTRA, DistilBERT name their blocks ``layer.N``; ModernBERT ``layers.N`` (and
    # its attention ``attn``)
    blocks = sorted({(int(part), a) for n, _ in named for a, part in zip(n.split("."), n.split(".")[1:])
                     if a in ("layer", "layers") and part.isdigit()})
    if not blocks:
        return head
    top = "{1}.{0}.".format(*blocks[-1])
    ffn = [(n, p) for n, p in named if top in n and "attention" not in n and "attn" not in n
           and not n.startswith(model.head_prefix)]
    return head + ffn
