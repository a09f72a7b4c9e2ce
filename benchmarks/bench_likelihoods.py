"""Benchmark: likelihood evaluations per second, nextsm (batch of 10⁴ hypotheses) vs spey / SModelS / pyhf.

For every likelihood type a real database result is taken, 10⁴ random signal hypotheses are drawn
(seeded), and the time of one batched ``twice_delta_nll`` (−2 ln L(μ=1)/L(0), two profiled NLLs per
hypothesis) and of the batched 95 % CL observed upper limit is measured.  The reference
implementation evaluates the same quantity hypothesis by hypothesis on a subsample (its rate
per hypothesis is what matters) in the same run; the table gives the ratio of rates.

References: SModelS 3.2.1 ``TruncatedGaussians`` (UL maps), spey 0.2.7 default backends
(uncorrelated / correlated / third-moment), spey-pyhf (HistFactory; nextsm uses pyhf itself).

Usage::

    python benchmarks/bench_likelihoods.py [--n 10000] [--n-ref 30] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from nextsm.database import load_database
from nextsm.database.source import DatabaseSource
from nextsm.likelihoods.factory import efficiency_map_likelihood
from nextsm.likelihoods.limits import twice_delta_nll
from nextsm.likelihoods.ul_gaussian import TruncatedGaussian


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def spey_model(kind: str, n, b, err_or_cov, signal, third=None):
    import spey

    if kind == "uncorrelated":
        return spey.get_backend("default.uncorrelated_background")(
            signal_yields=list(signal), background_yields=list(b), data=list(n), absolute_uncertainties=list(err_or_cov))
    if kind == "correlated":
        return spey.get_backend("default.correlated_background")(
            signal_yields=list(signal), background_yields=list(b), data=list(n), covariance_matrix=err_or_cov.tolist())
    return spey.get_backend("default.third_moment_expansion")(
        signal_yields=list(signal), background_yields=list(b), data=list(n), covariance_matrix=err_or_cov.tolist(),
        third_moment=list(third))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="hypotheses per nextsm batch")
    parser.add_argument("--n-ref", type=int, default=30, help="hypotheses evaluated by the reference")
    parser.add_argument("--n-ref-ul", type=int, default=3, help="upper limits computed by the reference")
    parser.add_argument("--n-hf", type=int, default=40, help="hypotheses for the HistFactory model")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    db = load_database()
    rows: list[dict[str, Any]] = []

    # ---- UL map: truncated Gaussian vs SModelS --------------------------------------------------
    from smodels.statistics.truncatedGaussians import TruncatedGaussians

    ul = rng.uniform(1, 100, args.n)
    eul = ul * np.exp(rng.uniform(-1, 1, args.n))
    xs = rng.uniform(0.5, 200, args.n)[:, None]
    model = TruncatedGaussian.from_limits(ul, eul)
    t_ours = best_time(lambda: twice_delta_nll(model, 1.0, xs))
    t_ul = best_time(lambda: model.upper_limit(xs))
    k = args.n_ref

    def smodels_ref() -> None:
        for i in range(k):
            tg = TruncatedGaussians(float(ul[i] / xs[i, 0]), float(eul[i] / xs[i, 0]))
            tg.nll(1.0) - tg.nll(0.0)

    t_ref = best_time(smodels_ref, 1) / k
    rows.append(dict(kind="ul-truncated-gaussian", result="synthetic UL/UL_exp pairs", regions=1,
                     ours_per_s=args.n / t_ours, ref="SModelS 3.2.1 TruncatedGaussians", ref_per_s=1 / t_ref,
                     ul_per_s=args.n / t_ul, ref_ul_per_s=float("nan")))

    # ---- EM results vs spey ------------------------------------------------------------------------
    cases = [("single-sr", "CMS-EXO-19-001-eff", "uncorrelated"),
             ("best-sr", "ATLAS-SUSY-2016-07-eff", "uncorrelated"),
             ("sl-v1", "CMS-SUS-16-050-agg", "correlated"),
             ("sl-v2", "CMS-SUS-20-004-eff", "third")]
    for kind, name, spey_kind in cases:
        ana = db.analysis(name)
        result = efficiency_map_likelihood(ana)
        assert result.kind == kind, (name, result.kind)
        by_id = {str(d.data_id): d for d in ana.datasets}
        ds = [by_id[r] for r in result.regions]
        n = np.array([d.observed_n for d in ds])
        b = np.array([d.expected_bg for d in ds])
        err = np.array([d.bg_error for d in ds])
        scale = np.sqrt(b + err**2)
        signal = rng.uniform(0, 1, (args.n, len(ds))) * scale
        if kind == "best-sr":  # the reference evaluates the chosen SR only
            best = result.model.best_region(signal)
        t_ours = best_time(lambda result=result, signal=signal: twice_delta_nll(result.model, 1.0, signal))
        t_ul = best_time(lambda result=result, signal=signal: result.model.upper_limit(signal[:1000]), 1) * args.n / 1000

        def spey_ref(signal=signal, n=n, b=b, err=err, ana=ana, kind=kind, spey_kind=spey_kind, ds=ds,
                     best=best if kind == "best-sr" else None, k=k, ul=False) -> None:
            for i in range(k):
                if spey_kind == "uncorrelated":
                    j = slice(None) if best is None else slice(best[i], best[i] + 1)
                    m = spey_model("uncorrelated", n[j], b[j], err[j], signal[i, j])
                elif spey_kind == "correlated":
                    m = spey_model("correlated", n, b, ana.info.covariance, signal[i])
                else:
                    m = spey_model("third", n, b, ana.info.covariance, signal[i],
                                   np.array([d.third_moment for d in ds]))
                if ul:
                    m.poi_upper_limit(expected=spey.ExpectationType.observed)
                else:
                    m.chi2(poi_test=1.0, poi_test_denominator=0.0)

        import spey

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_ref = best_time(spey_ref, 1) / k
            t_ref_ul = best_time(lambda spey_ref=spey_ref: spey_ref(k=args.n_ref_ul, ul=True), 1) / args.n_ref_ul
        rows.append(dict(kind=kind, result=name, regions=len(ds), ours_per_s=args.n / t_ours,
                         ref=f"spey 0.2.7 default.{spey_kind}", ref_per_s=1 / t_ref, ul_per_s=args.n / t_ul,
                         ref_ul_per_s=1 / t_ref_ul))

    # ---- HistFactory: nextsm on pyhf (one model, signal as fixed parameters) vs spey-pyhf -----------

    from nextsm.likelihoods.histfactory import build_patch

    with DatabaseSource(db.path) as source:
        for name, workspace in (("ATLAS-SUSY-2018-32-eff", "bkgonly_simplified.json"),
                                ("ATLAS-SUSY-2018-31-eff", "simplifiedC.json")):
            ana = db.analysis(name)
            result = efficiency_map_likelihood(ana, source=source, workspace=workspace)
            model = result.model
            signal = rng.uniform(0, 1, (args.n_hf, model.n_regions))
            t_ours = best_time(lambda model=model, signal=signal: twice_delta_nll(model, 1.0, signal), 1)
            t_ul = best_time(lambda model=model, signal=signal: model.upper_limit(signal[:3]), 1) / 3
            spec = json.loads(source.read_text(f"{ana.folder}/{workspace}"))
            entry = ana.info.json_files[workspace]
            backend = spey.get_backend("pyhf")

            def spey_hf(k: int, ul: bool, spec=spec, entry=entry, signal=signal, ana=ana, backend=backend) -> None:
                for i in range(k):
                    patch = [op for op in build_patch(spec, entry, ana.info.include_crs, yields=signal[i])
                             if op["path"].startswith("/channels/")]
                    m = backend(background_only_model=spec, signal_patch=patch)
                    if ul:
                        m.poi_upper_limit(expected=spey.ExpectationType.observed)
                    else:
                        m.chi2(poi_test=1.0, poi_test_denominator=0.0)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_ref = best_time(lambda spey_hf=spey_hf: spey_hf(10, False), 1) / 10
                t_ref_ul = best_time(lambda spey_hf=spey_hf: spey_hf(args.n_ref_ul, True), 1) / args.n_ref_ul
            rows.append(dict(kind="histfactory", result=f"{ana.id} {workspace}", regions=model.n_regions,
                             ours_per_s=args.n_hf / t_ours, ref="spey-pyhf 0.2.2 (pyhf 0.7.6 numpy)",
                             ref_per_s=1 / t_ref, ul_per_s=1 / t_ul, ref_ul_per_s=1 / t_ref_ul))

    for r in rows:
        r["speedup"] = r["ours_per_s"] / r["ref_per_s"]
        r["ul_speedup"] = r["ul_per_s"] / r["ref_ul_per_s"]
    print(f"{'kind':22s} {'result':28s} {'SRs':>4s} {'q(1)/s':>9s} {'ref /s':>9s} {'ratio':>8s} "
          f"{'UL/s':>9s} {'ref UL/s':>9s} {'ratio':>8s}")
    for r in rows:
        print(f"{r['kind']:22s} {r['result'][:28]:28s} {r['regions']:4d} {r['ours_per_s']:9.3g} "
              f"{r['ref_per_s']:9.3g} {r['speedup']:8.3g} {r['ul_per_s']:9.3g} {r['ref_ul_per_s']:9.3g} "
              f"{r['ul_speedup']:8.3g}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
