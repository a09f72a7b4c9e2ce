"""Simplified likelihoods against spey 0.2.7 on real database records.

Cases: single signal regions (``default.uncorrelated_background``, N = 1), groups of regions of
analyses without covariance (uncorrelated, N ≤ 5), analyses with a covariance
(``default.correlated_background``) and with third moments (``default.third_moment_expansion``:
CMS-SUS-20-004's published ones, plus synthetic m3 = σ³·U(−0.3, 0.6) on small analyses).  Random
signals (seeded), random μ, data ``observed`` and ``apriori``.

For every case and both data kinds spey gives the profiled NLL at μ and at 0 (with its fitted
parameters) and μ̂ with ``maximize_likelihood``.  Checks:

* *same function*: our NLL equals spey's own ``-logpdf`` at our (μ, θ̂) to 1e-9;
* *same or better optimum*: our profiled NLL is never above spey's (SLSQP, tol 1e-6);
* *agreement*: q = −2 ln L(μ)/L(0) agrees to 1e-4 (relative; absolute below 1) wherever spey's two
  profiles converged (within 1e-5 of ours).  SLSQP does not always converge onto the
  ``b + σθ ≥ 0`` bound of empty regions; those cases are counted and must stay rare;
* *fit*: our NLL(μ̂) is never above spey's, our profile at spey's μ̂ is not above spey's value
  there, and where spey's fit converged (NLL within 1e-5 of ours) spey's μ̂ is within 1e-5 of our
  minimum in NLL (the μ̂ themselves agree to ~1e-4, up to 0.015 where the likelihood is flat);
* *Asimov data*: λ_bkg(θ̂₀) agrees with spey's ``generate_asimov_data`` (where spey's μ = 0
  fit converged).

The default selection (≈190 comparisons) takes ~15 s plus the database fixture; the ``slow`` test
adds the analyses with 35–66 correlated regions (3 signals each), where SLSQP misses the optimum
more often (checked the same way, ours is then lower).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from nextsm.likelihoods.simplified import CorrelatedBackground, PoissonGaussian, ThirdMomentExpansion

spey = pytest.importorskip("spey")

pytestmark = [pytest.mark.validation, pytest.mark.database]

SEED = 20261123
#: correlated analyses with more regions than this are in the slow test only
DEFAULT_MAX_REGIONS = 24


@dataclass
class Case:
    label: str
    backend: str
    n: np.ndarray
    b: np.ndarray
    spey_kwargs: dict
    ours: object
    signals: list[np.ndarray] = field(default_factory=list)


@dataclass
class Result:
    label: str
    backend: str
    data: str
    mu: float
    nll_ours: tuple[float, float]
    nll_spey: tuple[float, float]
    nll_spey_at_ours: tuple[float, float]
    q_ours: float
    q_spey: float
    muhat_ours: float
    muhat_spey: float
    nllmin_ours: float
    nllmin_spey: float
    nll_ours_at_spey_muhat: float

    @property
    def spey_converged(self) -> bool:
        return all(s - o <= 1e-5 for s, o in zip(self.nll_spey, self.nll_ours, strict=True))


# ------------------------------------------------------------------------------------------------
# cases from the database
# ------------------------------------------------------------------------------------------------
def _complete(ds) -> bool:
    return (ds.data_type == "efficiencyMap" and ds.observed_n is not None and ds.expected_bg is not None
            and ds.bg_error is not None and ds.bg_error > 0)


def _signal(rng: np.random.Generator, b: np.ndarray, err: np.ndarray) -> np.ndarray:
    scale = np.sqrt(b + err**2 + 1.0) * rng.uniform(0.3, 2.0) / np.sqrt(len(b))
    s = rng.exponential(size=len(b)) * scale
    if len(b) > 1:
        s[rng.random(len(b)) < 0.2] = 0.0
        s[np.argmax(s)] += scale.mean()  # not all zero
    return s


def build_cases(database, *, max_regions: int, min_regions: int = 1, n_single: int = 60,
                n_multi: int = 10) -> list[Case]:
    rng = np.random.default_rng(SEED)
    singles, multis, cases = [], [], []
    for ana in database:
        ems = [ds for ds in ana.datasets if _complete(ds)]
        if not ems:
            continue
        singles.extend((ana.name, ds) for ds in ems)
        cov = ana.info.covariance
        if cov is None:
            if len(ems) >= 2:
                multis.append((ana.name, ems))
            continue
        by_id = {ds.data_id: ds for ds in ems}
        order = ana.info.dataset_order or tuple(ds.data_id for ds in ems)
        if len(order) != cov.shape[0] or any(i not in by_id for i in order):
            continue
        if not min_regions <= len(order) <= max_regions:
            continue
        dss = [by_id[i] for i in order]
        n = np.array([ds.observed_n for ds in dss], dtype=float)
        b = np.array([ds.expected_bg for ds in dss], dtype=float)
        err = np.sqrt(np.diag(cov))
        n_signals = 4 if len(order) <= 11 else 1 if len(order) <= DEFAULT_MAX_REGIONS else 3
        cases.append(Case(f"{ana.name} (SL v1)", "default.correlated_background", n, b,
                          {"covariance_matrix": cov}, CorrelatedBackground(n, b, cov),
                          [_signal(rng, b, err) for _ in range(n_signals)]))
        third = [ds.third_moment for ds in dss]
        if all(t is not None for t in third):
            m3, tag = np.array(third, dtype=float), "published m3"
        elif len(order) <= 11:
            m3, tag = err**3 * rng.uniform(-0.3, 0.6, size=len(order)), "synthetic m3"
        else:
            continue
        cases.append(Case(f"{ana.name} (SL v2, {tag})", "default.third_moment_expansion", n, b,
                          {"covariance_matrix": cov, "third_moment": m3},
                          ThirdMomentExpansion(n, b, cov, m3),
                          [_signal(rng, b, err) for _ in range(min(n_signals, 3) if len(order) <= 11 else 2)]))
    if min_regions <= 1:
        for idx in rng.choice(len(singles), size=min(n_single, len(singles)), replace=False):
            name, ds = singles[idx]
            n, b, err = (np.array([v], dtype=float) for v in (ds.observed_n, ds.expected_bg, ds.bg_error))
            cases.append(Case(f"{name}:{ds.data_id}", "default.uncorrelated_background", n, b,
                              {"absolute_uncertainties": err}, PoissonGaussian(n, b, err), [_signal(rng, b, err)]))
        for idx in rng.choice(len(multis), size=min(n_multi, len(multis)), replace=False):
            name, ems = multis[idx]
            pick = sorted(rng.choice(len(ems), size=min(5, len(ems)), replace=False))
            dss = [ems[i] for i in pick]
            n, b, err = (np.array([getattr(ds, f) for ds in dss], dtype=float)
                         for f in ("observed_n", "expected_bg", "bg_error"))
            cases.append(Case(f"{name} ({len(dss)} SRs uncorrelated)", "default.uncorrelated_background", n, b,
                              {"absolute_uncertainties": err}, PoissonGaussian(n, b, err), [_signal(rng, b, err)]))
    return cases


# ------------------------------------------------------------------------------------------------
# running spey and us
# ------------------------------------------------------------------------------------------------
def compare(cases: list[Case]) -> tuple[list[Result], list[float]]:
    rng = np.random.default_rng(SEED + 1)
    results: list[Result] = []
    asimov_dev: list[float] = []
    logging.getLogger("Spey").setLevel(logging.ERROR)
    for case in cases:
        for s in case.signals:
            mu = float(rng.uniform(0.3, 2.5))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stat = spey.get_backend(case.backend)(signal_yields=s, background_yields=case.b, data=case.n,
                                                      **case.spey_kwargs)
            minimum_poi = float(stat.backend.config().minimum_poi)
            for data, expected in (("observed", spey.ExpectationType.observed),
                                   ("apriori", spey.ExpectationType.apriori)):
                negative = data == "observed"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    spey_mu, _ = stat.likelihood(poi_test=mu, expected=expected, return_parameters=True)
                    spey_0, _ = stat.likelihood(poi_test=0.0, expected=expected, return_parameters=True)
                    muhat_spey, nllmin_spey = stat.maximize_likelihood(expected=expected,
                                                                       allow_negative_signal=negative)
                    logpdf = stat.backend.get_logpdf_func(expected=expected)
                ours = case.ours
                mus = np.array([mu, 0.0])
                nll_ours = ours.nll(mus, np.vstack([s, s]), data=data)
                theta = ours.profile_theta(mus, np.vstack([s, s]), data=data)
                at_ours = [-float(logpdf(np.concatenate([[m], t]))) for m, t in zip(mus, theta, strict=True)]
                bounds = (minimum_poi if negative else 0.0, 10.0)
                fit = ours.fit(s, data=data, mu_bounds=bounds)
                results.append(Result(
                    case.label, case.backend, data, mu,
                    (float(nll_ours[0]), float(nll_ours[1])), (float(spey_mu), float(spey_0)),
                    (at_ours[0], at_ours[1]),
                    2.0 * float(nll_ours[0] - nll_ours[1]), 2.0 * float(spey_mu - spey_0),
                    float(fit.muhat[0]), float(muhat_spey), float(fit.nll_min[0]), float(nllmin_spey),
                    float(ours.nll(muhat_spey, s, data=data)[0]),
                ))
                spey_fit0_converged = spey_0 - nll_ours[1] <= 1e-5
                if len(asimov_dev) < 40 and spey_fit0_converged:
                    # spey's Asimov data come from its μ = 0 fit: compared where that fit converged
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        spey_asimov = np.asarray(stat.generate_asimov_data(expected=expected))[: len(case.n)]
                    mine = ours.asimov(data).observed
                    asimov_dev.append(float(np.max(np.abs(mine - spey_asimov) / (1.0 + np.sqrt(spey_asimov)))))
    return results, asimov_dev


def check(results: list[Result], asimov_dev: list[float], *, max_unconverged: float) -> dict[str, float]:
    assert results
    nll = np.array([r.nll_ours for r in results])
    spey_nll = np.array([r.nll_spey for r in results])
    at_ours = np.array([r.nll_spey_at_ours for r in results])
    scale = np.maximum(1.0, np.abs(nll))
    # the same likelihood function, constants included
    np.testing.assert_array_less(np.abs(nll - at_ours) / scale, 1e-9)
    # our profile is never worse than spey's optimiser
    np.testing.assert_array_less((nll - spey_nll) / scale, 1e-7)
    converged = np.array([r.spey_converged for r in results])
    assert np.mean(~converged) <= max_unconverged, [r.label for r in results if not r.spey_converged]
    q_ours = np.array([r.q_ours for r in results])
    q_spey = np.array([r.q_spey for r in results])
    q_dev = np.abs(q_ours - q_spey) / np.maximum(1.0, np.abs(q_spey))
    np.testing.assert_array_less(q_dev[converged], 1e-4)
    # fits
    nllmin = np.array([r.nllmin_ours for r in results])
    nllmin_spey = np.array([r.nllmin_spey for r in results])
    np.testing.assert_array_less((nllmin - nllmin_spey) / np.maximum(1.0, np.abs(nllmin)), 1e-7)
    at_spey_muhat = np.array([r.nll_ours_at_spey_muhat for r in results])
    # at spey's μ̂ our profile is no worse than spey's, and our μ̂ is the minimum within the same bounds
    np.testing.assert_array_less((at_spey_muhat - nllmin_spey) / np.maximum(1.0, np.abs(nllmin)), 1e-7)
    assert np.all(at_spey_muhat - nllmin >= -1e-9)
    fit_converged = nllmin_spey - nllmin <= 1e-5
    assert np.mean(~fit_converged) <= max_unconverged
    muhat = np.array([r.muhat_ours for r in results])
    muhat_spey = np.array([r.muhat_spey for r in results])
    mu_dev = np.abs(muhat - muhat_spey) / (1.0 + np.abs(muhat))
    # the μ̂ agree within the resolution of the likelihood: SLSQP's tolerance (1e-6 on the NLL) leaves
    # μ̂ uncertain by ~√(2e-6/F''), e.g. 0.015 where the profile is flat
    np.testing.assert_array_less((at_spey_muhat - nllmin)[fit_converged], 1e-5)
    np.testing.assert_array_less(mu_dev[fit_converged], 0.05)
    np.testing.assert_array_less(asimov_dev, 1e-3)
    return {
        "comparisons": len(results),
        "spey unconverged profiles (fraction)": float(np.mean(~converged)),
        "max |Δq|/max(1,|q|), spey converged": float(q_dev[converged].max()),
        "max |ΔNLL| (spey converged)": float(np.abs(nll - spey_nll)[converged].max()),
        "max NLL(spey) − NLL(ours), all": float((spey_nll - nll).max()),
        "max |NLL − spey logpdf at our θ̂|": float(np.abs(nll - at_ours).max()),
        "spey unconverged fits (fraction)": float(np.mean(~fit_converged)),
        "max |Δμ̂|/(1+|μ̂|), spey fit converged": float(mu_dev[fit_converged].max()),
        "max NLL(spey μ̂) − NLL(μ̂), ours, spey fit converged": float((at_spey_muhat - nllmin)[fit_converged].max()),
        "median |Δμ̂|/(1+|μ̂|)": float(np.median(mu_dev)),
        "max NLL_min(spey) − NLL_min(ours)": float((nllmin_spey - nllmin).max()),
        "max Asimov deviation /(1+√n)": float(max(asimov_dev)),
    }


def _report(title: str, results: list[Result], summary: dict[str, float]) -> None:
    lines = [title]
    for backend in sorted({r.backend for r in results}):
        sel = [r for r in results if r.backend == backend]
        conv = [r for r in sel if r.spey_converged]
        dq = max((abs(r.q_ours - r.q_spey) / max(1.0, abs(r.q_spey)) for r in conv), default=float("nan"))
        lines.append(f"  {backend}: {len(sel)} comparisons, {len(sel) - len(conv)} spey unconverged, "
                     f"max rel |Δq| {dq:.2e}")
    lines.extend(f"  {k}: {v:.3g}" for k, v in summary.items())
    print("\n".join(lines))


def test_simplified_likelihoods_agree_with_spey(database):
    cases = build_cases(database, max_regions=DEFAULT_MAX_REGIONS)
    results, asimov_dev = compare(cases)
    assert len(results) >= 150
    assert {r.backend for r in results} == {"default.uncorrelated_background", "default.correlated_background",
                                             "default.third_moment_expansion"}
    summary = check(results, asimov_dev, max_unconverged=0.05)
    _report("simplified likelihoods vs spey 0.2.7", results, summary)


@pytest.mark.slow
def test_large_correlated_analyses_agree_with_spey(database):
    cases = build_cases(database, max_regions=100, min_regions=DEFAULT_MAX_REGIONS + 1)
    assert cases
    results, asimov_dev = compare(cases)
    # SLSQP misses the optimum (by up to ~0.04 in NLL) on ~20 % of these profiles; ours are checked
    # against spey's own logpdf and are lower there
    summary = check(results, asimov_dev, max_unconverged=0.3)
    _report("large correlated analyses vs spey 0.2.7", results, summary)
