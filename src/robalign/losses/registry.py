"""LOSSES: the one table of preference losses. Config choices, validation, the trainer and the
docs all read it; adding a loss is one function pair and one `register_loss` call.

An entry says what the trainer must provide and what the recipe may set:

    link(pair, params) -> z (B,)       logit of "the observed order is right" (LCPO's E-step input)
    base(pair, z, params) -> (B,)      the observed-label loss (`noise_model: none`; LCPO reweights it)
    needs_reference                    the trainer computes reference log-probs (else the ref model is dropped)
    length_normalised                  margins per token (LCPO's `reference` posterior divides by lengths too)
    extra_terms                        terms beside the per-pair loss: "nll" = weight (`nll_key`) * NLL of the chosen
                                       answer, inside the LCPO link (`nll_in_link`: cpo/simpo's cpo_alpha) or
                                       beside it (dpo/ipo/cdpo/rdpo's rpo_alpha, RPO)
    hyper_parameters                   `training:` keys only this loss reads, with their range checks
    fixed_flip_rate                    the loss assumes a known flip rate (cdpo/rdpo): refused with LCPO, which learns it
    pairwise                           the loss is a function of the preference logit z (every DPO-style loss): LCPO can
                                       judge it and `method: preference` trains it; False (unlikelihood) pushes each
                                       response on its own, so only the methods that name it train it

`pair` is a `PairLogps` of (B,) tensors; `params` the run's `LossParams`. Losses are pure
tensor functions (see `robalign.losses.preference` for the built-in ones and their equations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from robalign.errors import UserError


@dataclass(frozen=True)
class PairLogps:
    """Summed response log-probs (B,) of the policy and the reference, and response lengths (B,)."""

    chosen_logps: torch.Tensor
    rejected_logps: torch.Tensor
    ref_chosen_logps: Optional[torch.Tensor] = None
    ref_rejected_logps: Optional[torch.Tensor] = None
    chosen_lengths: Optional[torch.Tensor] = None
    rejected_lengths: Optional[torch.Tensor] = None

    def need(self, loss_type: str, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(f"loss_type {loss_type!r} needs {', '.join(missing)}")


@dataclass(frozen=True)
class LossParams:
    """The scalar hyper-parameters a loss may read (TRL's names: beta, simpo_gamma, label_smoothing)."""

    beta: float
    gamma: float = 0.0  # simpo_gamma
    eps: float = 0.0  # label_smoothing: cdpo/rdpo's fixed flip rate
    nll_weight: float = 0.0  # weight of the "nll" extra term (cpo_alpha); its share of the link
    #: settings a loss reads from a recipe block other than `training:` (unlikelihood: the `adversarial:` block's cutoffs)
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HyperParameter:
    """A `training:` key only some losses read; `check(value)` False -> one line saying `expected`."""

    key: str
    help: str
    default: Optional[float] = None
    check: Optional[Callable[[float], bool]] = None
    expected: str = ""


@dataclass(frozen=True)
class LossSpec:
    name: str
    help: str
    link: Callable[[PairLogps, LossParams], torch.Tensor]
    base: Callable[[PairLogps, torch.Tensor, LossParams], torch.Tensor]
    needs_reference: bool
    length_normalised: bool
    extra_terms: tuple[str, ...] = ()
    hyper_parameters: tuple[HyperParameter, ...] = ()
    fixed_flip_rate: bool = False
    pairwise: bool = True
    #: recipe keys outside `training:` the loss reads through `LossParams.options` (documentation and the docs table)
    option_keys: tuple[str, ...] = ()
    #: training key of the "nll" extra term's weight (TRL CPOConfig's cpo_alpha, DPOConfig's rpo_alpha)
    nll_key: Optional[str] = None
    #: the NLL term is part of the per-pair loss whose link LCPO judges (cpo/simpo); else it stays outside (RPO)
    nll_in_link: bool = True
    meta: dict = field(default_factory=dict)

    def hyper_parameter(self, key: str) -> Optional[HyperParameter]:
        return next((h for h in self.hyper_parameters if h.key == key), None)


LOSSES: dict[str, LossSpec] = {}


def register_loss(spec: LossSpec) -> LossSpec:
    """Add `spec` to LOSSES (a name may be registered once; `unregister_loss` undoes it)."""
    if spec.name in LOSSES:
        raise ValueError(f"loss {spec.name!r} is already registered")
    if "nll" in spec.extra_terms and spec.nll_key is None:
        raise ValueError(f"loss {spec.name!r}: the nll extra term needs nll_key (the training key of its weight)")
    LOSSES[spec.name] = spec
    return spec


def unregister_loss(name: str) -> None:
    LOSSES.pop(name, None)


def get_loss(name: str) -> LossSpec:
    spec = LOSSES.get(name)
    if spec is None:
        raise UserError(f"unknown loss_type {name!r}; valid: {', '.join(LOSSES)}")
    return spec


def loss_only_keys() -> dict[str, tuple[str, ...]]:
    """training key -> the losses that read it (everywhere else it would be silently ignored)."""
    out: dict[str, list[str]] = {}
    for spec in LOSSES.values():
        for hp in spec.hyper_parameters:
            out.setdefault(hp.key, []).append(spec.name)
    # registry order, the loss a key is named after first (cpo_alpha: cpo and simpo)
    return {k: tuple(sorted(v, key=lambda n, k=k: not k.startswith(n + "_"))) for k, v in out.items()}


def markdown_table() -> str:
    """The LOSSES table of docs/architecture.md (a test keeps the two equal)."""
    rows = ["| loss_type | reference | per token | extra terms | its own keys (`training:` unless named) | with LCPO |", "|---|---|---|---|---|---|"]
    for s in LOSSES.values():
        keys = ", ".join([f"`{h.key}`" + (f" ({h.default:g})" if h.default is not None else "") for h in s.hyper_parameters]
                         + [f"`{k}`" for k in s.option_keys]) or "-"
        extra = ", ".join(f"{t} (`{s.nll_key}`, {'in' if s.nll_in_link else 'beside'} the link)" if t == "nll" else t
                          for t in s.extra_terms) or "-"
        lcpo = "refused (fixed flip rate)" if s.fixed_flip_rate else "yes" if s.pairwise else "refused (no preference logit)"
        rows.append(f"| `{s.name}` | {'yes' if s.needs_reference else 'no'} | {'yes' if s.length_normalised else 'no'} | {extra} | "
                    f"{keys} | {lcpo} |")
    return "\n".join(rows)
