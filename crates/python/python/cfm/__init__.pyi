"""Type stubs of the `cfm` package (the closed form of flow matching, from NumPy and PyTorch).

Array arguments accept anything `numpy.asarray` takes (float32 or float64, C or Fortran order;
torch CPU tensors). Results have the float type of the array named in each docstring.
"""

from typing import Literal, NamedTuple, Union, final

import numpy as np
import numpy.typing as npt

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

_ArrayLike = npt.ArrayLike
_FloatArray = Union[npt.NDArray[np.float32], npt.NDArray[np.float64]]
_Times = Union[float, npt.ArrayLike]
_Solver = Literal["euler", "heun", "rk4", "dopri5"]

COPY_THRESHOLD: float
"""Default threshold of the ratio copy test, 1/3."""

@final
class ClosedForm:
    """The closed-form velocity field of a training set (Proposition 1).

    ``u*(x, t) = sum_i lambda_i(x, t) (x_i - x) / (1 - t)`` with
    ``lambda(x, t) = softmax_i(-||x - t x_i||^2 / (2 (1 - t)^2))``. Copies ``train`` (n x d)
    once; build it once and call :meth:`velocity` as often as needed.
    """

    def __new__(cls, train: _ArrayLike) -> ClosedForm: ...
    @property
    def n(self) -> int:
        """Number of training points."""
    @property
    def dim(self) -> int:
        """Dimension ``d``."""
    def velocity(self, x: _ArrayLike, t: _Times) -> _FloatArray:
        """``u*(x_b, t_b)`` for the rows of ``x`` (B x d) at ``t`` (scalar, or B times in
        ``[0, 1)``); B x d, of the dtype of ``x``."""
    def sample(
        self,
        n: int,
        steps: int = 100,
        solver: _Solver = "euler",
        seed: int = 0,
        rtol: float = 1e-5,
        atol: float = 1e-5,
        t_max: float = 0.999,
    ) -> _FloatArray:
        """``n`` samples of the ODE ``dx/dt = u*(x, t)`` from ``N(0, I)`` noise drawn from
        ``seed`` (as ``cfm sample --train``); n x d, of the dtype of ``train``. ``dopri5`` uses
        ``rtol``, ``atol`` and stops at ``t_max < 1``; the fixed-step solvers use ``steps``."""

def velocity(train: _ArrayLike, x: _ArrayLike, t: _Times) -> _FloatArray:
    """``ClosedForm(train).velocity(x, t)``: B x d, of the dtype of ``x``."""

def sample(
    train: _ArrayLike,
    n: int,
    steps: int = 100,
    solver: _Solver = "euler",
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    t_max: float = 0.999,
) -> _FloatArray:
    """``ClosedForm(train).sample(n, ...)``: n x d, of the dtype of ``train``."""

def efm_target(
    x: _ArrayLike,
    t: _Times,
    x1: npt.ArrayLike,
    train: _ArrayLike,
    m: int,
    mode: Literal["official", "paper", "biased"] = "official",
    *,
    seed: int,
) -> _FloatArray:
    """The EFM target ``u*_M(x_t, t)`` (eqs. 7-8) at the rows ``x`` = ``x_t`` (B x d), whose
    generating training points are ``train[x1]`` (``x1``: B integer indices); B x d, of the
    dtype of ``x``. References from ``seed``: ``"paper"`` x1 plus M - 1 distinct others per
    sample; ``"official"`` the minibatch x1 plus M shared distinct extras (B + M); ``"biased"``
    M uniform draws ignoring x1."""

class Memorization(NamedTuple):
    """Per-sample distances to the training set and the ratio copy test."""

    d1: npt.NDArray[np.float64]
    d2: npt.NDArray[np.float64]
    ratio: npt.NDArray[np.float64]
    copy: npt.NDArray[np.bool_]
    nearest: npt.NDArray[np.int64]
    @property
    def fraction_memorized(self) -> float: ...

def memorization(train: _ArrayLike, samples: _ArrayLike, threshold: float = ...) -> Memorization:
    """Exact nearest and second-nearest training distances of each sample, ``d1 / d2`` and
    ``copy = d1 / d2 < threshold``."""

def frechet(a: _ArrayLike, b: _ArrayLike) -> float:
    """Fréchet distance between Gaussian fits of the rows of ``a`` and ``b``."""

def energy(a: _ArrayLike, b: _ArrayLike) -> float:
    """Energy distance ``2 E||X - Y|| - E||X - X'|| - E||Y - Y'||``."""
