"""Truncated-Gaussian likelihood of UL-map results, and observed-only UL results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_ndtr

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.limits import twice_delta_nll
from nextsm.likelihoods.ul_gaussian import ObservedUpperLimit, TruncatedGaussian, truncated_gaussian_mode


def test_mode_reproduces_the_95_percent_quantile():
    u = np.array([0.05, 0.5, 1.96, 3.0, 8.0, 40.0])
    x = truncated_gaussian_mode(u)
    # P(mu > mu_UL) / P(mu > 0) = 0.05 for the truncated Gaussian
    np.testing.assert_allclose(np.exp(log_ndtr(x - u) - log_ndtr(x)), 0.05, rtol=1e-10)
    assert x[2] == pytest.approx(0.0, abs=1e-4)  # UL = UL_exp  ->  muhat ~ 0 (1.96 is rounded)


def test_nll_is_parabola_around_muhat_and_limits_are_published():
    model = TruncatedGaussian.from_limits(10.0, 10.0, corr=0.0)
    # UL = UL_exp: muhat = 0, s_mu = UL/1.96/xsec
    xsec = 5.0
    s_mu = 10.0 / 1.96 / xsec
    assert twice_delta_nll(model, 1.0, [[xsec]], data="apriori")[0] == pytest.approx((1.0 / s_mu) ** 2)
    assert model.upper_limit([[xsec]])[0] == pytest.approx(2.0)
    assert model.upper_limit([[xsec]], expected="apriori")[0] == pytest.approx(2.0)


def test_excess_moves_muhat_up_and_corr_widens():
    plain = TruncatedGaussian.from_limits(20.0, 10.0, corr=0.0)
    widened = TruncatedGaussian.from_limits(20.0, 10.0)
    capped = TruncatedGaussian.from_limits(40.0, 10.0, corr=0.0, cap_excess=True)
    fit_plain = plain.fit([[1.0]], mu_bounds=(-np.inf, None))
    assert fit_plain.muhat[0] > 0
    # a wider Gaussian gives a smaller likelihood ratio at mu = 0
    assert abs(twice_delta_nll(widened, 0.0, [[1.0]], reference="max")[0]) < abs(
        twice_delta_nll(plain, 0.0, [[1.0]], reference="max")[0])
    capped_ref = TruncatedGaussian.from_limits(10.0 * (1 + 2 / 1.96), 10.0, corr=0.0)
    np.testing.assert_allclose(capped.nll([0.3], [[1.0]]), capped_ref.nll([0.3], [[1.0]]))


def test_batches_over_mass_points():
    ul = np.array([5.0, 10.0, 30.0])
    eul = np.array([6.0, 8.0, 30.0])
    xsec = np.array([[1.0], [2.0], [3.0]])
    batch = TruncatedGaussian.from_limits(ul, eul).nll(0.7, xsec)
    single = [TruncatedGaussian.from_limits(ul[i], eul[i]).nll(0.7, xsec[i:i + 1])[0] for i in range(3)]
    np.testing.assert_allclose(batch, single, rtol=1e-12)


def test_observed_only_has_r_but_no_likelihood():
    model = ObservedUpperLimit.from_limit(4.0)
    assert 1.0 / model.upper_limit([[2.0]])[0] == pytest.approx(0.5)
    with pytest.raises(LikelihoodError, match="no likelihood"):
        model.nll(1.0, [[2.0]])
    with pytest.raises(LikelihoodError, match="expected"):
        model.upper_limit([[2.0]], expected="apriori")


def test_bad_limits_are_rejected():
    with pytest.raises(LikelihoodError, match="'upper_limit'"):
        TruncatedGaussian.from_limits(-1.0, 2.0)
    with pytest.raises(LikelihoodError, match="'expected_upper_limit'"):
        TruncatedGaussian.from_limits(1.0, np.nan)


@pytest.mark.validation
def test_agrees_with_smodels_truncated_gaussians():
    """SModelS 3.2.1 TruncatedGaussians (corr = 0.6) on 300 random (UL, UL_exp, σ) triples.

    UL/UL_exp is kept above 0.3: for deeper deficits SModelS evaluates 1 + erf(x) at x < -5, which
    cancels catastrophically (e.g. UL/UL_exp = 0.19 gives a 1.5 % wrong μ̂ there); we use log Φ.
    """
    tg_module = pytest.importorskip("smodels.statistics.truncatedGaussians")
    from smodels.statistics.basicStats import apriori, observed

    rng = np.random.default_rng(20261123)
    n = 300
    ul = rng.uniform(1.0, 100.0, n)
    eul = ul * np.exp(rng.uniform(-1.2, 1.1, n))
    xsec = rng.uniform(0.5, 200.0, n)
    ours = TruncatedGaussian.from_limits(ul, eul)
    for mu in (0.5, 1.0, 2.3):
        for kind, smodels_kind in (("observed", observed), ("apriori", apriori)):
            got = twice_delta_nll(ours, mu, xsec[:, None], data=kind)
            ref = np.array([
                2 * (tg.nll(mu, evaluationType=smodels_kind) - tg.nll(0.0, evaluationType=smodels_kind))
                for tg in (tg_module.TruncatedGaussians(float(u / x), float(e / x)) for u, e, x in zip(ul, eul, xsec, strict=True))
            ])
            # SModelS finds muhat with toms748 at rtol 1e-7
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-8)
