"""The LCPO reliability state: eta (one global value or one per annotator) and its update.

    eta_g <- (1 - alpha) * eta_g + alpha * mean_{i in g} w_i      after each optimizer step

The mean runs over the *global* batch: every micro-batch of gradient accumulation adds its
posteriors to `accumulate`, and `step(reduce_sum)` sums the (sum w, count) pairs across
processes before the update, so every rank applies the same update and holds the same eta.
Groups without examples in a step keep their eta. The state is saved in every checkpoint
(`state_dict`) and restored on resume.
"""

from __future__ import annotations

from typing import Callable

import torch

from robalign.losses.lcpo import ETA_MAX


class ReliabilityState:
    def __init__(self, eta_0: float, alpha: float, n_groups: int = 1, eta_min: float = 0.5, update: bool = True,
                 group_names: list[str] | None = None, temperature: float = 1.0):
        self.eta = torch.full((n_groups,), float(eta_0), dtype=torch.float64)
        self.alpha = float(alpha)
        self.eta_min = float(eta_min)
        self.update = bool(update)
        self.group_names = list(group_names) if group_names else ["all"] * n_groups if n_groups == 1 else [str(i) for i in range(n_groups)]
        self.temperature = float(temperature)  # link temperature of the `reference` posterior (fitted by EM)
        self.steps = 0
        self._sum = torch.zeros(n_groups, dtype=torch.float64)
        self._count = torch.zeros(n_groups, dtype=torch.float64)
        self.last_mean_weight = float("nan")

    @property
    def n_groups(self) -> int:
        return self.eta.numel()

    def eta_for(self, group_ids: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """Per-example eta (B,), clamped to [eta_min, 1 - 1e-6], in `like`'s dtype/device."""
        eta = self.eta.clamp(self.eta_min, ETA_MAX).to(device=like.device, dtype=like.dtype)
        if group_ids is None:
            return eta[0].expand(like.shape[0])
        return eta[group_ids.to(like.device).long()]

    def accumulate(self, w: torch.Tensor, group_ids: torch.Tensor | None = None) -> None:
        """Add one micro-batch of posteriors (no gradient)."""
        w = w.detach().to("cpu", torch.float64)
        ids = torch.zeros_like(w, dtype=torch.long) if group_ids is None else group_ids.detach().to("cpu").long()
        self._sum.index_add_(0, ids, w)
        self._count.index_add_(0, ids, torch.ones_like(w))

    def step(self, reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """Apply the EMA update from everything accumulated since the last step (all ranks together)."""
        packed = torch.cat([self._sum, self._count])
        if reduce_sum is not None:
            packed = reduce_sum(packed)
        total, count = packed[: self.n_groups], packed[self.n_groups :]
        self._sum.zero_()
        self._count.zero_()
        if count.sum() > 0:
            self.last_mean_weight = float(total.sum() / count.sum())
        if self.update:
            seen = count > 0
            mean = torch.where(seen, total / count.clamp(min=1), self.eta)
            self.eta = torch.where(seen, (1 - self.alpha) * self.eta + self.alpha * mean, self.eta).clamp(self.eta_min, ETA_MAX)
        self.steps += 1

    def log_metrics(self) -> dict[str, float]:
        if self.n_groups == 1:
            out = {"lcpo/eta": float(self.eta[0])}
        else:
            out = {f"lcpo/eta/{name}": float(e) for name, e in zip(self.group_names, self.eta)}
            out["lcpo/eta"] = float(self.eta.mean())
        out["lcpo/mean_weight"] = self.last_mean_weight
        return out

    def state_dict(self) -> dict:
        """Plain Python values only (checkpoints store it as JSON; floats round-trip exactly)."""
        return {"eta": self.eta.tolist(), "alpha": self.alpha, "eta_min": self.eta_min, "update": self.update,
                "group_names": self.group_names, "temperature": self.temperature, "steps": self.steps,
                "last_mean_weight": self.last_mean_weight}

    def load_state_dict(self, state: dict) -> None:
        eta = torch.as_tensor(state["eta"], dtype=torch.float64).reshape(-1)  # a list (JSON) or a legacy tensor
        if eta.numel() != self.n_groups:
            raise ValueError(f"checkpoint has {eta.numel()} reliability groups, this run {self.n_groups}")
        self.eta = eta.clone()
        self.temperature = float(state["temperature"])
        self.steps = int(state["steps"])
        self.last_mean_weight = float(state.get("last_mean_weight", float("nan")))
