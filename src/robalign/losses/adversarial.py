"""Losses of continuous-attack adversarial training (Xhonneux et al., 2024), as pure functions.

Notation: x the harmful prompt, delta the embedding attack, y_h the harmful target, y_r the
refusal, (x_u, y_u) clean utility data. `per_token_logps` are log p(y_t | y_<t, .) of the
completion tokens, (B, T), with a (B, T) 0/1 `mask` of the completion tokens.

C-AdvUL (unlikelihood form), eqn:

    L = w_away * L_away + w_toward * L_toward + w_util * L_util
    L_away   = max(0, c_away - CE(y_h | x + delta))                     pushing stops at CE c_away
    L_toward = max(0, CE(y_r | x + delta) - c_toward)                 stops once the refusal is learnt
    L_util   = CE(y_u | x_u)                                          clean, benign

The hinges are the paper's clipping: without them the away term is unbounded (-log p -> inf)
and dominates; with them a target already at CE >= c_away costs nothing.
Departs from the reference code, which applies each cutoff to the batch's token-mean CE (and
keeps a 0.001 slope past it); robalign applies it per example, so one target pushed past the
cutoff does not stop the push on the others (`adversarial.cutoff_scope: batch` restores it).

C-AdvIPO, eqn (IPO, Azar et al. 2023, with length-normalised log-probs):

    h = [lp(y_r | x + delta) - lp_ref(y_r | x)] - [lp(y_h | x + delta) - lp_ref(y_h | x)]
    L_IPO = (h - 1 / (2 beta))^2,      lp = mean per-token log-prob

The policy sees the attacked prompt, the reference the clean one. `anchor`: the SFT term on the
refusal, CE(y_r | x + delta), that keeps the margin from being met by destroying y_h alone (the
policy then outputs neither the target nor the refusal; `adversarial.anchor_weight: 0` is the paper).
Departs from the reference code in the harmful target's log-prob floor (see `floor_logps`): it
zeroes the policy's tokens below -5 and leaves the reference model's unfloored; robalign holds
them at the floor in both, so a token unlikely under both cancels in the margin
(`adversarial.floor_rule: zero` restores the reference's rule). The reference code also stops
counting refusal tokens already above -toward_cutoff on the chosen side; robalign does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robalign.losses.registry import LossParams, LossSpec, PairLogps, register_loss


def per_token_logps(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal per-token log-probs of `labels` and their mask.

    logits: (B, T, V) for the inputs; labels: (B, T). Returns (logps, mask), each (B, T-1):
    logps[b, t] = log p(labels[b, t+1] | inputs[b, :t+1]); mask 1.0 where labels[b, t+1] != ignore.
    """
    shift_labels = labels[:, 1:]  # (B, T-1)
    mask = (shift_labels != ignore_index).to(torch.float32)
    safe = shift_labels.clamp(min=0)
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return logps * mask, mask


def mean_logps(logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Length-normalised sequence log-prob, (B,)."""
    return (logps * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


CUTOFF_SCOPES = ("example", "batch")
FLOOR_RULES = ("clamp", "zero")


def sequence_ce(summed_logps: torch.Tensor, lengths: torch.Tensor, scope: str = "example") -> torch.Tensor:
    """Mean per-token CE, (B,), from summed log-probs and token counts (B,): each example's (scope
    "example"), or the batch's token mean for every row ("batch")."""
    if scope == "example":
        return -summed_logps / lengths.clamp(min=1.0)
    if scope == "batch":
        ce = -summed_logps.sum() / lengths.sum().clamp(min=1.0)
        return ce.expand(summed_logps.shape[0])
    raise ValueError(f"cutoff scope must be one of {CUTOFF_SCOPES}, got {scope!r}")


def _cross_entropy(logps: torch.Tensor, mask: torch.Tensor, scope: str) -> torch.Tensor:
    return sequence_ce((logps * mask).sum(-1), mask.sum(-1), scope)


def away_loss(logps: torch.Tensor, mask: torch.Tensor, cutoff: float, scope: str = "example") -> torch.Tensor:
    """Unlikelihood on the harmful target, (B,): max(0, cutoff - CE), CE = -mean_t log p_t.

    The target is pushed down until its mean per-token CE reaches `cutoff` nats, then costs
    nothing. Sequence-level on purpose: a per-token hinge (every token until its own CE is 5)
    also pushes down the tokens the refusal shares with the target ("... the secret code"), and
    the refusal degrades with them.
    ``scope="batch"``: the reference code's hinge on the batch's token-mean CE (every row gets it).
    """
    return F.relu(cutoff - _cross_entropy(logps, mask, scope))


def toward_loss(logps: torch.Tensor, mask: torch.Tensor, cutoff: float, scope: str = "example") -> torch.Tensor:
    """Clipped cross-entropy of the refusal, (B,): max(0, CE - cutoff), CE = -mean_t log p_t (``scope`` as in away_loss)."""
    return F.relu(_cross_entropy(logps, mask, scope) - cutoff)


def sft_loss(logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per example (mean over its tokens), (B,)."""
    return -mean_logps(logps, mask)


#: the `adversarial:` keys the unlikelihood loss reads (their defaults: `AdversarialArgs`, the recipe block)
UL_OPTIONS = ("away_cutoff", "toward_cutoff", "away_weight", "toward_weight", "cutoff_scope")


def unlikelihood_loss(pair: PairLogps, z, params: LossParams) -> torch.Tensor:
    """The LOSSES `unlikelihood` entry, (B,): w_away L_away(rejected) + w_toward L_toward(chosen), on summed
    log-probs and lengths (chosen = the refusal, rejected = the harmful target); `params.options` holds every UL_OPTIONS key."""
    pair.need("unlikelihood", "chosen_lengths", "rejected_lengths")
    missing = [k for k in UL_OPTIONS if k not in params.options]
    if missing:
        raise ValueError(f"loss_type 'unlikelihood' needs options {', '.join(missing)}")
    o = params.options
    scope = o["cutoff_scope"]
    away = F.relu(o["away_cutoff"] - sequence_ce(pair.rejected_logps, pair.rejected_lengths, scope))
    toward = F.relu(sequence_ce(pair.chosen_logps, pair.chosen_lengths, scope) - o["toward_cutoff"])
    return o["away_weight"] * away + o["toward_weight"] * toward


def ul_loss(
    away_logps: torch.Tensor, away_mask: torch.Tensor, toward_logps: torch.Tensor, toward_mask: torch.Tensor,
    *, away_cutoff: float = 5.0, toward_cutoff: float = 0.5, away_weight: float = 0.5, toward_weight: float = 0.5,
    cutoff_scope: str = "example",
) -> torch.Tensor:
    """The adversarial part of C-AdvUL per harmful example, (B,): w_away L_away + w_toward L_toward
    (the `unlikelihood` entry on per-token log-probs and masks)."""
    pair = PairLogps((toward_logps * toward_mask).sum(-1), (away_logps * away_mask).sum(-1),
                     chosen_lengths=toward_mask.sum(-1), rejected_lengths=away_mask.sum(-1))
    options = dict(away_cutoff=away_cutoff, toward_cutoff=toward_cutoff, away_weight=away_weight, toward_weight=toward_weight,
                   cutoff_scope=cutoff_scope)
    return unlikelihood_loss(pair, None, LossParams(beta=1.0, options=options))


register_loss(LossSpec(
    "unlikelihood", "C-AdvUL's unlikelihood (Xhonneux et al. 2024): push the rejected answer away until its CE reaches "
    "away_cutoff, pull the chosen one until its CE is below toward_cutoff (settings: the adversarial block).",
    link=lambda p, hp: p.chosen_logps / p.chosen_lengths.clamp(min=1.0) - p.rejected_logps / p.rejected_lengths.clamp(min=1.0),
    base=unlikelihood_loss, needs_reference=False, length_normalised=True, pairwise=False,
    option_keys=tuple(f"adversarial.{k}" for k in UL_OPTIONS)))


def floor_logps(logps: torch.Tensor, mask: torch.Tensor, floor: float | None, rule: str = "clamp") -> torch.Tensor:
    """Per-token log-probs of the harmful target with a floor: a token already that unlikely stops moving the margin.

    ``rule="clamp"`` (robalign): held at `floor` (no gradient below it); the trainer floors the
    reference model's tokens alike, so a token below the floor under both cancels in the margin.
    ``rule="zero"`` (the reference code): set to 0 (no gradient, and it counts as likely in the
    length-normalised mean); the reference code floors the policy only.
    """
    if floor is None:
        return logps
    if rule == "clamp":
        return torch.clamp(logps, min=floor) * mask
    if rule == "zero":
        return logps.masked_fill(logps < floor, 0.0) * mask
    raise ValueError(f"floor rule must be one of {FLOOR_RULES}, got {rule!r}")


def cadv_ipo_loss(
    chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float,
) -> torch.Tensor:
    """C-AdvIPO's IPO on length-normalised log-probs, (B,): (h - 1/(2 beta))^2 with h the log-ratio margin.

    The LOSSES `ipo` entry itself (the log-probs are already per-token means, so no lengths are passed)."""
    from robalign.losses.registry import LossParams, PairLogps
    from robalign.losses.preference import LOSSES

    pair, params = PairLogps(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps), LossParams(beta=beta)
    spec = LOSSES["ipo"]
    return spec.base(pair, None, params)
