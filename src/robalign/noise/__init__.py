"""LCPO: the NoiseModel the preference trainer calls, its reliability state (eta), its EM fit on
reference margins, and noise diagnostics."""

from robalign.noise.diagnostics import weight_auc
from robalign.noise.em import EMFit, fit_reliability
from robalign.noise.model import NoiseModel
from robalign.noise.state import ReliabilityState

__all__ = ["EMFit", "NoiseModel", "ReliabilityState", "fit_reliability", "weight_auc"]
