"""Upper limits on μ (asymptotic CLs, q̃_μ) against spey 0.2.7 on real database records.

spey's ``poi_upper_limit`` is slow (0.1–10 s per limit), so the cases are drawn from the small results;
the speed of our batched limits on the large ones is in ``benchmarks/bench_likelihoods.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nextsm.likelihoods.factory import efficiency_map_likelihood

pytestmark = [pytest.mark.validation, pytest.mark.database]
spey = pytest.importorskip("spey")


def _records(analysis, regions):
    by_id = {str(d.data_id): d for d in analysis.datasets}
    ds = [by_id[r] for r in regions]
    return (np.array([d.observed_n for d in ds], float), np.array([d.expected_bg for d in ds], float),
            np.array([d.bg_error for d in ds], float))


def _spey_limits(backend_name, expected, **kwargs):
    model = spey.get_backend(backend_name)(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.poi_upper_limit(expected=expected)


def _compare(result, signals, spey_kwargs, backend_name):
    for kind, spey_kind in (("observed", spey.ExpectationType.observed), ("apriori", spey.ExpectationType.apriori)):
        ours = result.model.upper_limit(signals, expected=kind)
        ref = np.array([_spey_limits(backend_name, spey_kind, **spey_kwargs(s)) for s in signals])
        np.testing.assert_allclose(ours, ref, rtol=0.01, err_msg=f"{result.analysis_id} {kind}")


def test_single_region_limits(database):
    """60 single-SR cases (Poisson ⊗ Gauss) from 12 analyses × 5 signals, observed and expected."""
    rng = np.random.default_rng(7)
    names = [a.name for a in database if a.data_type == "efficiencyMap" and len(a.datasets) > 1]
    for name in [names[i] for i in rng.choice(len(names), 12, replace=False)]:
        ana = database.analysis(name)
        # where δb > b/2 spey's SLSQP (started at θ = 1) can stop at the positivity bound b + δb θ = 0: e.g.
        # ATLAS-SUSY-2018-14 SRem (b = 0.007 ± 0.19) gets Asimov data 1.9e-4 instead of the exact 0.007
        # (θ̂ = 0 solves the profile equation when n = b) and a 2.3 % lower expected limit.
        usable = [d for d in ana.datasets if d.bg_error <= 0.5 * d.expected_bg]
        ds = usable[rng.integers(len(usable))]
        result = efficiency_map_likelihood(ana, regions=[str(ds.data_id)])
        n, b, err = _records(ana, result.regions)
        signals = rng.uniform(0.3, 3.0, (5, 1)) * np.sqrt(b + err**2)
        _compare(result, signals, lambda s, n=n, b=b, err=err: dict(
            signal_yields=list(s), background_yields=list(b), data=list(n), absolute_uncertainties=list(err)),
            "default.uncorrelated_background")


@pytest.mark.parametrize("name", ["ATLAS-SUSY-2018-13-eff", "ATLAS-SUSY-2018-41-eff"])
def test_correlated_limits(database, name):
    rng = np.random.default_rng(11)
    ana = database.analysis(name)
    result = efficiency_map_likelihood(ana)
    assert result.kind == "sl-v1"
    n, b, err = _records(ana, result.regions)
    signals = rng.uniform(0.0, 2.0, (8, len(b))) * np.sqrt(b + err**2)
    cov = ana.info.covariance.tolist()
    _compare(result, signals, lambda s: dict(signal_yields=list(s), background_yields=list(b), data=list(n),
                                             covariance_matrix=cov), "default.correlated_background")


def test_third_moment_limits(database):
    rng = np.random.default_rng(13)
    ana = database.analysis("CMS-SUS-20-004-eff")
    result = efficiency_map_likelihood(ana)
    assert result.kind == "sl-v2"
    n, b, err = _records(ana, result.regions)
    by_id = {str(d.data_id): d for d in ana.datasets}
    m3 = [by_id[r].third_moment for r in result.regions]
    signals = rng.uniform(0.0, 1.0, (3, len(b))) * np.sqrt(b + err**2)
    cov = ana.info.covariance.tolist()
    _compare(result, signals, lambda s: dict(signal_yields=list(s), background_yields=list(b), data=list(n),
                                             covariance_matrix=cov, third_moment=m3),
             "default.third_moment_expansion")
