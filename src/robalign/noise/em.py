"""Fit the label reliability before training, by EM on the reference model's raw margins.

Why: the paper's E-step link uses the margin *relative to the reference*, which is exactly 0
at step 0: with z ~ 0 the posterior mean exceeds eta and eta drifts towards 1, so LCPO falls back
to the base loss. The reference model's own raw margin d_i = log pi_ref(chosen_i) - log pi_ref(rejected_i)
is informative from the start: a model that learnt the task ranks most clean pairs the observed way
and most flipped pairs the other way (figures: docs/experiments.md, "Figures behind defaults").
Model of the observed labels:

    P(observed order | d_i) = eta * sigmoid(d_i / T) + (1 - eta) * sigmoid(-d_i / T)

Maximising this marginal likelihood over eta (per group) and the link temperature T by EM:
    E:  w_i = sigmoid(d_i / T + logit(eta_g(i)) [+ logit(prior_i)])
    M:  eta_g = mean_{i in g} w_i;   T = argmax sum_i w_i log sigmoid(d_i/T) + (1-w_i) log sigmoid(-d_i/T)
The T-step is a 1-D logistic regression without intercept, solved by a bounded scalar search
(scipy's `minimize_scalar`) on log(1/T) (Newton without safeguards overshot to 1/T <= 0 and
stalled there on weak margins).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robalign.losses.lcpo import ETA_MAX


@dataclass
class EMFit:
    eta: torch.Tensor  # (G,) reliability per group
    temperature: float  # T of the link sigmoid(d / T)
    log_likelihood: float  # mean log marginal likelihood of the observed labels
    iterations: int
    posterior: torch.Tensor  # (N,) final w


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.special.logit(p, eps=1.0 - ETA_MAX)  # clamped to [1e-6, 1 - 1e-6]


def fit_reliability(margins: torch.Tensor, eta_0: float = 0.9, groups: torch.Tensor | None = None, n_groups: int = 1,
                    prior: torch.Tensor | None = None, eta_min: float = 0.5, iters: int = 200, tol: float = 1e-7,
                    restarts: tuple[float, ...] = (0.6, 0.75), fit_eta: bool = True) -> EMFit:
    """EM for (eta per group, T) on raw margins d (N,); deterministic, float64.

    The likelihood has a flat degenerate optimum (T -> inf, every pair 50/50) that EM started
    at eta_0 = 0.9 can slide into under heavy noise, so it is also started from `restarts`
    and the fit with the highest marginal likelihood wins. ``fit_eta=False`` holds eta at
    exactly eta_0 and fits T alone (`lcpo.init: eta_0`).
    """
    if not fit_eta:
        return _em(margins, eta_0, groups, n_groups, prior, eta_min, iters, tol, fit_eta=False)
    fits = [_em(margins, e, groups, n_groups, prior, eta_min, iters, tol) for e in (eta_0, *restarts)]
    return max(fits, key=lambda f: f.log_likelihood)


def _em(margins, eta_0, groups, n_groups, prior, eta_min, iters, tol, fit_eta: bool = True) -> EMFit:
    d = margins.detach().to(torch.float64)
    g = torch.zeros_like(d, dtype=torch.long) if groups is None else groups.long()
    prior_logit = torch.zeros_like(d) if prior is None else _logit(prior.to(torch.float64))
    eta = torch.full((n_groups,), float(eta_0), dtype=torch.float64)
    scale = d.abs().mean().clamp(min=1e-6)
    inv_t = 1.0 / float(scale)  # start with |d/T| ~ 1
    prev = -float("inf")
    it = 0
    for it in range(1, iters + 1):
        s = d * inv_t
        w = torch.sigmoid(s + _logit(eta.clamp(eta_min, ETA_MAX))[g] + prior_logit)
        count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, g, torch.ones_like(d))
        total = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, g, w)
        if fit_eta:
            eta = torch.where(count > 0, total / count.clamp(min=1), eta).clamp(eta_min, ETA_MAX)
        inv_t = _fit_inverse_temperature(d, w, inv_t)
        ll = _marginal_ll(d, inv_t, eta[g], prior_logit)
        if abs(ll - prev) < tol:
            break
        prev = ll
    w = torch.sigmoid(d * inv_t + _logit(eta.clamp(eta_min, ETA_MAX))[g] + prior_logit)
    return EMFit(eta=eta, temperature=1.0 / inv_t, log_likelihood=_marginal_ll(d, inv_t, eta[g], prior_logit), iterations=it, posterior=w)


def _fit_inverse_temperature(d: torch.Tensor, w: torch.Tensor, start: float, span: float = 6.0) -> float:
    """argmax_a sum_i w_i log sigmoid(a d_i) + (1 - w_i) log sigmoid(-a d_i), a > 0, searched on log a in start * e^[-span, span]."""
    import math

    from scipy.optimize import minimize_scalar

    def neg_q(log_a: float) -> float:
        s = d * math.exp(log_a)
        return -float((w * torch.nn.functional.logsigmoid(s) + (1 - w) * torch.nn.functional.logsigmoid(-s)).sum())

    centre = math.log(start)
    res = minimize_scalar(neg_q, bounds=(centre - span, centre + span), method="bounded", options={"xatol": 1e-8})
    return math.exp(res.x)


def _marginal_ll(d, inv_t, eta_i, prior_logit) -> float:
    # the prior shifts eta's log-odds; marginal P = e' sig(s) + (1 - e') sig(-s)
    e = torch.sigmoid(_logit(eta_i) + prior_logit)
    s = d * inv_t
    p = e * torch.sigmoid(s) + (1 - e) * torch.sigmoid(-s)
    return float(torch.log(p.clamp(min=1e-300)).mean())


#: Likelihood-ratio threshold: chi-square with 2 degrees of freedom (eta, T) at p = 0.05. Falling back
#: is only for fits with no evidence of signal: weak but real signal (a few hundred noisy pairs)
#: scores ~8-20 and keeps the reference posterior.
NO_SIGNAL_LR = 5.99


def is_uninformative(fit: EMFit, threshold: float = NO_SIGNAL_LR) -> bool:
    """True when the fitted model explains the observed labels no better than a coin flip.

    A likelihood-ratio test against "every observed order has probability 1/2":
    2 N (mean log-likelihood - log 1/2) below the chi-square(2) 5% point. Both ways the EM can
    find no signal end there: eta at the floor 0.5, or T -> inf with any eta (every weight then
    equals eta, so LCPO would scale all pairs alike instead of telling clean from flipped)."""
    import math

    n = fit.posterior.numel()
    return 2 * n * (fit.log_likelihood - math.log(0.5)) < threshold
