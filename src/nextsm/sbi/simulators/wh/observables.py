r"""Kinematics and the observables of the WH(ℓνbb) analysis (numpy, vectorised over events).

Four-momenta are ``(..., 4)`` arrays ``(E, px, py, pz)`` in GeV.  The neutrino :math:`p_z` follows from the W
mass constraint :math:`(p_\ell + p_\nu)^2 = m_W^2` with :math:`\vec p_{T}^{\,\nu} = \vec E_T^{\rm miss}`:

.. math::

    p_z^\nu = \frac{\mu\,p_z^\ell \pm E_\ell\sqrt{\mu^2 - p_T^{\ell\,2} E_T^{{\rm miss}\,2}}}{p_T^{\ell\,2}},
    \qquad \mu = \tfrac12 m_W^2 + \vec p_T^{\,\ell}\cdot\vec E_T^{\rm miss}

(the smaller :math:`|p_z|` root; the real part when the discriminant is negative).  The CP-odd angles of
Godbole, Miller, Mohan, White, JHEP 04 (2015) 103 (arXiv:1409.5449), used for WH(ℓνbb) by Barrué,
Conde-Muíño, Dao, Santos (arXiv:2308.02882) and Silva et al. (arXiv:2509.03307):

.. math::

    \cos\delta^+ = \frac{\vec p_\ell^{\,(W)}\cdot(\vec p_h \times \vec p_W)}{|\vec p_\ell^{\,(W)}|\,|\vec p_h\times\vec p_W|},\qquad
    \cos\delta^- = \frac{\vec p_\ell^{\,(W)}\cdot(\vec p_h^{\,(W)} \times \hat z)}{|\vec p_\ell^{\,(W)}|\,|\vec p_h^{\,(W)}\times\hat z|},

with :math:`\vec p^{\,(W)}` in the W rest frame, :math:`\vec p_h, \vec p_W` in the lab and :math:`\hat z` the beam
axis (our definition of δ⁻: the lepton's projection on the normal of the plane of the Higgs and the beam in the
W frame); both are multiplied by the lepton charge :math:`Q_\ell`, which turns the CP-conjugate final states
into the same sign.  The total transverse mass is
:math:`m_T(\ell\nu bb) = \sqrt{(E_T^W + E_T^h)^2 - |\vec p_T^{\,W} + \vec p_T^{\,h}|^2}` with
:math:`E_T = \sqrt{m^2 + p_T^2}`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "OBSERVABLE_NAMES",
    "boost_to_rest_frame",
    "delta_phi",
    "delta_r",
    "eta",
    "mass",
    "neutrino_pz",
    "phi",
    "pt",
    "wh_observables",
]

FloatArray = NDArray[np.float64]

OBSERVABLE_NAMES = (
    "l_e", "l_pt", "l_eta", "l_phi",
    "b1_e", "b1_pt", "b1_eta", "b1_phi",
    "b2_e", "b2_pt", "b2_eta", "b2_phi",
    "met", "met_phi", "pz_nu",
    "dphi_l_met", "dr_bb", "dphi_bb", "dr_l_b1", "dr_l_b2", "dphi_w_h",
    "m_bb", "pt_bb", "pt_w", "mt_w", "mt_lvbb",
    "q_l", "q_cos_delta_plus", "q_cos_delta_minus",
)
"""Columns of :func:`wh_observables`."""


def pt(p: ArrayLike) -> FloatArray:
    """Transverse momentum."""
    a = np.asarray(p, dtype=np.float64)
    return np.hypot(a[..., 1], a[..., 2])


def phi(p: ArrayLike) -> FloatArray:
    """Azimuth in (−π, π]."""
    a = np.asarray(p, dtype=np.float64)
    return np.arctan2(a[..., 2], a[..., 1])


def eta(p: ArrayLike) -> FloatArray:
    """Pseudorapidity :math:`\\operatorname{arcsinh}(p_z/p_T)` (±1e3·sign for p_T = 0)."""
    a = np.asarray(p, dtype=np.float64)
    t = pt(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.arcsinh(a[..., 3] / t)
    return np.where(t > 0, out, np.sign(a[..., 3]) * 1e3)


def mass(p: ArrayLike) -> FloatArray:
    """Invariant mass (negative m² clipped to 0)."""
    a = np.asarray(p, dtype=np.float64)
    return np.sqrt(np.clip(a[..., 0] ** 2 - np.sum(a[..., 1:] ** 2, axis=-1), 0.0, None))


def delta_phi(phi1: ArrayLike, phi2: ArrayLike) -> FloatArray:
    """:math:`\\phi_1 - \\phi_2` wrapped into [−π, π)."""
    return np.mod(np.asarray(phi1) - np.asarray(phi2) + np.pi, 2 * np.pi) - np.pi


def delta_r(p1: ArrayLike, p2: ArrayLike) -> FloatArray:
    """:math:`\\Delta R = \\sqrt{\\Delta\\eta^2 + \\Delta\\phi^2}`."""
    return np.hypot(eta(p1) - eta(p2), delta_phi(phi(p1), phi(p2)))


def boost_to_rest_frame(p: ArrayLike, frame: ArrayLike) -> FloatArray:
    """``p`` seen in the rest frame of the (timelike) four-momentum ``frame``."""
    a, f = np.asarray(p, dtype=np.float64), np.asarray(frame, dtype=np.float64)
    beta = -f[..., 1:] / f[..., :1]
    b2 = np.sum(beta**2, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * a[..., 1:], axis=-1, keepdims=True)
    coef = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    e = gamma * (a[..., :1] + bp)
    return np.concatenate([e, a[..., 1:] + (coef * bp + gamma * a[..., :1]) * beta], axis=-1)


def neutrino_pz(lepton: ArrayLike, met_xy: ArrayLike, m_w: float = 80.379) -> FloatArray:
    """:math:`p_z^\\nu` from the W mass constraint (module docstring): the smaller root, or the real part."""
    lep = np.asarray(lepton, dtype=np.float64)
    met = np.asarray(met_xy, dtype=np.float64)
    pt2 = lep[..., 1] ** 2 + lep[..., 2] ** 2
    mu = 0.5 * m_w**2 + lep[..., 1] * met[..., 0] + lep[..., 2] * met[..., 1]
    met2 = met[..., 0] ** 2 + met[..., 1] ** 2
    a = mu * lep[..., 3] / pt2
    disc = a**2 - (lep[..., 0] ** 2 * met2 - mu**2) / pt2
    root = np.sqrt(np.clip(disc, 0.0, None))
    return np.where(np.abs(a - root) < np.abs(a + root), a - root, a + root)


def _unit_cross(a: FloatArray, b: FloatArray) -> FloatArray:
    c = np.cross(a, b)
    return c / np.maximum(np.linalg.norm(c, axis=-1, keepdims=True), 1e-300)


def wh_observables(lepton: ArrayLike, charge: ArrayLike, b1: ArrayLike, b2: ArrayLike, met_xy: ArrayLike,
                   m_w: float = 80.379) -> FloatArray:
    """The analysis observables :data:`OBSERVABLE_NAMES`, ``(N, 29)``.

    Parameters
    ----------
    lepton, b1, b2:
        Reconstructed lepton and the two b-tagged jets (leading first), ``(N, 4)``.
    charge:
        Lepton charge ±1, ``(N,)``.
    met_xy:
        Missing transverse momentum vector, ``(N, 2)``.
    """
    lep = np.asarray(lepton, dtype=np.float64)
    j1, j2 = np.asarray(b1, dtype=np.float64), np.asarray(b2, dtype=np.float64)
    met = np.asarray(met_xy, dtype=np.float64)
    q = np.asarray(charge, dtype=np.float64)
    pz = neutrino_pz(lep, met, m_w)
    nu = np.stack([np.sqrt(met[:, 0] ** 2 + met[:, 1] ** 2 + pz**2), met[:, 0], met[:, 1], pz], axis=1)
    w = lep + nu
    h = j1 + j2
    met_pt = np.hypot(met[:, 0], met[:, 1])
    met_phi = np.arctan2(met[:, 1], met[:, 0])
    lep_w = boost_to_rest_frame(lep, w)[:, 1:]
    h_w = boost_to_rest_frame(h, w)[:, 1:]
    lhat = lep_w / np.linalg.norm(lep_w, axis=1, keepdims=True)
    zhat = np.broadcast_to(np.array([0.0, 0.0, 1.0]), h_w.shape)
    cos_plus = np.sum(lhat * _unit_cross(h[:, 1:], w[:, 1:]), axis=1)
    cos_minus = np.sum(lhat * _unit_cross(h_w, zhat), axis=1)
    pt_w_vec = lep[:, 1:3] + met
    pt_w = np.hypot(pt_w_vec[:, 0], pt_w_vec[:, 1])
    mt_w = np.sqrt(np.clip(2 * (pt(lep) * met_pt - lep[:, 1] * met[:, 0] - lep[:, 2] * met[:, 1]), 0, None))
    et_w = np.sqrt(mass(w) ** 2 + pt_w**2)
    et_h = np.sqrt(mass(h) ** 2 + pt(h) ** 2)
    tot = pt_w_vec + h[:, 1:3]
    mt_tot = np.sqrt(np.clip((et_w + et_h) ** 2 - np.sum(tot**2, axis=1), 0, None))
    cols = [lep[:, 0], pt(lep), eta(lep), phi(lep), j1[:, 0], pt(j1), eta(j1), phi(j1), j2[:, 0], pt(j2), eta(j2),
            phi(j2), met_pt, met_phi, pz, delta_phi(phi(lep), met_phi), delta_r(j1, j2),
            delta_phi(phi(j1), phi(j2)), delta_r(lep, j1), delta_r(lep, j2),
            delta_phi(np.arctan2(pt_w_vec[:, 1], pt_w_vec[:, 0]), phi(h)), mass(h), pt(h), pt_w, mt_w, mt_tot, q,
            q * cos_plus, q * cos_minus]
    return np.stack(cols, axis=1)
