"""LCPO reliability state (eta), its EM fit on reference margins, and noise diagnostics."""

from robalign.noise.diagnostics import weight_auc
from robalign.noise.em import EMFit, fit_reliability
from robalign.noise.state import ReliabilityState

__all__ = ["EMFit", "ReliabilityState", "fit_reliability", "weight_auc"]
