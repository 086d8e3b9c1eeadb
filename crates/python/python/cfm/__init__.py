"""The closed form of flow matching from NumPy and PyTorch.

Bindings of the Rust crate ``cfm-core`` (Bertrand et al., *On the Closed-Form of Flow
Matching*, NeurIPS 2025):

- :class:`ClosedForm`, :func:`velocity`: the optimal velocity ``u*(x, t)`` of Proposition 1,
  accurate up to ``t -> 1`` (exact recomputation and a float64 fallback where float32 is not);
- :func:`efm_target`: the empirical flow matching target ``u*_M`` (eqs. 7-8) with the paper's or
  the official code's reference sets, or the biased variant of Proposition 2;
- :func:`sample`: closed-form ODE samples (the same as ``cfm sample --train`` for one seed);
- :func:`memorization`: certified exact nearest and second-nearest training distances and the
  ratio copy test ``d1 / d2 < 1/3``;
- :func:`frechet`, :func:`energy`: Fréchet and energy distances between two sample sets.

Arrays are anything ``numpy.asarray`` accepts (torch CPU tensors included), float32 or float64,
C- or Fortran-ordered, one point per row. Results are float32 for float32 inputs and float64
for float64 inputs; distances are float64. Bad input raises ``ValueError``.
"""

from typing import NamedTuple

import numpy as np

from ._core import COPY_THRESHOLD, ClosedForm, efm_target, energy, frechet, sample, velocity
from ._core import memorization as _memorization

__all__ = [
    "COPY_THRESHOLD",
    "ClosedForm",
    "Memorization",
    "efm_target",
    "energy",
    "frechet",
    "memorization",
    "sample",
    "velocity",
]

class Memorization(NamedTuple):
    """Per-sample result of :func:`memorization`, one entry per generated sample."""

    d1: np.ndarray
    """Distance to the nearest training point (float64)."""
    d2: np.ndarray
    """Distance to the second-nearest training point (float64)."""
    ratio: np.ndarray
    """``d1 / d2``, and 0 where ``d1 = 0`` (float64)."""
    copy: np.ndarray
    """``ratio < threshold``: the sample copies its nearest training point (bool)."""
    nearest: np.ndarray
    """Index of the nearest training point (int64)."""

    @property
    def fraction_memorized(self) -> float:
        """Fraction of the samples flagged as copies."""
        return float(np.mean(self.copy))


def memorization(train, samples, threshold: float = COPY_THRESHOLD) -> Memorization:
    """Exact nearest-neighbour distances of ``samples`` (m x d) to ``train`` (n x d, n >= 2).

    ``d1`` and ``d2`` are the distances to the nearest and second-nearest training points,
    certified exact (float32 expansion with an error bound, exact recomputation where the bound
    is not tight enough); a sample is a copy when ``d1 / d2 < threshold`` (in ``(0, 1]``).
    """
    return Memorization(*_memorization(train, samples, threshold))
