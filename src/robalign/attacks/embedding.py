"""Continuous embedding attack: a perturbation delta on the input embeddings of the prompt.

Xhonneux et al. (2024), "Efficient Adversarial Training in LLMs with Continuous Attacks":

    delta_0 = 0
    delta_{k+1} = Proj_{||delta_t|| <= eps} ( delta_k - alpha * sign( grad_delta L_target(e(x) + delta_k) ) )

where e(x) are the input embeddings, L_target is the cross-entropy of a target completion
(the harmful behaviour) given the perturbed prompt, the projection is per token (each row of
delta lies in its own L2 or Linf ball) and the last iterate is returned. Training and
evaluation use the same attack.

Why the defaults differ from the paper's numbers: eps is relative to the mean L2 norm of the
embedding rows of tokens actually *used* (untrained rows of a padded vocabulary would dilute the
mean and shrink every budget), and the step is
eps_abs / 64 by default because a signed step moves a token by alpha * sqrt(d): alpha = eps/4
overshoots the ball on the first step and the attack then only bounces on its surface.

Parameter gradients: the attack freezes every parameter (requires_grad False) for its own
forward/backward passes and restores the flags afterwards, so `.grad` of the model's
parameters is never touched (the reference code once leaked attack gradients into the LoRA
weights). Only delta, a leaf created here, receives a gradient. This also works under
re-entrant gradient checkpointing, where `torch.autograd.grad(..., inputs=...)` does not.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterable, Literal, Optional

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


@dataclass
class AttackResult:
    """What an attack returns. Tensors are detached.

    delta: (B, T, D) float32 perturbation (zero outside the perturbed positions).
    target_loss_before / target_loss_after: (B,) mean target cross-entropy per token, clean and
        at the returned delta (`after` is None when `final_loss=False`).
    losses: per-step mean over the batch of the target loss, steps 0..K-1 (before each update).
    """

    delta: torch.Tensor
    target_loss_before: torch.Tensor
    target_loss_after: Optional[torch.Tensor]
    losses: list[float] = field(default_factory=list)
    epsilon_abs: float = 0.0
    step_size: float = 0.0

    def metrics(self, prefix: str = "adv/") -> dict[str, float]:
        """Scalar summaries, named as logged in metrics.jsonl (`adv/*`)."""
        norms = self.delta.norm(dim=-1)  # (B, T)
        nonzero = norms[norms > 0]
        out = {
            f"{prefix}target_ce_clean": float(self.target_loss_before.mean()),
            f"{prefix}delta_norm": float(nonzero.mean()) if nonzero.numel() else 0.0,
            f"{prefix}delta_norm_max": float(norms.max()) if norms.numel() else 0.0,
            f"{prefix}epsilon_abs": self.epsilon_abs,
        }
        if self.target_loss_after is not None:
            out[f"{prefix}target_ce_attacked"] = float(self.target_loss_after.mean())
        return out


def mean_embedding_norm(model, token_ids: Iterable[int] | torch.Tensor | None = None) -> float:
    """Mean L2 norm of the input-embedding rows of `token_ids` (all rows when None).

    Pass the ids of tokens the data actually uses: the unused rows of a padded vocabulary keep
    their (smaller) initial norm and would make a relative epsilon too small.
    """
    weight = model.get_input_embeddings().weight.detach()
    if token_ids is not None:
        ids = torch.as_tensor(token_ids if torch.is_tensor(token_ids) else list(token_ids), dtype=torch.long)
        weight = weight[torch.unique(ids.flatten()).to(weight.device)]
    return float(weight.float().norm(dim=-1).mean())


def target_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example mean cross-entropy of the labelled tokens, shape (B,).

    logits: (B, T, V) for the inputs; labels: (B, T) with IGNORE_INDEX outside the target.
    Position t predicts labels[t + 1] (the usual causal shift).
    """
    shift_logits = logits[:, :-1].float()  # (B, T-1, V)
    shift_labels = labels[:, 1:]  # (B, T-1)
    per_token = F.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=IGNORE_INDEX, reduction="none")  # (B, T-1)
    mask = (shift_labels != IGNORE_INDEX).float()
    return (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def project(delta: torch.Tensor, epsilon: float, norm: str) -> torch.Tensor:
    """Per-token projection onto the ball of radius `epsilon`: delta (B, T, D) -> (B, T, D)."""
    if norm == "l2":
        norms = delta.norm(dim=-1, keepdim=True)  # (B, T, 1)
        return delta * torch.clamp(epsilon / norms.clamp(min=1e-12), max=1.0)
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    raise ValueError(f"unknown norm {norm!r}; expected 'l2' or 'linf'")


@contextlib.contextmanager
def frozen_parameters(model):
    """Set requires_grad False on every parameter; restore the exact flags on exit."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


@dataclass
class EmbeddingAttack:
    """Signed-gradient embedding attack with a per-token norm ball (see the module docstring).

    steps: K >= 1 iterations. epsilon: radius relative to `embedding_norm` (the mean embedding
    norm of used tokens, see `mean_embedding_norm`). step_size: absolute alpha; None = eps_abs/64.
    norm: "l2" | "linf". `embedding_norm` must be set (by the caller, once per model) before use.
    """

    steps: int = 10
    epsilon: float = 0.05
    step_size: Optional[float] = None
    norm: Literal["l2", "linf"] = "l2"
    embedding_norm: Optional[float] = None

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {self.epsilon}")
        if self.step_size is not None and not self.step_size > 0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        if self.norm not in ("l2", "linf"):
            raise ValueError(f"norm must be 'l2' or 'linf', got {self.norm!r}")

    @property
    def epsilon_abs(self) -> float:
        if self.embedding_norm is None:
            raise ValueError("EmbeddingAttack.embedding_norm is not set: call mean_embedding_norm(model, used_ids) first")
        return self.epsilon * self.embedding_norm

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else self.epsilon_abs / 64.0

    def __call__(
        self,
        model,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        perturb_mask: torch.Tensor,
        position_ids: Optional[torch.Tensor] = None,
        final_loss: bool = True,
    ) -> AttackResult:
        """Find delta that lowers the target's loss.

        input_ids, attention_mask: (B, T) prompt + target completion (right or left padded).
        labels: (B, T) target token ids, IGNORE_INDEX elsewhere (the loss the attack lowers).
        perturb_mask: (B, T) bool, positions that receive delta (the prompt tokens).
        position_ids: (B, T) or None; pass them with left padding (see attacks.batch.position_ids).
        final_loss: run one more forward (no grad) to report the target loss at the returned delta.
        The model's train/eval mode is left as the caller set it (dropout stays as in training).
        """
        eps, alpha = self.epsilon_abs, self.alpha
        embed = model.get_input_embeddings()
        with torch.no_grad():
            clean = embed(input_ids).detach()  # (B, T, D)
        dtype = clean.dtype
        mask = (perturb_mask.bool() & attention_mask.bool()).unsqueeze(-1).to(torch.float32)  # (B, T, 1)
        delta = torch.zeros_like(clean, dtype=torch.float32)
        losses: list[float] = []
        loss_before = None
        with frozen_parameters(model), torch.enable_grad():
            for _ in range(self.steps):
                delta.requires_grad_(True)
                inputs = (clean.float() + delta * mask).to(dtype)
                logits = model(inputs_embeds=inputs, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits
                per_example = target_loss(logits, labels)  # (B,)
                if loss_before is None:
                    loss_before = per_example.detach()
                losses.append(float(per_example.detach().mean()))
                # sum, not mean: each example's gradient is its own (the sign ignores scale anyway)
                (grad,) = _grad(per_example.sum(), delta)
                with torch.no_grad():
                    delta = project(delta - alpha * grad.sign(), eps, self.norm) * mask
                del logits, per_example, grad
        after = None
        if final_loss:
            with torch.no_grad():
                inputs = (clean.float() + delta).to(dtype)
                logits = model(inputs_embeds=inputs, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits
                after = target_loss(logits, labels)
        return AttackResult(delta.detach(), loss_before, after, losses, epsilon_abs=eps, step_size=alpha)

    def perturbed_embeddings(self, model, input_ids: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """e(x) + delta in the model's dtype, *with* the graph of the embedding layer, so a
        training loss through it trains the embeddings too when they are trainable."""
        clean = model.get_input_embeddings()(input_ids)
        return clean + delta.to(clean.dtype)


def _grad(loss: torch.Tensor, delta: torch.Tensor):
    """d loss / d delta. Parameters are frozen, so `backward` reaches only delta; `backward`
    (not autograd.grad with inputs=) keeps re-entrant gradient checkpointing working."""
    if delta.grad is not None:
        delta.grad = None
    loss.backward()
    grad = delta.grad
    if grad is None:  # e.g. a model whose forward ignores inputs_embeds: say so, never attack with zeros
        raise RuntimeError("the target loss did not reach the embedding perturbation: does the model use inputs_embeds?")
    return (torch.nan_to_num(grad),)


__all__ = ["AttackResult", "EmbeddingAttack", "IGNORE_INDEX", "frozen_parameters", "mean_embedding_norm", "project", "target_loss"]
