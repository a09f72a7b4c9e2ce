r"""Numpy inference of a neural surrogate of the profiled likelihood ratios of one workspace.

A :class:`SurrogateNetwork` maps the signal yields per signal region, :math:`s = (s_1, \dots, s_N)`
(events, :math:`s_i \ge 0`), to the four numbers

.. math::

    q_v(s) = -2 \ln \frac{L_v(s, \hat{\hat\theta}(s))}{L_v(0, \hat{\hat\theta}(0))},
    \qquad v \in {\tt VARIANTS} = (\text{observed}, \text{apriori}, \text{asimov\_observed},
    \text{asimov\_apriori}),

with the nuisance parameters θ profiled (``"apriori"``: the expected background as data; the two
``asimov_*`` variants: the Asimov data of the background-only fit to the observed / a-priori data;
see :mod:`nextsm.likelihoods.base`).  ``q`` may be negative for ``"observed"`` (a signal that fits an
excess).

Network
-------
With :math:`c` = ``s_scale``, :math:`(m, \sigma)` = ``(x_mean, x_std)`` (per input) and
:math:`(\mu, \tau)` = ``(y_mean, y_std)`` (per output), one member computes

.. math::

    x_i &= \frac{\ln(1 + s_i / c_i) - m_i}{\sigma_i}, \\
    h^{(0)} &= x, \qquad h^{(l)} = \varphi\big(h^{(l-1)} W_l + b_l\big) \quad (l = 1, \dots, L-1), \\
    z &= h^{(L-1)} W_L + b_L, \qquad f_v(s) = \mu_v + \tau_v\, z_v(s), \\
    q_v(s) &= f_v(s) - f_v(0) = \tau_v \big[z_v(s) - z_v(0)\big],

with :math:`W_l` of shape ``(in, out)`` (row vectors times matrices, the transpose of
``torch.nn.Linear.weight``).  The difference construction makes :math:`q(0) = 0` by construction, so
:math:`\mu` cancels (it is stored so that :math:`f` is the de-standardised regression output).
:math:`z(0)` is computed once per member; hypotheses with :math:`s = 0` exactly get
:math:`q = 0` directly (their :math:`z(s)` *is* :math:`z(0)`), so :math:`q(0) = 0` holds bit for bit
even where a BLAS rounds one row of a batch differently from another.  The log transform is close to linear below :math:`c_i` and
compresses large yields.

Poisson baseline (optional)
---------------------------
With ``baseline_n`` and ``baseline_b`` (shape ``(4, N)``: per variant, the data :math:`n_{vi}` and the
background-only fit's expectation :math:`b_{vi}` in the bin of region i), the network learns only what the
nuisance parameters and the correlations add to the likelihood of N independent Poisson counts:

.. math::

    q_v(s) = 2 \sum_i \Big[s_i - n_{vi} \ln\Big(1 + \frac{s_i}{b_{vi}}\Big)\Big]
             + \tau_v \big[z_v(s) - z_v(0)\big].

The first term is exact for a workspace without systematic uncertainties, grows with the signal as the true q
does, and makes far-excluded hypotheses cheap to get right (what a plain MLP on many regions does worst).

Inputs that are control regions (``includeCRs``) are left out of the sum: a signal there is mostly absorbed
by the fitted background normalisations, so its independent-Poisson q would be far too large (ATLAS-SUSY-2018-16:
1 144 for a true q of 0.9).  A region is left out by storing :math:`n_{vi} = b_{vi} =` :data:`EXCLUDED_B`
(10¹⁵), for which the term is :math:`s_i^2/b + O(s^3/b^2)`, i.e. zero to ≲10⁻⁹ for any trained yield.

An *ensemble* of :math:`K` members (equal architecture, shared transforms) returns the mean
:math:`\bar q = \frac1K \sum_k q^{(k)}` and, with ``return_std=True``, the spread
:math:`\big[\frac1K \sum_k (q^{(k)} - \bar q)^2\big]^{1/2}` (zero for :math:`K = 1`), a rough estimate
of the network's uncertainty.

Activations
-----------
``"silu"`` (:math:`x\,\mathrm{sigmoid}(x)`, the default), ``"elu"`` (α = 1) and ``"softplus"``
(:math:`\ln(1 + e^x)`).  SiLU is the default because it is infinitely differentiable, so q(s) and its
gradient and curvature in s (used by fits of μ and Hesse errors) are smooth, while it trains as fast
as ReLU-like units; ELU has a jump in its second derivative at 0 (kinks in the curvature of q), and
softplus nets, whose units are all positive, tend to train more slowly.

Validity domain
---------------
:class:`SurrogateDomain` holds the largest yield per region seen in training (``s_max``) and the
largest label per variant (``q_max``).  A hypothesis is *inside* when every :math:`s_i` is finite and
:math:`0 \le s_i \le s_{\max,i}` (:meth:`SurrogateNetwork.check_domain`).  Predictions above
``q_max`` are extrapolations in q; they are returned as they are (compare with ``domain.q_max`` to
flag them).  The box is necessary, not sufficient: large yields in several regions at once may lie
beyond anything the training set held, and ``q > q_max`` is then the warning sign.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.surrogates.errors import SurrogateDomainError, SurrogateFormatError

__all__ = [
    "ACTIVATIONS",
    "EXCLUDED_B",
    "MLP",
    "VARIANTS",
    "Activation",
    "Outside",
    "SurrogateDomain",
    "SurrogateNetwork",
    "activate",
    "poisson_q",
]

Activation = Literal["silu", "elu", "softplus"]
Outside = Literal["raise", "nan", "ignore"]
ACTIVATIONS: tuple[Activation, ...] = ("silu", "elu", "softplus")
VARIANTS: tuple[str, ...] = ("observed", "apriori", "asimov_observed", "asimov_apriori")
#: hypotheses per block of the forward pass (bounds memory: 4096 × 128 floats = 4 MiB per layer)
_CHUNK = 4096
#: ``baseline_n = baseline_b`` of a region left out of the Poisson baseline (module docstring)
EXCLUDED_B = 1e15


def activate(name: Activation, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Apply the activation ``name`` to ``x`` *in place* and return ``x``.

    ``silu``: :math:`x / (1 + e^{-x})`; ``elu``: :math:`x` for :math:`x > 0`, else :math:`e^x - 1`;
    ``softplus``: :math:`\\ln(1 + e^x) = \\max(x, 0) + \\ln(1 + e^{-|x|})`.  No overflow warnings.
    """
    if name == "silu":
        with np.errstate(over="ignore"):  # exp(-x) = inf for x < -709: x / inf = -0, the limit
            t = np.negative(x)
            np.exp(t, out=t)
        t += 1.0
        x /= t
    elif name == "elu":
        t = np.minimum(x, 0.0)
        np.expm1(t, out=t)
        np.maximum(x, 0.0, out=x)
        x += t
    elif name == "softplus":
        t = np.abs(x)
        np.negative(t, out=t)
        np.exp(t, out=t)
        np.log1p(t, out=t)
        np.maximum(x, 0.0, out=x)
        x += t
    else:
        raise SurrogateFormatError(
            f"unknown activation {name!r}; expected one of {ACTIVATIONS}", field="activation"
        )
    return x


def poisson_q(s: NDArray[np.float64], n: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":math:`2 \sum_i [s_i - n_{vi} \ln(1 + s_i / b_{vi})]`, shape ``(H, V)``, for ``s`` (H, N) and ``n``, ``b`` (V, N):
    q of N independent Poisson counts with known backgrounds (the baseline of the module docstring)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.log1p(s[:, None, :] / b[None, :, :])
        return 2.0 * (s.sum(axis=1)[:, None] - np.einsum("hvi,vi->hv", ratio, n))


def _frozen(values: ArrayLike, *, ndim: int, field_name: str) -> NDArray[np.float64]:
    """``values`` as a read-only float64 copy with ``ndim`` dimensions and finite entries."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SurrogateFormatError(f"not an array of numbers ({exc})", field=field_name) from None
    if arr.ndim != ndim:
        raise SurrogateFormatError(f"has shape {arr.shape}, expected {ndim} dimension(s)", field=field_name)
    if not np.all(np.isfinite(arr)):
        raise SurrogateFormatError("contains non-finite values", field=field_name)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class MLP:
    """One member: a fully connected network with activation after every layer but the last.

    Attributes
    ----------
    weights:
        :math:`W_1, \\dots, W_L`, shapes ``(in, out)``; ``in`` of the first is N, ``out`` of the last 4.
    biases:
        :math:`b_1, \\dots, b_L`, shapes ``(out,)``.
    """

    weights: tuple[NDArray[np.float64], ...]
    biases: tuple[NDArray[np.float64], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(np.asarray(w, dtype=np.float64) for w in self.weights))
        object.__setattr__(self, "biases", tuple(np.asarray(b, dtype=np.float64) for b in self.biases))

    def _validated(self, k: int) -> MLP:
        """A frozen copy, with shapes checked; errors name ``member{k}.weight{l}`` / ``.bias{l}``."""
        if not self.weights or len(self.weights) != len(self.biases):
            raise SurrogateFormatError(
                f"{len(self.weights)} weight matrices and {len(self.biases)} bias vectors; expected the same "
                "number, at least one",
                field=f"member{k}",
            )
        weights = tuple(
            _frozen(w, ndim=2, field_name=f"member{k}.weight{i}") for i, w in enumerate(self.weights)
        )
        biases = tuple(_frozen(b, ndim=1, field_name=f"member{k}.bias{i}") for i, b in enumerate(self.biases))
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if b.shape != (w.shape[1],):
                raise SurrogateFormatError(
                    f"has shape {b.shape}, expected ({w.shape[1]},) to match member{k}.weight{i} {w.shape}",
                    field=f"member{k}.bias{i}",
                )
            if i > 0 and w.shape[0] != weights[i - 1].shape[1]:
                raise SurrogateFormatError(
                    f"has shape {w.shape}, expected ({weights[i - 1].shape[1]}, ...) to follow "
                    f"member{k}.weight{i - 1} {weights[i - 1].shape}",
                    field=f"member{k}.weight{i}",
                )
        return MLP(weights, biases)

    @property
    def widths(self) -> tuple[int, ...]:
        """Layer widths ``(N, hidden..., 4)``."""
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    def forward(self, x: NDArray[np.float64], activation: Activation) -> NDArray[np.float64]:
        """The raw output :math:`z(x)`, shape ``(H, out)``, for standardised inputs ``x`` of shape ``(H, in)``."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w
            h += b
            if i < last:
                activate(activation, h)
        return h


@dataclass(frozen=True, eq=False)
class SurrogateDomain:
    """Where a surrogate was trained (see the module docstring).

    Attributes
    ----------
    s_max:
        Largest training yield per signal region, shape ``(N,)``, :math:`\\ge 0`.
    q_max:
        Largest training label per variant, shape ``(4,)``, in the order of :data:`VARIANTS`.
    """

    s_max: NDArray[np.float64]
    q_max: NDArray[np.float64]

    def __post_init__(self) -> None:
        s_max = _frozen(self.s_max, ndim=1, field_name="domain.s_max")
        if np.any(s_max < 0):
            raise SurrogateFormatError("contains negative yields", field="domain.s_max")
        q_max = _frozen(self.q_max, ndim=1, field_name="domain.q_max")
        if q_max.shape != (len(VARIANTS),):
            raise SurrogateFormatError(
                f"has shape {q_max.shape}, expected ({len(VARIANTS)},)", field="domain.q_max"
            )
        object.__setattr__(self, "s_max", s_max)
        object.__setattr__(self, "q_max", q_max)


@dataclass(frozen=True, eq=False, kw_only=True)
class SurrogateNetwork:
    """A (possibly ensembled) MLP surrogate of the four profiled q's of one workspace.

    All arrays are stored as read-only float64 copies; construction checks every shape.

    Attributes
    ----------
    members:
        The ensemble members (one for a single network), all of widths ``(N, hidden..., 4)``.
    s_scale, x_mean, x_std:
        Input transform :math:`x = (\\ln(1 + s/c) - m)/\\sigma`, each of shape ``(N,)``; ``s_scale``
        and ``x_std`` positive.
    y_mean, y_std:
        Output transform :math:`f = \\mu + \\tau z`, each of shape ``(4,)``; ``y_std`` positive.
    domain:
        The validity domain.
    activation:
        One of :data:`ACTIVATIONS` (default ``"silu"``, see the module docstring).
    name:
        Human-readable name used in error messages (e.g. the analysis and workspace).
    region_names:
        The signal regions in input order (default ``region0 ... region{N-1}``).
    card:
        The model card, a JSON-serialisable dict (deep-copied): workspace name and sha256, training
        set size and provenance, accuracy figures, ``monotonic``, ``reference_points``
        (see :mod:`nextsm.surrogates.io`).
    baseline_n, baseline_b:
        The Poisson baseline (module docstring), both ``None`` or both of shape ``(4, N)`` with
        ``baseline_n >= 0`` and ``baseline_b > 0``.
    """

    members: tuple[MLP, ...]
    s_scale: NDArray[np.float64]
    x_mean: NDArray[np.float64]
    x_std: NDArray[np.float64]
    y_mean: NDArray[np.float64]
    y_std: NDArray[np.float64]
    domain: SurrogateDomain
    activation: Activation = "silu"
    name: str = "surrogate"
    region_names: tuple[str, ...] = ()
    card: Mapping[str, Any] = field(default_factory=dict)
    baseline_n: NDArray[np.float64] | None = None
    baseline_b: NDArray[np.float64] | None = None
    _z0: tuple[NDArray[np.float64], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        members = tuple(self.members) if isinstance(self.members, Sequence) else (self.members,)
        if not members:
            raise SurrogateFormatError("an ensemble needs at least one member", field="members")
        members = tuple(m._validated(k) for k, m in enumerate(members))
        widths = members[0].widths
        n_in, n_out = widths[0], widths[-1]
        if n_out != len(VARIANTS):
            raise SurrogateFormatError(
                f"has {n_out} outputs, expected {len(VARIANTS)} ({', '.join(VARIANTS)})",
                field=f"member0.weight{len(widths) - 2}",
            )
        for k, member in enumerate(members[1:], start=1):
            if member.widths != widths:
                raise SurrogateFormatError(
                    f"has widths {member.widths}, expected {widths} like member0", field=f"member{k}"
                )
        set_ = object.__setattr__
        set_(self, "members", members)
        for attr, size, positive in (
            ("s_scale", n_in, True),
            ("x_mean", n_in, False),
            ("x_std", n_in, True),
            ("y_mean", n_out, False),
            ("y_std", n_out, True),
        ):
            arr = _frozen(getattr(self, attr), ndim=1, field_name=attr)
            if arr.shape != (size,):
                raise SurrogateFormatError(f"has shape {arr.shape}, expected ({size},)", field=attr)
            if positive and np.any(arr <= 0):
                raise SurrogateFormatError("must be positive", field=attr)
            set_(self, attr, arr)
        if self.domain.s_max.shape != (n_in,):
            raise SurrogateFormatError(
                f"has shape {self.domain.s_max.shape}, expected ({n_in},)", field="domain.s_max"
            )
        if self.activation not in ACTIVATIONS:
            raise SurrogateFormatError(
                f"unknown activation {self.activation!r}; expected one of {ACTIVATIONS}", field="activation"
            )
        names = tuple(self.region_names) or tuple(f"region{i}" for i in range(n_in))
        if len(names) != n_in or len(set(names)) != n_in or not all(isinstance(n, str) for n in names):
            raise SurrogateFormatError(
                f"expected {n_in} distinct strings, got {names!r}", field="region_names"
            )
        set_(self, "region_names", names)
        if (self.baseline_n is None) != (self.baseline_b is None):
            raise SurrogateFormatError("baseline_n and baseline_b must be given together", field="baseline_n")
        if self.baseline_n is not None:
            for attr, low, strict in (("baseline_n", 0.0, False), ("baseline_b", 0.0, True)):
                arr = _frozen(getattr(self, attr), ndim=2, field_name=attr)
                if arr.shape != (n_out, n_in):
                    raise SurrogateFormatError(f"has shape {arr.shape}, expected ({n_out}, {n_in})", field=attr)
                if np.any(arr <= low) if strict else np.any(arr < low):
                    raise SurrogateFormatError("must be positive" if strict else "must be >= 0", field=attr)
                set_(self, attr, arr)
        set_(self, "name", str(self.name))
        set_(self, "card", copy.deepcopy(dict(self.card)))
        x0 = ((np.log1p(np.zeros(n_in)) - self.x_mean) / self.x_std)[None, :]
        set_(self, "_z0", tuple(m.forward(x0, self.activation)[0] for m in members))

    # ------------------------------------------------------------------------------------------
    @property
    def has_baseline(self) -> bool:
        """Whether q includes the Poisson baseline (module docstring)."""
        return self.baseline_n is not None

    def baseline(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        """The Poisson baseline term of q, shape ``(H, 4)`` (zeros without a baseline)."""
        if self.baseline_n is None or self.baseline_b is None:
            return np.zeros((s.shape[0], len(VARIANTS)))
        return poisson_q(s, self.baseline_n, self.baseline_b)

    @property
    def n_regions(self) -> int:
        """Number of inputs N (signal regions)."""
        return self.members[0].widths[0]

    @property
    def n_members(self) -> int:
        """Number of ensemble members K."""
        return len(self.members)

    @property
    def widths(self) -> tuple[int, ...]:
        """Layer widths ``(N, hidden..., 4)`` (shared by all members)."""
        return self.members[0].widths

    def __repr__(self) -> str:
        return (
            f"SurrogateNetwork(name={self.name!r}, regions={self.n_regions}, widths={self.widths}, "
            f"activation={self.activation!r}, members={self.n_members})"
        )

    # ------------------------------------------------------------------------------------------
    def _as_batch(self, signal: ArrayLike) -> tuple[NDArray[np.float64], bool]:
        arr = np.asarray(signal, dtype=np.float64)
        if arr.ndim == 1 and arr.shape[0] == self.n_regions:
            return arr[None, :], True
        if arr.ndim == 2 and arr.shape[1] == self.n_regions:
            return arr, False
        raise LikelihoodError(
            f"parameter 'signal' has shape {arr.shape}, expected (H, {self.n_regions}) or ({self.n_regions},) "
            f"for surrogate {self.name!r}"
        )

    def _inside(self, s: NDArray[np.float64]) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(s) & (s >= 0.0) & (s <= self.domain.s_max)
        return np.all(ok, axis=1)

    def check_domain(self, signal: ArrayLike) -> NDArray[np.bool_]:
        """Mask of the hypotheses inside the validity domain.

        Parameters
        ----------
        signal:
            Yields per region, shape ``(H, N)`` or ``(N,)``.

        Returns
        -------
        numpy.ndarray
            Booleans of shape ``(H,)`` (``()`` for one hypothesis): every :math:`s_i` finite and
            :math:`0 \\le s_i \\le s_{\\max,i}`.
        """
        s, single = self._as_batch(signal)
        inside = self._inside(s)
        return inside.reshape(()) if single else inside

    def _domain_error(
        self, s: NDArray[np.float64], inside: NDArray[np.bool_], single: bool
    ) -> SurrogateDomainError:
        h = int(np.flatnonzero(~inside)[0])
        row = s[h]
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(row) & (row >= 0.0) & (row <= self.domain.s_max))
        r = int(np.flatnonzero(bad)[0])
        which = "" if single else f"hypothesis {h}, "
        count = "" if single else f" ({int(np.count_nonzero(~inside))} of {len(inside)} hypotheses outside)"
        return SurrogateDomainError(
            f"surrogate {self.name!r}: {which}region {self.region_names[r]!r}: signal {float(row[r])!r} is outside "
            f"the trained domain [0, {float(self.domain.s_max[r])!r}]{count}; pass outside='nan' or 'ignore' "
            "to evaluate anyway"
        )

    def member_outputs(self, signal: ArrayLike) -> NDArray[np.float64]:
        """q of every member, shape ``(K, H, 4)``, without any domain check."""
        s, _ = self._as_batch(signal)
        return self._member_q(s)

    def _member_q(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        n_hyp = s.shape[0]
        out = np.empty((self.n_members, n_hyp, len(VARIANTS)))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x = np.log1p(s / self.s_scale)
            x -= self.x_mean
            x /= self.x_std
            for start in range(0, n_hyp, _CHUNK):
                block = slice(start, start + _CHUNK)
                for k, (member, z0) in enumerate(zip(self.members, self._z0, strict=True)):
                    z = member.forward(x[block], self.activation)
                    z -= z0
                    z *= self.y_std
                    out[k, block] = z
        if self.has_baseline:
            out += self.baseline(s)[None]
        out[:, np.all(s == 0.0, axis=1), :] = 0.0
        return out

    @overload
    def evaluate(
        self, signal: ArrayLike, *, return_std: Literal[False] = False, outside: Outside = "raise"
    ) -> NDArray[np.float64]: ...

    @overload
    def evaluate(
        self, signal: ArrayLike, *, return_std: Literal[True], outside: Outside = "raise"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

    def evaluate(
        self, signal: ArrayLike, *, return_std: bool = False, outside: Outside = "raise"
    ) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The four :math:`q_v(s)` (ensemble mean) for a batch of signal hypotheses.

        Parameters
        ----------
        signal:
            Yields per region, shape ``(H, N)`` or ``(N,)``.
        return_std:
            Also return the ensemble spread (zeros for a single network).
        outside:
            What to do with hypotheses outside :attr:`domain`: ``"raise"`` a
            :class:`~nextsm.surrogates.SurrogateDomainError` naming the surrogate, the region and the
            value; return ``"nan"`` for them; or ``"ignore"`` the domain (extrapolate).

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            q of shape ``(H, 4)`` (``(4,)`` for one hypothesis) in the order of :data:`VARIANTS`,
            float64; with ``return_std``, ``(q, std)`` of equal shapes.
        """
        if outside not in ("raise", "nan", "ignore"):
            raise LikelihoodError(f"parameter 'outside' is {outside!r}, expected 'raise', 'nan' or 'ignore'")
        s, single = self._as_batch(signal)
        inside = self._inside(s)
        all_inside = bool(np.all(inside))
        if outside == "raise" and not all_inside:
            raise self._domain_error(s, inside, single)
        if outside == "nan" and not all_inside:
            q_members = np.full((self.n_members, s.shape[0], len(VARIANTS)), np.nan)
            q_members[:, inside] = self._member_q(s[inside])
        else:
            q_members = self._member_q(s)
        if self.n_members == 1:
            q = q_members[0]
            std = np.where(np.isnan(q), np.nan, 0.0)
        else:
            q = q_members.mean(axis=0)
            std = q_members.std(axis=0)
        if single:
            q, std = q[0], std[0]
        return (q, std) if return_std else q
