"""`NoiseModel`: LCPO as one object the preference trainer calls.

It owns everything LCPO adds to a training run: the reliability state eta (one value or one per
annotator) and the link temperature T, the fit before training (EM on the reference model's raw
margins, `robalign.noise.em`, with the fall-back to the implicit posterior when those margins
carry no signal), the E-step posterior of each pair, the M-step loss, the accumulation of
posteriors over micro-batches and their all-reduce at each optimizer step, the `lcpo/*` metrics
and the state saved in checkpoints. The formulas are the public pure functions of
`robalign.losses.lcpo` and `robalign.noise`; the trainer supplies log-probs and the all-reduce.

Posterior (`lcpo.posterior`):
- `implicit`: w = sigmoid(z + logit(eta) [+ logit(prior)]) on the loss's own link z (the paper);
- `reference`: the same on the raw margin log pi(chosen) - log pi(rejected) (per token for
  length-normalised losses) divided by T, fitted with eta on the reference model's margins.
M-step (`lcpo.m_step`): `soft_label` = BCE(link, w) (the paper), `reweight` = w * base loss.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from dataclasses import replace
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from robalign.losses.lcpo import lcpo_posterior, lcpo_reweighted_loss
from robalign.noise.diagnostics import weight_auc
from robalign.noise.em import fit_reliability, is_uninformative
from robalign.noise.state import ReliabilityState

#: Debugging aid, justified by the multi-process test: only rank 0 logs metrics, so this is the one
#: way to see that every rank holds the same eta after every step. DIR/eta_rank<i>.jsonl per rank.
TRACE_ENV = "ROBALIGN_LCPO_TRACE"


class NoiseModel:
    """LCPO for one run (see the module docstring). `args` is the recipe's `lcpo:` block (LCPOArgs)."""

    def __init__(self, args, *, length_normalised: bool, group_names: Optional[list[str]] = None):
        self.args = args
        self.length_normalised = length_normalised
        self.state = ReliabilityState(args.eta_0, args.alpha, n_groups=len(group_names) if group_names else 1, eta_min=args.eta_min,
                                      update=args.update, group_names=group_names)
        self.fit: Optional[dict] = None  # summary of the reference fit (eta, T, likelihood, AUC, fallback)
        self._diag = defaultdict(list)  # (w, flipped) since the last log, for lcpo/weight_auc

    # ----- state ---------------------------------------------------------------------------
    @property
    def eta(self) -> torch.Tensor:
        return self.state.eta

    @property
    def temperature(self) -> float:
        return self.state.temperature

    @property
    def n_groups(self) -> int:
        return self.state.n_groups

    def state_dict(self) -> dict:
        return self.state.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.state.load_state_dict(state)

    # ----- before training -----------------------------------------------------------------
    def raw_margin(self, chosen_logps, rejected_logps, chosen_lengths, rejected_lengths) -> torch.Tensor:
        """log pi(chosen) - log pi(rejected) (per token for length-normalised losses): the `reference` E-step input."""
        if self.length_normalised:
            return chosen_logps / chosen_lengths.clamp(min=1) - rejected_logps / rejected_lengths.clamp(min=1)
        return chosen_logps - rejected_logps

    def fit_reference(self, margins: torch.Tensor, groups=None, prior=None, flipped=None, log: Callable[..., None] = print) -> None:
        """EM for eta and T on the reference model's raw margins (N,), before training.

        Rule: reference margins without signal would halve every pair's weight, so the fit then falls
        back to the paper's implicit posterior from the policy's own margins, starting from eta_0.
        """
        a = self.args
        fit = fit_reliability(margins, a.eta_0, groups, self.n_groups, prior, a.eta_min, fit_eta=a.resolved_init == "fit")
        self.state.eta = fit.eta.clone()
        self.state.temperature = fit.temperature
        self.fit = {"eta": fit.eta.tolist(), "temperature": fit.temperature, "log_likelihood": fit.log_likelihood,
                    "iterations": fit.iterations}
        if flipped is not None:
            self.fit["weight_auc"] = weight_auc(fit.posterior, flipped)
        auc = f", posterior AUC {self.fit['weight_auc']:.3f}" if "weight_auc" in self.fit else ""
        log(f"lcpo: EM on reference margins: eta={[round(e, 4) for e in fit.eta.tolist()]} T={fit.temperature:.4g} "
            f"({fit.iterations} iterations){auc}")
        if is_uninformative(fit):
            self.args = replace(self.args, posterior="implicit")
            self.state.eta.fill_(a.eta_0)
            self.state.temperature = 1.0
            self.fit["fallback"] = "implicit"
            log(f"lcpo: warning: the reference margins carry no signal on these pairs (EM eta={fit.eta.mean():.3f}, "
                f"T={fit.temperature:.3g}, likelihood no better than a coin flip{auc}); falling back to lcpo.posterior=implicit "
                f"with eta_0={a.eta_0} (set lcpo.posterior: implicit to skip the reference fit)", file=sys.stderr)

    # ----- E- and M-step -------------------------------------------------------------------
    def posterior(self, link: torch.Tensor, pol: dict, group_ids=None, prior=None) -> torch.Tensor:
        """w (B,), no gradient: P(observed label correct) under the current eta."""
        eta = self.state.eta_for(group_ids, link)
        if self.args.posterior == "implicit":
            return lcpo_posterior(link, eta, prior)
        raw = self.raw_margin(pol["chosen_logps"], pol["rejected_logps"], pol["chosen_lengths"], pol["rejected_lengths"])
        return lcpo_posterior(raw / self.state.temperature, eta, prior)

    @property
    def weights_extra_terms(self) -> bool:
        """Under `reweight` the extra terms (the chosen answer's NLL) are weighted by w; under `soft_label`
        they live inside the link (the paper's general link) and are not added beside it."""
        return self.args.m_step == "reweight"

    def loss(self, link: torch.Tensor, base: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The M-step's per-example loss (B,)."""
        if self.args.m_step == "soft_label":
            return F.binary_cross_entropy_with_logits(link, w, reduction="none")
        return lcpo_reweighted_loss(base, w)

    # ----- once per micro-batch / optimizer step -------------------------------------------
    def accumulate(self, w: torch.Tensor, group_ids=None, flipped_all=None, w_all=None) -> None:
        """Add a micro-batch's posteriors; `w_all`/`flipped_all` (gathered over ranks) feed lcpo/weight_auc."""
        self.state.accumulate(w, group_ids)
        if flipped_all is not None and w_all is not None:
            self._diag["w"].append(w_all.detach().cpu())
            self._diag["flipped"].append(flipped_all.detach().cpu())

    def step(self, reduce_sum: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, *, global_step: int = 0, rank: int = 0) -> None:
        """The EMA update of eta from the global batch: `reduce_sum` all-reduces (sum w, count) over ranks."""
        self.state.step(reduce_sum)
        trace = os.environ.get(TRACE_ENV)
        if trace:
            os.makedirs(trace, exist_ok=True)
            with open(os.path.join(trace, f"eta_rank{rank}.jsonl"), "a") as fh:
                fh.write(json.dumps({"step": global_step, "eta": self.state.eta.tolist(), "mean_weight": self.state.last_mean_weight}) + "\n")

    def metrics(self) -> dict[str, float]:
        """lcpo/eta[/group], lcpo/mean_weight, lcpo/temperature (reference posterior), lcpo/weight_auc (known flips)."""
        out = self.state.log_metrics()
        if self.args.posterior == "reference":
            out["lcpo/temperature"] = self.state.temperature
        if self._diag["w"]:
            out["lcpo/weight_auc"] = weight_auc(torch.cat(self._diag["w"]), torch.cat(self._diag["flipped"]))
        self._diag.clear()
        return out
