r"""Tree-level amplitude of :math:`q\bar q' \to W^{*} \to W h \to \ell\nu h` with the SMEFT HWW operators.

Conventions
-----------
Metric :math:`(+,-,-,-)`, :math:`\varepsilon^{0123} = -1` (Peskin & Schroeder), so that
:math:`\varepsilon^{\mu\nu\rho\sigma} a_\mu b_\nu c_\rho d_\sigma = \det[a; b; c; d]` with contravariant rows.
Warsaw-basis operators (Grzadkowski, Iskrzynski, Misiak, Rosiek, JHEP 10 (2010) 085),

.. math::

    \mathcal L = \mathcal L_{\rm SM} + \frac{c_{HW}}{\Lambda^2}\, H^\dagger H\, W^a_{\mu\nu} W^{a\,\mu\nu}
               + \frac{c_{H\widetilde W}}{\Lambda^2}\, H^\dagger H\, \widetilde W^a_{\mu\nu} W^{a\,\mu\nu},
    \qquad \widetilde W^{a}_{\mu\nu} = \tfrac12 \varepsilon_{\mu\nu\rho\sigma} W^{a\,\rho\sigma},\quad \Lambda = 1\ {\rm TeV}.

With :math:`H = (0, (v + h)/\sqrt2)` and after the canonical normalisation of the W field (which leaves
:math:`g W_\mu`, :math:`m_W` and the SM :math:`hWW` coupling :math:`g m_W` unchanged), the HWW terms are

.. math::

    \mathcal L_{hWW} = g m_W\, h W^+_\mu W^{-\mu}
        + \frac{2 v\, c_{HW}}{\Lambda^2}\, h\, W^+_{\mu\nu} W^{-\mu\nu}
        + \frac{2 v\, c_{H\widetilde W}}{\Lambda^2}\, h\, W^+_{\mu\nu} \widetilde W^{-\mu\nu}

(abelian field strengths).  In the notation of Hagiwara, Ishihara, Szalapski, Zeppenfeld, PRD 48 (1993) 2182
(HISZ), :math:`\mathcal O_{WW} = \Phi^\dagger \hat W_{\mu\nu}\hat W^{\mu\nu}\Phi = -\tfrac{g^2}{4} H^\dagger H W^a W^a`,
i.e. :math:`c_{HW} = -\tfrac{g^2}{4} f_{WW}` (and likewise :math:`c_{H\widetilde W} = -\tfrac{g^2}{4} f_{\widetilde W\widetilde W}`),
the operators used for WH by Brehmer, Kling, Plehn, Tait, "Better Higgs-CP measurements through information
geometry", PRD 97 (2018) 095017 (arXiv:1712.02350).

Amplitude
---------
For :math:`q(p_1)\,\bar q'(p_2) \to W^{*}(q) \to W(k) [\to f(p_3)\,\bar f'(p_4)]\,h` with :math:`q = p_1 + p_2`,
:math:`k = p_3 + p_4` and the massless left-handed currents
:math:`J_q^\mu = \bar v(p_2)\gamma^\mu P_L u(p_1)`, :math:`J_\ell^\mu = \bar u(p_3)\gamma^\mu P_L v(p_4)`
(W⁺: :math:`f = \nu`, :math:`\bar f' = \ell^+`; W⁻: :math:`f = \ell^-`, :math:`\bar f' = \bar\nu`), current
conservation removes the :math:`q_\mu q_\nu/m_W^2` parts of the propagators and

.. math::

    \mathcal M = \frac{g^2 V_{qq'}}{2}\,\frac{A_{\rm SM} + c_{HW} A_{HW} + c_{H\widetilde W} A_{H\widetilde W}}
                 {(\hat s - m_W^2)(k^2 - m_W^2 + i m_W\Gamma_W)},\qquad
    \begin{aligned}
      A_{\rm SM} &= g m_W\, (J_q\cdot J_\ell),\\
      A_{HW} &= \frac{4v}{\Lambda^2}\,\big[(q\cdot k)(J_q\cdot J_\ell) - (J_q\cdot k)(J_\ell\cdot q)\big],\\
      A_{H\widetilde W} &= \frac{4v}{\Lambda^2}\,\varepsilon^{\mu\nu\rho\sigma} q_\mu J_{q\nu} k_\rho J_{\ell\sigma}.
    \end{aligned}

Only one helicity configuration contributes, so :math:`|\mathcal M(\theta)|^2` with
:math:`\theta = (c_{H\widetilde W}, c_{HW})` is exactly quadratic:
:math:`\overline{|\mathcal M|^2} = \sum_c \alpha_c(\theta)\, m_c` with the six components
:math:`(|A_0|^2,\ 2{\rm Re}\,A_0^*A_{\widetilde W},\ 2{\rm Re}\,A_0^*A_W,\ |A_{\widetilde W}|^2,\
2{\rm Re}\,A_{\widetilde W}^*A_W,\ |A_W|^2)` times the common factor, in the order of
:func:`nextsm.sbi.morphing.monomial_exponents`.  The currents are built from two-component Weyl spinors
:math:`J^\mu = 2\sqrt{E_a E_b}\,\xi_-(\hat p_a)^\dagger \bar\sigma^\mu \xi_-(\hat p_b)`; their phases are common to
the three structures and drop out of :math:`|\mathcal M|^2`.

SM check (:func:`sm_dsigma_dcos`): in the narrow-width limit
:math:`d\sigma/d\cos\theta = \sigma_{Wh}\,{\rm BR}(W\to\ell\nu)\,\tfrac34\,
\frac{\lambda\sin^2\theta + 8 m_W^2/\hat s}{\lambda + 12 m_W^2/\hat s}` with
:math:`\sigma_{Wh} = \frac{G_F^2 m_W^4 |V_{qq'}|^2}{72\pi\hat s}\,\lambda^{1/2}\,
\frac{\lambda + 12 m_W^2/\hat s}{(1 - m_W^2/\hat s)^2}` (Eichten, Hinchliffe, Lane, Quigg, RMP 56 (1984) 579;
Kniehl, PRD 42 (1990) 2253), :math:`\lambda = (1 - m_W^2/\hat s - m_h^2/\hat s)^2 - 4 m_W^2 m_h^2/\hat s^2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.morphing import _as_theta

__all__ = [
    "PARAMETER_NAMES",
    "ElectroweakParameters",
    "decay_grid",
    "hww_amplitudes",
    "levi_civita",
    "matrix_element_components",
    "matrix_element_squared",
    "minkowski_dot",
    "partonic_momenta",
    "reweighting_factors",
    "sm_dsigma_dcos",
    "weyl_current",
]

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]

PARAMETER_NAMES = ("c_HWtil", "c_HW")
"""θ = (c_HW~, c_HW): CP-odd first, as ``(c_odd, c_even)`` in the toy."""

_METRIC = np.array([1.0, -1.0, -1.0, -1.0])
# σ̄^μ = (1, -σ_x, -σ_y, -σ_z), shape (4, 2, 2)
_SIGMA_BAR = np.array([[[1, 0], [0, 1]], [[0, -1], [-1, 0]], [[0, 1j], [-1j, 0]], [[-1, 0], [0, 1]]],
                      dtype=np.complex128)


@dataclass(frozen=True)
class ElectroweakParameters:
    """Electroweak inputs (GeV) of the amplitude; ``g = 2 m_W / v``, ``G_F = g² / (4√2 m_W²)``.

    Attributes
    ----------
    m_w, gamma_w, m_h:
        W mass and width, Higgs mass.
    vev:
        :math:`v = (\\sqrt2 G_F)^{-1/2}` = 246.22 GeV.
    cutoff:
        :math:`\\Lambda` of the operators (1 TeV).
    v_ckm:
        :math:`|V_{qq'}|` (it cancels in every ratio; 1 for the analytic checks).
    """

    m_w: float = 80.379
    gamma_w: float = 2.085
    m_h: float = 125.0
    vev: float = 246.22
    cutoff: float = 1000.0
    v_ckm: float = 1.0

    def __post_init__(self) -> None:
        for name in ("m_w", "gamma_w", "m_h", "vev", "cutoff", "v_ckm"):
            if not getattr(self, name) > 0:
                raise SBIError(f"ElectroweakParameters field '{name}' must be > 0, got {getattr(self, name)!r}")

    @property
    def g(self) -> float:
        """SU(2) coupling :math:`g = 2 m_W / v`."""
        return 2.0 * self.m_w / self.vev

    @property
    def fermi_constant(self) -> float:
        """:math:`G_F = \\sqrt2 g^2 / (8 m_W^2)` in GeV⁻²."""
        return float(np.sqrt(2.0) * self.g**2 / (8.0 * self.m_w**2))

    @property
    def width_lnu(self) -> float:
        """:math:`\\Gamma(W \\to \\ell\\nu) = g^2 m_W / (48\\pi)` for one massless lepton flavour."""
        return float(self.g**2 * self.m_w / (48.0 * np.pi))


def _four(p: ArrayLike, name: str) -> FloatArray:
    arr = np.atleast_2d(np.asarray(p, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise SBIError(f"parameter '{name}' must have shape (N, 4) = (E, px, py, pz), got {np.shape(p)}")
    return arr


def minkowski_dot(a: ArrayLike, b: ArrayLike) -> NDArray[np.generic]:
    """:math:`a\\cdot b = a^0 b^0 - \\vec a\\cdot\\vec b` row by row (no complex conjugation)."""
    aa, bb = np.asarray(a), np.asarray(b)
    return np.sum(aa * bb * _METRIC, axis=-1)


def levi_civita(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> NDArray[np.generic]:
    """:math:`\\varepsilon^{\\mu\\nu\\rho\\sigma} a_\\mu b_\\nu c_\\rho d_\\sigma = \\det[a; b; c; d]` (ε^{0123} = −1)."""
    return np.linalg.det(np.stack(np.broadcast_arrays(a, b, c, d), axis=-2))


def _xi_minus(p: FloatArray) -> ComplexArray:
    """Negative-helicity two-spinor :math:`\\xi_-(\\hat p) = (-e^{-i\\phi}\\sin\\tfrac\\vartheta2, \\cos\\tfrac\\vartheta2)`."""
    half = 0.5 * np.arctan2(np.hypot(p[:, 1], p[:, 2]), p[:, 3])
    phase = np.exp(-1j * np.arctan2(p[:, 2], p[:, 1]))
    return np.stack([-phase * np.sin(half), np.cos(half) + 0j], axis=1)


def weyl_current(p_bra: ArrayLike, p_ket: ArrayLike) -> ComplexArray:
    """Left-handed massless current :math:`J^\\mu = \\bar w(p_{\\rm bra})\\gamma^\\mu P_L w(p_{\\rm ket})`, ``(N, 4)``.

    ``w`` is ``u`` or ``v``: both have the left-chiral component :math:`\\sqrt{2E}\\,\\xi_-(\\hat p)` for
    massless momenta, so :math:`J^\\mu = 2\\sqrt{|\\vec p_a||\\vec p_b|}\\,\\xi_-(\\hat p_a)^\\dagger\\bar\\sigma^\\mu\\xi_-(\\hat p_b)`
    (energies are taken as :math:`|\\vec p|`, so tiny lepton masses are ignored).
    """
    pa, pb = _four(p_bra, "p_bra"), _four(p_ket, "p_ket")
    xa, xb = _xi_minus(pa), _xi_minus(pb)
    norm = 2.0 * np.sqrt(np.linalg.norm(pa[:, 1:], axis=1) * np.linalg.norm(pb[:, 1:], axis=1))
    return norm[:, None] * np.einsum("ni,mij,nj->nm", xa.conj(), _SIGMA_BAR, xb)


def hww_amplitudes(p_quark: ArrayLike, p_antiquark: ArrayLike, p_fermion: ArrayLike, p_antifermion: ArrayLike,
                   ew: ElectroweakParameters | None = None) -> ComplexArray:
    """The reduced amplitudes :math:`(A_{\\rm SM}, A_{H\\widetilde W}, A_{HW})` per unit coefficient, ``(N, 3)``.

    Parameters
    ----------
    p_quark, p_antiquark:
        Incoming quark and antiquark four-momenta ``(N, 4)`` as ``(E, px, py, pz)`` in GeV.
    p_fermion, p_antifermion:
        Outgoing W decay fermion and antifermion: ``(ν, ℓ⁺)`` for W⁺, ``(ℓ⁻, ν̄)`` for W⁻.
    ew:
        Electroweak inputs (default :class:`ElectroweakParameters`).
    """
    ew = ew or ElectroweakParameters()
    p1, p2 = _four(p_quark, "p_quark"), _four(p_antiquark, "p_antiquark")
    p3, p4 = _four(p_fermion, "p_fermion"), _four(p_antifermion, "p_antifermion")
    n = p1.shape[0]
    if not p2.shape[0] == p3.shape[0] == p4.shape[0] == n:
        raise SBIError(f"parameters 'p_*' must have the same number of rows, got {n}, {p2.shape[0]}, "
                       f"{p3.shape[0]}, {p4.shape[0]}")
    jq = weyl_current(p2, p1)
    jl = weyl_current(p3, p4)
    q, k = p1 + p2, p3 + p4
    # the dtypes minkowski_dot / levi_civita return for these inputs (np.asarray of the same dtype: no copy)
    jj = np.asarray(minkowski_dot(jq, jl), dtype=np.complex128)
    qk = np.asarray(minkowski_dot(q, k), dtype=np.float64)
    jq_k = np.asarray(minkowski_dot(jq, k), dtype=np.complex128)
    jl_q = np.asarray(minkowski_dot(jl, q), dtype=np.complex128)
    eps = np.asarray(levi_civita(q.astype(np.complex128), jq, k.astype(np.complex128), jl),
                     dtype=np.complex128)
    c6 = 4.0 * ew.vev / ew.cutoff**2
    a_sm = ew.g * ew.m_w * jj
    a_hw = c6 * (qk * jj - jq_k * jl_q)
    a_hwt = c6 * eps
    return np.stack([a_sm, a_hwt, a_hw], axis=1)


def _prefactor(p_quark: FloatArray, p_antiquark: FloatArray, p_fermion: FloatArray, p_antifermion: FloatArray,
               ew: ElectroweakParameters) -> FloatArray:
    """Spin (1/4) and colour (3/9) average × couplings × propagators of :math:`\\overline{|\\mathcal M|^2}`."""
    q = p_quark + p_antiquark
    k = p_fermion + p_antifermion
    s = np.asarray(minkowski_dot(q, q), dtype=np.float64)
    k2 = np.asarray(minkowski_dot(k, k), dtype=np.float64)
    prop = 1.0 / ((s - ew.m_w**2) ** 2 * ((k2 - ew.m_w**2) ** 2 + (ew.m_w * ew.gamma_w) ** 2))
    return (1.0 / 12.0) * (ew.g**2 * ew.v_ckm / 2.0) ** 2 * prop


def matrix_element_components(p_quark: ArrayLike, p_antiquark: ArrayLike, p_fermion: ArrayLike,
                              p_antifermion: ArrayLike, ew: ElectroweakParameters | None = None, *,
                              normalised: bool = True) -> FloatArray:
    """:math:`m_c` with :math:`\\overline{|\\mathcal M(\\theta)|^2} = \\sum_c \\alpha_c(\\theta) m_c`, ``(N, 6)``.

    Order of :func:`~nextsm.sbi.morphing.monomial_exponents` for θ = (c_HW~, c_HW):
    ``1, c̃, c, c̃², c̃ c, c²``.  With ``normalised=False`` the common factor (averages, couplings,
    propagators) is left out, which is all that reweighting needs.
    """
    ew = ew or ElectroweakParameters()
    amp = hww_amplitudes(p_quark, p_antiquark, p_fermion, p_antifermion, ew)
    a0, at, aw = amp[:, 0], amp[:, 1], amp[:, 2]
    comps = np.stack([np.abs(a0) ** 2, 2 * np.real(np.conj(a0) * at), 2 * np.real(np.conj(a0) * aw),
                      np.abs(at) ** 2, 2 * np.real(np.conj(at) * aw), np.abs(aw) ** 2], axis=1)
    if normalised:
        comps = comps * _prefactor(_four(p_quark, "p"), _four(p_antiquark, "p"), _four(p_fermion, "p"),
                                   _four(p_antifermion, "p"), ew)[:, None]
    return comps


def matrix_element_squared(p_quark: ArrayLike, p_antiquark: ArrayLike, p_fermion: ArrayLike,
                           p_antifermion: ArrayLike, theta: ArrayLike,
                           ew: ElectroweakParameters | None = None) -> FloatArray:
    """:math:`\\overline{|\\mathcal M(\\theta)|^2}` from the summed amplitude (not the expansion), ``(n_θ, N)``."""
    ew = ew or ElectroweakParameters()
    th = _as_theta(theta, 2)
    amp = hww_amplitudes(p_quark, p_antiquark, p_fermion, p_antifermion, ew)
    total = amp[None, :, 0] + th[:, 0:1] * amp[None, :, 1] + th[:, 1:2] * amp[None, :, 2]
    pref = _prefactor(_four(p_quark, "p"), _four(p_antiquark, "p"), _four(p_fermion, "p"),
                      _four(p_antifermion, "p"), ew)
    return np.abs(total) ** 2 * pref[None, :]


def sm_dsigma_dcos(s_hat: ArrayLike, cos_theta: ArrayLike, ew: ElectroweakParameters | None = None) -> FloatArray:
    """Analytic SM :math:`d\\sigma(q\\bar q'\\to Wh\\to\\ell\\nu h)/d\\cos\\theta` in GeV⁻² (narrow W, one lepton flavour).

    θ is the angle between the W and the quark in the partonic rest frame; colour- and spin-averaged.
    """
    ew = ew or ElectroweakParameters()
    s = np.asarray(s_hat, dtype=np.float64)
    c = np.asarray(cos_theta, dtype=np.float64)
    rw, rh = ew.m_w**2 / s, ew.m_h**2 / s
    lam = (1.0 - rw - rh) ** 2 - 4.0 * rw * rh
    if np.any(lam <= 0):
        raise SBIError("parameter 's_hat' must be above the Wh threshold (m_W + m_h)²")
    sigma_wh = (ew.fermi_constant**2 * ew.m_w**4 * ew.v_ckm**2 / (72.0 * np.pi * s) * np.sqrt(lam)
                * (lam + 12.0 * rw) / (1.0 - rw) ** 2)
    br = ew.width_lnu / ew.gamma_w
    return sigma_wh * br * 0.75 * (lam * (1.0 - c**2) + 8.0 * rw) / (lam + 12.0 * rw)


def _boost(p: FloatArray, beta: FloatArray) -> FloatArray:
    """Boost four-momenta ``p`` ``(N, 4)`` by the velocity ``beta`` ``(N, 3)`` (from the rest frame to the lab)."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    coef = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    e = gamma * (p[:, 0] + bp)
    vec = p[:, 1:] + (coef * bp + gamma * p[:, 0])[:, None] * beta
    return np.concatenate([e[:, None], vec], axis=1)


def partonic_momenta(s_hat: ArrayLike, cos_theta: ArrayLike, phi: ArrayLike, cos_star: ArrayLike,
                     phi_star: ArrayLike, k2: ArrayLike, ew: ElectroweakParameters | None = None
                     ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Momenta of :math:`q\\bar q' \\to W(\\to f\\bar f')h` in the partonic rest frame from angles.

    The quark moves along +z with energy √ŝ/2; the W (invariant mass² ``k2``) has polar angle θ and
    azimuth φ; ``cos_star``, ``phi_star`` give the direction of ``f`` in the W rest frame (axes of the
    partonic frame).  Returns ``(p_quark, p_antiquark, p_fermion, p_antifermion, p_higgs)``, each ``(N, 4)``.
    """
    ew = ew or ElectroweakParameters()
    s, ct, ph, cs, ps, mk2 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                                   for v in (s_hat, cos_theta, phi, cos_star, phi_star, k2)))
    rs = np.sqrt(s)
    lam = (s - mk2 - ew.m_h**2) ** 2 - 4.0 * mk2 * ew.m_h**2
    if np.any(lam <= 0):
        raise SBIError("parameters 's_hat', 'k2': below the threshold √ŝ > √k2 + m_h")
    pabs = np.sqrt(lam) / (2.0 * rs)
    st = np.sqrt(1.0 - ct**2)
    n_w = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=1)
    e_w = np.sqrt(pabs**2 + mk2)
    zero = np.zeros_like(s)
    p1 = np.stack([rs / 2, zero, zero, rs / 2], axis=1)
    p2 = np.stack([rs / 2, zero, zero, -rs / 2], axis=1)
    p_w = np.concatenate([e_w[:, None], pabs[:, None] * n_w], axis=1)
    p_h = p1 + p2 - p_w
    ss = np.sqrt(1.0 - cs**2)
    mk = np.sqrt(mk2)
    n_f = np.stack([ss * np.cos(ps), ss * np.sin(ps), cs], axis=1)
    f_rest = np.concatenate([0.5 * mk[:, None], 0.5 * mk[:, None] * n_f], axis=1)
    fb_rest = np.concatenate([0.5 * mk[:, None], -0.5 * mk[:, None] * n_f], axis=1)
    beta = p_w[:, 1:] / p_w[:, :1]
    return p1, p2, _boost(f_rest, beta), _boost(fb_rest, beta), p_h


def reweighting_factors(components: ArrayLike, benchmarks: ArrayLike) -> FloatArray:
    """:math:`|\\mathcal M(\\theta_b)|^2 / |\\mathcal M_{\\rm SM}|^2` per event and benchmark, ``(N, n_b)``.

    ``components`` ``(N, 6)`` from :func:`matrix_element_components` (normalised or not), ``benchmarks``
    ``(n_b, 2)`` in θ = (c_HW~, c_HW).  An SM-generated event of weight w gets the benchmark weights
    ``w * factors``: leading-order matrix-element reweighting of the hard process.
    """
    from nextsm.sbi.morphing import monomial_exponents

    comps = np.atleast_2d(np.asarray(components, dtype=np.float64))
    if comps.shape[1] != 6:
        raise SBIError(f"parameter 'components' must have shape (N, 6), got {comps.shape}")
    if np.any(comps[:, 0] <= 0):
        raise SBIError("parameter 'components': the SM term |A_SM|² must be > 0 for every event")
    th = _as_theta(benchmarks, 2, "benchmarks")
    alpha = np.prod(th[:, None, :] ** monomial_exponents(2, 2)[None, :, :], axis=2)
    return comps @ alpha.T / comps[:, :1]


def decay_grid(p_quark: ArrayLike, p_antiquark: ArrayLike, p_fermion: ArrayLike, p_antifermion: ArrayLike,
               theta: ArrayLike = (0.0, 0.0), *, n_grid: int = 12,
               ew: ElectroweakParameters | None = None) -> tuple[FloatArray, FloatArray]:
    r"""|M(θ)|² at one θ with the W decay direction moved over a grid (decay-angle averages).

    For every event the fermion direction in the W rest frame runs over ``n_grid`` Gauss–Legendre nodes in
    :math:`\cos\theta^*` × ``n_grid`` uniform :math:`\phi^*` (W mass and production kept).  Returns
    ``(me2 (N, n_grid²), weights (n_grid²,))`` with ``weights.sum() == 1``, so that ``me2 @ weights`` is
    :math:`\langle|\mathcal M|^2\rangle_{\Omega^*}`.
    """
    ew = ew or ElectroweakParameters()
    q, qb = _four(p_quark, "p_quark"), _four(p_antiquark, "p_antiquark")
    f, fb = _four(p_fermion, "p_fermion"), _four(p_antifermion, "p_antifermion")
    if n_grid < 2:
        raise SBIError(f"parameter 'n_grid' must be >= 2, got {n_grid}")
    x, w = np.polynomial.legendre.leggauss(n_grid)
    phis = (np.arange(n_grid) + 0.5) / n_grid * 2 * np.pi
    cs, ps = (a.ravel() for a in np.meshgrid(x, phis, indexing="ij"))
    weights = np.repeat(w, n_grid) / (2 * n_grid)
    k = f + fb
    mk = np.sqrt(np.clip(minkowski_dot(k, k), 0.0, None))
    dirs = np.stack([np.sqrt(1 - cs**2) * np.cos(ps), np.sqrt(1 - cs**2) * np.sin(ps), cs], axis=1)
    n, g = q.shape[0], cs.shape[0]
    f_rest = (0.5 * mk[:, None, None] * np.concatenate([np.ones((g, 1)), dirs], axis=1)[None]).reshape(-1, 4)
    beta = np.repeat(k[:, 1:] / k[:, :1], g, axis=0)
    f_lab = _boost(f_rest, beta)
    fb_lab = _boost(f_rest * np.array([1.0, -1.0, -1.0, -1.0]), beta)
    th = _as_theta(theta, 2)
    if th.shape[0] != 1:
        raise SBIError(f"parameter 'theta' must be one point (c_HW~, c_HW), got shape {np.shape(theta)}")
    me = matrix_element_squared(np.repeat(q, g, axis=0), np.repeat(qb, g, axis=0), f_lab, fb_lab, th, ew)[0]
    return me.reshape(n, g), weights
