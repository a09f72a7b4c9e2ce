"""Validation of the Pythia WH(ℓνbb) simulator and its EFT limits (docs/sbi.md, "WH simulator").

Two parts:

``closure`` (Pythia hard process only, seconds): the SM W decay of Pythia against our amplitude
(E[|M(Ω*)|²/⟨|M|²⟩_Ω*]), the production angle against dσ/dcosθ ∝ λ sin²θ + 8k²/ŝ, the rate coefficients
σ(θ)/σ_SM, and that the CP-odd interference vanishes in CP-even observables (m_T(Wh), p_T^W) but not in
Q_ℓ cos δ⁺.

``limits`` (event files from ``nextsm sbi simulate wh``): SALLY, ALICES and histograms of Q_ℓ cos δ⁺,
m_T(ℓνbb) and their 2-D product; Asimov profile intervals for c_HW~ and c_HW, signal only and signal +
background; figures ``docs/figures/sbi_wh_*.png``, numbers ``validation/results/sbi_wh.json``.

Run: ``.venv/bin/python validation/sbi_wh.py closure --n 20000`` and
``.venv/bin/python validation/sbi_wh.py limits --signal wh_sig.npz --background wh_bkg.npz``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nextsm.sbi import histograms, inference
from nextsm.sbi.events import load_events
from nextsm.sbi.simulators.wh import amplitude as amp
from nextsm.sbi.simulators.wh import pythia_gen as pg
from nextsm.sbi.simulators.wh.observables import OBSERVABLE_NAMES, wh_observables

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "validation" / "results" / "sbi_wh.json"
FIGURES = ROOT / "docs" / "figures"


def _update_results(key: str, value: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=1))


# ---------------------------------------------------------------------------------------------- closure
def _hard(n: int, seed: int) -> tuple[np.ndarray, float]:
    """Hard-process columns of ``n`` SM events from Pythia's process record (showers and hadronisation off)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in (*pg.pythia_settings(pg.GeneratorConfig(), seed), "PartonLevel:all = off", "HadronLevel:all = off"):
        pythia.readString(line)
    pythia.init()
    rows = []
    while len(rows) < n:
        if pythia.next():
            rows.append(pg._process_rows(pythia.process))
    ids, status, mother, mom = (np.array([r[j] for r in rows]) for j in range(4))
    return pg._hard_from_arrays(ids, status, mother, mom.astype(np.float64)), float(pythia.infoPython().sigmaGen()) * 1e12


def _mass2(p: np.ndarray) -> np.ndarray:
    return p[..., 0] ** 2 - np.sum(p[..., 1:] ** 2, axis=-1)


def closure(n: int, seed: int) -> dict:
    t0 = time.perf_counter()
    hard_all, xsec = _hard(n, seed)
    seconds = time.perf_counter() - t0
    hard = hard_all[:, :20].reshape(-1, 5, 4)
    hard_charge = hard_all[:, 20]
    q, qb, f, fb, h = (hard[:, i] for i in range(5))
    out: dict = {"n_events": len(hard), "pythia_seconds": seconds, "xsec_fb": xsec}

    # (1) W decay: g = |M(Ω*)|² / <|M|²>_Ω*  vs its prediction <|M|⁴>/<|M|²>² (1 for an isotropic decay)
    me_actual = amp.matrix_element_squared(q, qb, f, fb, [0.0, 0.0])[0]
    me_grid, w = amp.decay_grid(q, qb, f, fb)
    g = me_actual / (me_grid @ w)
    pred = (me_grid**2 @ w) / (me_grid @ w) ** 2
    out["decay_g_mean"] = [float(g.mean()), float(g.std() / np.sqrt(len(g)))]
    out["decay_g_predicted"] = float(pred.mean())

    # (2) production angle in the partonic frame vs the analytic shape at the event's (ŝ, k²)
    s = _mass2(q + qb)
    k = f + fb
    k2 = _mass2(k)
    beta = -(q + qb)[:, 1:] / (q + qb)[:, :1]
    w_cm = amp._boost(k, beta)
    q_cm = amp._boost(q, beta)
    cos = np.sum(w_cm[:, 1:] * q_cm[:, 1:], axis=1) / (np.linalg.norm(w_cm[:, 1:], axis=1)
                                                         * np.linalg.norm(q_cm[:, 1:], axis=1))
    lam = ((s - k2 - amp.ElectroweakParameters().m_h ** 2) ** 2 - 4 * k2 * amp.ElectroweakParameters().m_h ** 2) / s**2
    r = k2 / s
    expected_c2 = (lam * (2 / 3 - 2 / 5) + 8 * r * 2 / 3) / (4 * lam / 3 + 16 * r)
    out["cos2_theta_mean"] = [float(np.mean(cos**2)), float(np.std(cos**2) / np.sqrt(len(cos)))]
    out["cos2_theta_predicted"] = float(expected_c2.mean())

    # (3) rate coefficients and (4) interference in CP-even / CP-odd observables
    comps = amp.matrix_element_components(q, qb, f, fb, normalised=False)
    ratio = comps / comps[:, :1]
    names = ("1", "c_HWtil", "c_HW", "c_HWtil^2", "c_HWtil*c_HW", "c_HW^2")
    out["rate_coefficients"] = {nm: [float(ratio[:, i].mean()), float(ratio[:, i].std() / np.sqrt(len(ratio)))]
                                for i, nm in enumerate(names)}
    mt_wh = np.sqrt(np.clip((np.sqrt(_mass2(k) + k[:, 1] ** 2 + k[:, 2] ** 2)
                             + np.sqrt(_mass2(h) + h[:, 1] ** 2 + h[:, 2] ** 2)) ** 2
                            - (k[:, 1] + h[:, 1]) ** 2 - (k[:, 2] + h[:, 2]) ** 2, 0, None))
    charge = hard_charge
    lepton = np.where((charge > 0)[:, None], fb, f)
    neutrino = np.where((charge > 0)[:, None], f, fb)
    x = wh_observables(lepton, charge, 0.5 * h, 0.5 * h, neutrino[:, 1:3])
    observables = {"mt_wh": mt_wh, "pt_w": np.hypot(k[:, 1], k[:, 2]),
                   "q_cos_delta_plus": x[:, OBSERVABLE_NAMES.index("q_cos_delta_plus")],
                   "q_cos_delta_minus": x[:, OBSERVABLE_NAMES.index("q_cos_delta_minus")]}
    tests = {}
    for name, values in observables.items():
        edges = np.quantile(values, np.linspace(0, 1, 11))
        idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 9)
        for j, label in ((1, "cp_odd"), (2, "cp_even")):
            per = np.bincount(idx, ratio[:, j], 10) / len(values)
            err = np.sqrt(np.bincount(idx, ratio[:, j] ** 2, 10)) / len(values)
            tests[f"{name}_{label}_chi2_per_bin"] = float(np.mean((per / err) ** 2))
    out["interference_chi2_per_bin"] = tests
    return out


# ---------------------------------------------------------------------------------------------- limits
def _intervals(axis: np.ndarray, ll: np.ndarray) -> dict:
    scan = inference.scan_2d(axis, axis, ll)
    res: dict = {"q": scan.q.tolist()}
    for p, name in enumerate(amp.PARAMETER_NAMES):
        ax, qv = inference.profile(scan, p)
        res[name] = {"q": qv.tolist()}
        for cl in (0.68, 0.95):
            iv = inference.interval_from_profile(ax, qv, cl)
            res[name][str(cl)] = [iv.low, iv.high]
    return res


def limits(signal: Path, backgrounds: list[Path], lumi: float, seed: int, grids: dict[str, tuple[float, float, int]],
           epochs: int, n_theta: int, n_per_theta: int) -> dict:
    from nextsm.sbi.estimators.ratio import xsec_quadratic_form
    from nextsm.sbi.sampling import ratio_training_set, score_training_set, weighted_ratio_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    rng = np.random.default_rng(seed)
    sig = load_events(signal)
    samples = {"signal": sig}
    if backgrounds:
        bkg = pg.combine_samples([load_events(b) for b in backgrounds])
        samples["signal+background"] = pg.combine_samples([sig, bkg])
    col = {n: i for i, n in enumerate(OBSERVABLE_NAMES)}
    out: dict = {"luminosity": lumi}
    for label, events in samples.items():
        grid = grids[label]
        axis = np.linspace(*grid[:2], int(grid[2]))
        pts = inference.grid_points(axis, axis)
        train, test = events.split(0.5, rng)
        t0 = time.perf_counter()
        sally = train_estimator("sally", score_training_set(train, min(50_000, 4 * len(train)), rng),
                                TrainConfig(epochs=epochs), rng, parameter_names=amp.PARAMETER_NAMES,
                                observable_names=OBSERVABLE_NAMES)
        t_sally = time.perf_counter() - t0
        thetas = rng.uniform(axis[0], axis[-1], (n_theta, 2))  # the training prior covers the scan grid
        t0 = time.perf_counter()
        alices = train_estimator("alices", ratio_training_set(train, thetas, n_per_theta, rng),
                                 TrainConfig(epochs=epochs), rng, parameter_names=amp.PARAMETER_NAMES,
                                 observable_names=OBSERVABLE_NAMES)
        t_alices = time.perf_counter() - t0
        t0 = time.perf_counter()
        sigma_c = np.linalg.solve(train.morphing.matrix, train.benchmark_weights.sum(axis=0))
        alices_ma = train_estimator("alices", ratio_training_set(train, thetas, n_per_theta, rng),
                                    TrainConfig(epochs=epochs, morphing_aware=True), rng,
                                    xsec_form=xsec_quadratic_form(train.morphing, sigma_c),
                                    parameter_names=amp.PARAMETER_NAMES, observable_names=OBSERVABLE_NAMES)
        t_alices_ma = time.perf_counter() - t0
        t0 = time.perf_counter()  # weighted training: every event in both classes, 10 θ draws per event
        parts = [weighted_ratio_set(train, rng.uniform(axis[0], axis[-1], (len(train), 2))) for _ in range(10)]
        wset = type(parts[0])(*(np.concatenate([getattr(q, f) for q in parts]) for f in
                                ("x", "theta", "y", "log_r_xz", "t_xz", "sample_weight")), parts[0].theta_ref)
        alices_w = train_estimator("alices", wset, TrainConfig(epochs=epochs, morphing_aware=True), rng,
                                   xsec_form=xsec_quadratic_form(train.morphing, sigma_c),
                                   parameter_names=amp.PARAMETER_NAMES, observable_names=OBSERVABLE_NAMES)
        t_alices_w = time.perf_counter() - t0
        w_true = inference.asimov_weights(test, np.zeros(2), lumi)
        xsec = test.xsec(pts)
        xsec_ref = float(test.xsec(np.zeros((1, 2)))[0])
        res: dict = {"axis": axis.tolist(), "n_train": len(train), "n_test": len(test), "sigma_sm_fb": xsec_ref,
                     "n_selected_by_process": {name: int((events.process == i).sum())
                                               for i, name in enumerate(events.process_names)
                                               if (events.process == i).any()},
                     "sigma_by_process_fb": {name: float(events.benchmark_weights[events.process == i, 0].sum())
                                             for i, name in enumerate(events.process_names)
                                             if (events.process == i).any()},
                     "seconds": {"sally": t_sally, "alices": t_alices, "alices_ma": t_alices_ma,
                                 "alices_weighted": t_alices_w}}
        for name, est in (("alices", alices), ("alices_ma", alices_ma), ("alices_weighted", alices_w)):
            res[name] = _intervals(axis, inference.extended_log_likelihood(est.log_ratio(test.x, pts), w_true, xsec,
                                                                           xsec_ref, lumi))
        weights_grid = test.weights(pts)
        w_ref = test.weights(np.zeros((1, 2)))[0]
        feats = {"sally": sally.score(test.x),
                 "q_cos_delta_plus": test.x[:, [col["q_cos_delta_plus"]]],
                 "mt_lvbb": test.x[:, [col["mt_lvbb"]]],
                 "q_cos_delta_plus_x_mt_lvbb": test.x[:, [col["q_cos_delta_plus"], col["mt_lvbb"]]]}
        bins = {"sally": 8, "q_cos_delta_plus": 10, "mt_lvbb": 10, "q_cos_delta_plus_x_mt_lvbb": [6, 6]}
        for name, feat in feats.items():
            binning = histograms.adaptive_binning(feat, w_ref, bins[name])
            nu = histograms.expected_counts(binning, feat, weights_grid, lumi)
            observed = histograms.expected_counts(binning, feat, w_true[None] / lumi, lumi)[0]
            res[f"hist_{name}"] = _intervals(axis, histograms.binned_log_likelihood(nu, observed))
        out[label] = res
    return out


def figures(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = ("alices", "alices_ma", "alices_weighted", "hist_sally", "hist_q_cos_delta_plus", "hist_mt_lvbb", "hist_q_cos_delta_plus_x_mt_lvbb")
    labels = ("ALICES", "ALICES, morphing-aware", "ALICES-MA, weighted", "SALLY (histogram of t̂)", "Q_ℓ cos δ⁺", "m_T(ℓνbb)", "Q_ℓ cos δ⁺ × m_T")
    for sample in (k for k in ("signal", "signal+background") if k in result):
        tag = "sig" if sample == "signal" else "sb"
        axis = np.array(result[sample]["axis"])
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for p, par in enumerate(amp.PARAMETER_NAMES):
            for m, lab in zip(methods, labels, strict=True):
                axes[p].plot(axis, result[sample][m][par]["q"], label=lab)
            for thr in (0.989, 3.84):
                axes[p].axhline(thr, color="grey", ls=":")
            axes[p].set(xlabel=par, ylabel="profile q (Asimov, SM)", ylim=(0, 8))
        axes[0].legend(fontsize=7)
        fig.suptitle(f"WH(ℓνbb), {sample}, {result['luminosity']:g} fb⁻¹")
        fig.tight_layout()
        fig.savefig(FIGURES / f"sbi_wh_profiles_{tag}.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for m, lab in zip(methods, labels, strict=True):
            q = np.array(result[sample][m]["q"])
            cs = ax.contour(axis, axis, q.T, levels=[inference.contour_threshold(0.68, 2),
                                                    inference.contour_threshold(0.95, 2)],
                            colors=[plt.cm.tab10(methods.index(m))], linestyles=["-", "--"])
            cs.collections[0].set_label(lab) if hasattr(cs, "collections") else None
        ax.set(xlabel=amp.PARAMETER_NAMES[0], ylabel=amp.PARAMETER_NAMES[1],
               title=f"68 % (solid) / 95 % (dashed), {sample}")
        handles = [plt.Line2D([], [], color=plt.cm.tab10(i)) for i in range(len(methods))]
        ax.legend(handles, labels, fontsize=7)
        fig.tight_layout()
        fig.savefig(FIGURES / f"sbi_wh_contours_{tag}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    c = sub.add_parser("closure")
    c.add_argument("--n", type=int, default=20_000)
    c.add_argument("--seed", type=int, default=2026)
    lim = sub.add_parser("limits")
    lim.add_argument("--signal", type=Path, required=True)
    lim.add_argument("--background", type=Path, action="append", default=[])
    lim.add_argument("--lumi", type=float, default=300.0)
    lim.add_argument("--seed", type=int, default=2026)
    lim.add_argument("--grid", default="-0.25,0.25,51", help="signal only: low,high,n")
    lim.add_argument("--grid-sb", default="-1,1,51", help="signal + background: low,high,n")
    lim.add_argument("--epochs", type=int, default=20)
    lim.add_argument("--n-theta", type=int, default=300)
    lim.add_argument("--n-per-theta", type=int, default=200)
    args = parser.parse_args()
    if args.part == "closure":
        res = closure(args.n, args.seed)
        _update_results("closure", res)
    else:
        import torch

        torch.set_num_threads(1)

        def parse(text: str) -> tuple[float, float, int]:
            lo, hi, n = (float(v) for v in text.split(","))
            return lo, hi, int(n)

        res = limits(args.signal, args.background, args.lumi, args.seed,
                     {"signal": parse(args.grid), "signal+background": parse(args.grid_sb)}, args.epochs,
                     args.n_theta, args.n_per_theta)
        _update_results("limits", res)
        figures(res)
    print(json.dumps(_summary(res), indent=1))


def _summary(res: object) -> object:
    """The numbers without the q arrays."""
    if isinstance(res, dict):
        return {k: _summary(v) for k, v in res.items() if k not in ("q", "axis")}
    return res


if __name__ == "__main__":
    main()
