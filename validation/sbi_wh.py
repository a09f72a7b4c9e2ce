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
from typing import TYPE_CHECKING

import numpy as np

from nextsm.sbi import histograms, inference
from nextsm.sbi.events import load_events
from nextsm.sbi.simulators.wh import amplitude as amp
from nextsm.sbi.simulators.wh import pythia_gen as pg
from nextsm.sbi.simulators.wh.observables import OBSERVABLE_NAMES, wh_observables

if TYPE_CHECKING:
    from nextsm.sbi.training import TrainConfig

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


def _histogram_limits(axis: np.ndarray, feats: dict, bins: dict, w_ref: np.ndarray, weights_grid: np.ndarray,
                      w_true: np.ndarray, lumi: float, models: dict | None = None) -> dict:
    """Binned Asimov intervals of each feature (adaptive bins with equal reference content); ``models``, if
    given, receives ``hist_NAME: (bin index per event, expected counts on the grid)`` for the toys."""
    out = {}
    for name, feat in feats.items():
        binning = histograms.adaptive_binning(feat, w_ref, bins[name])
        nu = histograms.expected_counts(binning, feat, weights_grid, lumi)
        observed = histograms.expected_counts(binning, feat, w_true[None] / lumi, lumi)[0]
        out[f"hist_{name}"] = _intervals(axis, histograms.binned_log_likelihood(nu, observed))
        if models is not None:
            models[f"hist_{name}"] = (binning.index(feat), nu)
    return out


def _toy_coverage(events, axis: np.ndarray, lumi: float, xsec: np.ndarray, xsec_ref: float, unbinned: dict,
                  binned: dict, truths: list[tuple[float, float]], n_toys: int, rng: np.random.Generator,
                  chunk: int = 200) -> dict:
    """Coverage of the Wilks intervals of every row with Poisson pseudo-experiments drawn from the Asimov half at
    each truth (nextsm.sbi.coverage; docs/sbi.md, "Coverage of the S+B intervals with toys")."""
    from nextsm.sbi import coverage

    out: dict = {"n_toys": n_toys, "truths": [list(t) for t in truths], "rows": {}}
    for truth in truths:
        lam = inference.asimov_weights(events, np.asarray(truth), lumi)
        lls: dict[str, list[np.ndarray]] = {name: [] for name in [*unbinned, *binned]}
        for start in range(0, n_toys, chunk):
            counts = coverage.poisson_pseudo_data(lam, min(chunk, n_toys - start), rng)
            for name, lr in unbinned.items():
                lls[name].append(coverage.unbinned_toy_log_likelihood(lr, counts, xsec, xsec_ref, lumi))
            for name, (index, nu) in binned.items():
                lls[name].append(coverage.binned_toy_log_likelihood(nu, index, counts))
        for name, parts in lls.items():
            stats = coverage.statistics_at_truth(np.concatenate(parts), axis, axis, truth)
            row = coverage.coverage_summary(stats, amp.PARAMETER_NAMES)
            out["rows"].setdefault(name, {})[f"{truth[0]:+.2f},{truth[1]:+.2f}"] = row
    return out


def _neyman_limits(events, axis: np.ndarray, lumi: float, xsec: np.ndarray, xsec_ref: float, unbinned: dict,
                   binned: dict, asimov_ll: dict, n_toys: int, rng: np.random.Generator, step: int = 2) -> dict:
    """Toy-based (Neyman) 1-D intervals of every row at the SM (nextsm.sbi.neyman.expected_neyman_intervals;
    docs/sbi.md, "Neyman intervals for the S+B statistics"), toys drawn from the Asimov half."""
    from nextsm.sbi import coverage, neyman

    def toys_for(name: str):
        def toys_at(truth: np.ndarray, n: int) -> np.ndarray:
            counts = coverage.poisson_pseudo_data(inference.asimov_weights(events, truth, lumi), n, rng)
            if name in unbinned:
                return coverage.unbinned_toy_log_likelihood(unbinned[name], counts, xsec, xsec_ref, lumi)
            index, nu = binned[name]
            return coverage.binned_toy_log_likelihood(nu, index, counts)
        return toys_at

    out: dict = {"n_toys": n_toys, "step": step, "rows": {}}
    for name in [*unbinned, *binned]:
        t0 = time.perf_counter()
        row = neyman.expected_neyman_intervals(toys_for(name), asimov_ll[name], axis, np.zeros(2), n_toys, step=step,
                                               parameter_names=amp.PARAMETER_NAMES, chunk=250)
        row["seconds"] = time.perf_counter() - t0
        out["rows"][name] = row
    return out


def _neyman_regions(events, axis: np.ndarray, lumi: float, xsec: np.ndarray, xsec_ref: float, unbinned: dict,
                    binned: dict, asimov_ll: dict, n_toys: int, rng: np.random.Generator, q_max: float | None) -> dict:
    """Joint (2-D) Neyman regions of every row at the SM (nextsm.sbi.neyman.expected_neyman_region; docs/sbi.md,
    "Neyman intervals for the S+B statistics"), toys drawn from the Asimov half at every tested point."""
    from nextsm.sbi import coverage, neyman

    out: dict = {"n_toys": n_toys, "rows": {}}
    for name in [*unbinned, *binned]:
        def toys_at(truth: np.ndarray, n: int, name: str = name) -> np.ndarray:
            lam = inference.asimov_weights(events, truth, lumi)
            if name in unbinned:
                counts = coverage.poisson_pseudo_data(lam, n, rng)
                return coverage.unbinned_toy_log_likelihood(unbinned[name], counts, xsec, xsec_ref, lumi)
            index, nu = binned[name]  # histograms see only bin counts: one Poisson draw per bin
            return coverage.bin_count_log_likelihood(nu, coverage.poisson_bin_counts(lam, index, nu.shape[1], n, rng))

        t0 = time.perf_counter()
        row = neyman.expected_neyman_region(toys_at, asimov_ll[name], axis, np.zeros(2), n_toys, q_max=q_max,
                                            parameter_names=amp.PARAMETER_NAMES, chunk=250)
        row["seconds"] = time.perf_counter() - t0
        out["rows"][name] = row
    return out


def _train_alices(train, thetas: np.ndarray, n_per_theta: int, epochs: int, xform: np.ndarray,
                  rng: np.random.Generator, names: dict, seconds: dict,
                  which: tuple[str, ...] = ("alices", "alices_ma")) -> dict:
    """Plain ALICES (3 bootstrap members) and morphing-aware ALICES (1 member) on unweighted rows."""
    from nextsm.sbi.sampling import ratio_training_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    out = {}
    if "alices" in which:
        t0 = time.perf_counter()
        out["alices"] = train_estimator("alices", ratio_training_set(train, thetas, n_per_theta, rng),
                                        TrainConfig(epochs=epochs), rng, n_members=3, **names)
        seconds["alices (3 members)"] = time.perf_counter() - t0
    if "alices_ma" in which:
        t0 = time.perf_counter()
        out["alices_ma"] = train_estimator("alices", ratio_training_set(train, thetas, n_per_theta, rng),
                                           TrainConfig(epochs=epochs, morphing_aware=True), rng, xsec_form=xform,
                                           **names)
        seconds["alices_ma"] = time.perf_counter() - t0
    return out


def _member_intervals(axis: np.ndarray, lr_members: np.ndarray, ll_of) -> dict:
    """68 % intervals of each ensemble member (the ensemble spread of the limits)."""
    out: dict = {name: [] for name in amp.PARAMETER_NAMES}
    for lr in lr_members:
        res = _intervals(axis, ll_of(lr))
        for name in amp.PARAMETER_NAMES:
            out[name].append(res[name]["0.68"])
    return out


def _ratio_diagnostics(est, test, train, pts_check: np.ndarray, rng: np.random.Generator, *,
                       classifier: bool = True) -> dict:
    """E_ref[r̂] = 1 (on the Asimov and the training half), ensemble spread, classifier AUC."""
    from nextsm.sbi import diagnostics

    out: dict = {"theta": pts_check.tolist()}
    for label, ev in (("asimov_half", test), ("train_half", train)):
        w = ev.weights(np.zeros((1, 2)))[0]
        lr = est.log_ratio(ev.x, pts_check)
        mean = diagnostics.expectation(lr, w)
        r = np.exp(lr)
        err = np.sqrt(((r - mean[:, None]) ** 2) @ (w / w.sum()) ** 2)
        out[f"calibration_{label}"] = (mean - 1).tolist()
        out[f"calibration_{label}_mc_error"] = err.tolist()
    if est.n_members > 1:
        spread = diagnostics.ensemble_spread(est.log_ratio_members(test.x, pts_check))
        out["ensemble_spread_log_r"] = spread.mean(axis=1).tolist()
    if not classifier:
        return out
    w_ref = test.weights(np.zeros((1, 2)))[0]
    auc = {}
    for th in ([0.3, 0.0], [0.0, 0.3]):
        w_th = test.weights(np.array([th]))[0]
        lr = est.log_ratio(test.x, np.array([th]))[0]
        auc[str(th)] = {"estimator": diagnostics.classifier_test(test.x, w_ref, lr, test.x, w_th, rng),
                        "no_reweighting": diagnostics.classifier_test(test.x, w_ref, np.zeros(len(test)), test.x,
                                                                      w_th, rng)}
    out["classifier_auc"] = auc
    return out


def _reference_variation(est_a, est_b, test, pts_check: np.ndarray) -> dict:
    """RMS difference of log r(x|θ, θ0) from two references, against the RMS of log r itself."""
    from nextsm.sbi import diagnostics

    w = test.weights(np.zeros((1, 2)))[0]
    zero = np.zeros((1, 2))
    a = est_a.log_ratio(test.x, pts_check) - est_a.log_ratio(test.x, zero)
    b = est_b.log_ratio(test.x, pts_check) - est_b.log_ratio(test.x, zero)
    rms = float(np.sqrt(np.sum(w * a**2) / (w.sum() * a.shape[0])))
    return {"rms_difference": diagnostics.reference_variation(a, 0 * a, b, 0 * b, w), "rms_log_r": rms}


def limits(signal: Path, backgrounds: list[Path], lumi: float, seed: int, grids: dict[str, tuple[float, float, int]],
           epochs: int, n_theta: int, n_per_theta: int, members: int = 5, lean: bool = False,
           only: str | None = None, rho_config: TrainConfig | None = None, toys: int = 0,
           toy_truths: list[tuple[float, float]] | None = None, direct: bool = False,
           toy_truths_signal: list[tuple[float, float]] | None = None, neyman: int = 0,
           neyman_rows: tuple[str, ...] = (), neyman_2d: int = 0, neyman_2d_rows: tuple[str, ...] = (),
           neyman_2d_qmax: float | None = None) -> dict:
    """Signal only and S+B (composition) limits with diagnostics; see docs/sbi.md "Expected limits".

    ``lean`` skips the ALICES variants, the reference variation and the classifier tests (a fraction of the
    CPU time: the run on a loaded machine). ``only`` ("alices" or "alices_ma") trains just that ALICES
    variant, signal only: no SALLY, regression, reference variation, classifier tests or S+B; the
    observable histograms are kept as the benchmark and every estimator is also recalibrated on the
    training half.  ``toys`` > 0 adds the coverage of every S+B row with that many pseudo-experiments at each of
    ``toy_truths`` (grid points of the S+B axis; default the SM), drawn from their own random stream, and of
    every signal-only row at ``toy_truths_signal`` (points of the signal grid; default none).
    ``direct`` adds the morphing-aware regression trained on the S+B mixture itself (no ρ̂, no composition;
    docs/sbi.md, "Coverage of the S+B intervals with toys"), on its own random stream.  ``neyman`` > 0 adds
    toy-based (Neyman) intervals of the S+B rows ``neyman_rows`` with that many toys per tested value;
    ``neyman_2d`` > 0 the joint Neyman regions of ``neyman_2d_rows`` (tested where the Asimov q ≤ ``neyman_2d_qmax``)."""
    from nextsm.sbi import composition, diagnostics
    from nextsm.sbi.component_regression import component_training_set
    from nextsm.sbi.estimators.pairwise import train_pairwise_ratio
    from nextsm.sbi.estimators.ratio import xsec_quadratic_form
    from nextsm.sbi.sampling import ratio_training_set, score_training_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    rng = np.random.default_rng(seed)
    names = {"parameter_names": amp.PARAMETER_NAMES, "observable_names": OBSERVABLE_NAMES}
    sig = load_events(signal)
    col = {n: i for i, n in enumerate(OBSERVABLE_NAMES)}
    out: dict = {"luminosity": lumi, "members": members}
    zero = np.zeros((1, 2))

    # ------------------------------------------------------------------ signal only
    grid = grids["signal"]
    axis = np.linspace(*grid[:2], int(grid[2]))
    pts = inference.grid_points(axis, axis)
    check = np.array([[0.1, 0.0], [-0.1, 0.0], [0.0, 0.03], [0.0, -0.03], [0.2, 0.05], [-0.3, 0.3], [0.3, -0.3]])
    train, test = sig.split(0.5, rng)
    sigma_c = np.linalg.solve(train.morphing.matrix, train.benchmark_weights.sum(axis=0))
    xform = xsec_quadratic_form(train.morphing, sigma_c)
    seconds: dict = {}
    sally = None
    if only is None:
        t0 = time.perf_counter()
        sally = train_estimator("sally", score_training_set(train, min(50_000, 4 * len(train)), rng),
                                TrainConfig(epochs=epochs), rng, **names)
        seconds["sally"] = time.perf_counter() - t0
    thetas = rng.uniform(axis[0], axis[-1], (n_theta, 2))  # the training prior covers the scan grid
    ests: dict = {}
    if only is not None:
        out["only"] = only
        lean, backgrounds = True, []
        ests.update(_train_alices(train, thetas, n_per_theta, epochs, xform, rng, names, seconds, which=(only,)))
    elif not lean:
        ests.update(_train_alices(train, thetas, n_per_theta, epochs, xform, rng, names, seconds))
    creg_cfg = TrainConfig(epochs=5 * epochs, patience=8, theta_prior=(float(axis[0]), float(axis[-1])))
    if only is None:
        t0 = time.perf_counter()
        creg = train_estimator("component_regression", component_training_set(train), creg_cfg, rng,
                               xsec_form=xform, n_members=members, **names)
        seconds[f"component_regression ({members} members)"] = time.perf_counter() - t0
        ests["component_regression"] = creg
    ref_b = np.array([0.1, 0.05])
    if not lean:
        creg_b = train_estimator("component_regression", component_training_set(train, theta_ref=ref_b), creg_cfg,
                                 rng, xsec_form=xform, **names)
        alices_b = train_estimator("alices", ratio_training_set(train, thetas, n_per_theta, rng, theta_ref=ref_b),
                                   TrainConfig(epochs=epochs), rng, **names)
    w_true = inference.asimov_weights(test, np.zeros(2), lumi)
    w_train_ref = train.weights(zero)[0]
    xsec = test.xsec(pts)
    xsec_ref = float(test.xsec(zero)[0])

    def ll_raw(lr: np.ndarray) -> np.ndarray:
        return inference.extended_log_likelihood(lr, w_true, xsec, xsec_ref, lumi)

    def ll_self(lr: np.ndarray) -> np.ndarray:  # Asimov-calibrated: E_asimov[r̂] = 1 (control variate)
        return ll_raw(diagnostics.recalibrate(lr, diagnostics.expectation(lr, w_true)))

    res: dict = {"axis": axis.tolist(), "n_train": len(train), "n_test": len(test), "sigma_sm_fb": xsec_ref,
                 "seconds": seconds, "diagnostics": {}}
    toy_signal: dict[str, np.ndarray] = {}  # log r̂ on the grid of the rows whose coverage the toys measure
    for name, est in ests.items():
        lr_members = est.log_ratio_members(test.x, pts)  # one evaluation per estimator (the slow step of ALICES)
        lr = lr_members.mean(axis=0)
        res[name] = _intervals(axis, ll_raw(lr))
        if est.kind == "morphing_aware" or len(train) <= 10_000 or only is not None:  # an independent calibration sample: the train half
            recal = diagnostics.expectation(est.log_ratio(train.x, pts), w_train_ref)
            res[f"{name}_recalibrated"] = _intervals(axis, ll_raw(diagnostics.recalibrate(lr, recal)))
            if toys:
                toy_signal[f"{name}_recalibrated"] = diagnostics.recalibrate(lr, recal)
        res[f"{name}_asimov_calibrated"] = _intervals(axis, ll_self(lr))
        if toys:
            toy_signal[name] = lr
            toy_signal[f"{name}_asimov_calibrated"] = diagnostics.recalibrate(lr, diagnostics.expectation(lr, w_true))
        diag = _ratio_diagnostics(est, test, train, check, rng, classifier=not lean)
        diag["histories"] = [{"best_epoch": h["best_epoch"], "epochs_run": len(h["train"]),
                              "train_loss": h["train"][h["best_epoch"]], "validation_loss": h["validation"][h["best_epoch"]]}
                             for h in est.card["histories"]]
        if est.n_members > 1:
            diag["member_intervals_68_raw"] = _member_intervals(axis, lr_members, ll_raw)
            diag["member_intervals_68_asimov_calibrated"] = _member_intervals(axis, lr_members, ll_self)
        res["diagnostics"][name] = diag
    if not lean:
        res["diagnostics"]["reference_variation"] = {
            "alices": _reference_variation(ests["alices"], alices_b, test, check),
            "component_regression": _reference_variation(creg, creg_b, test, check)}
    if sally is not None:  # the Asimov half's own MC fluctuation: MLE shift of the SALLY-linearised likelihood, in σ
        t_hat = sally.score(test.x)
        fisher = (t_hat * w_true[:, None]).T @ t_hat
        shift = np.linalg.solve(fisher, w_true @ t_hat)
        res["diagnostics"]["asimov_mc_shift_in_sigma"] = (shift / np.sqrt(np.diag(np.linalg.inv(fisher)))).tolist()
    res["diagnostics"]["asimov_ess"] = float(w_true.sum() ** 2 / (w_true**2).sum())
    res["diagnostics"]["asimov_expected_events"] = float(w_true.sum())
    weights_grid = test.weights(pts)
    w_ref = test.weights(zero)[0]
    feats = {"q_cos_delta_plus": test.x[:, [col["q_cos_delta_plus"]]], "mt_lvbb": test.x[:, [col["mt_lvbb"]]],
             "q_cos_delta_plus_x_mt_lvbb": test.x[:, [col["q_cos_delta_plus"], col["mt_lvbb"]]]}
    if sally is not None:
        feats = {"sally": sally.score(test.x), **feats}
    bins = {"sally": 8, "q_cos_delta_plus": 10, "mt_lvbb": 10, "q_cos_delta_plus_x_mt_lvbb": [6, 6]}
    toy_signal_binned: dict = {}
    res.update(_histogram_limits(axis, feats, bins, w_ref, weights_grid, w_true, lumi, toy_signal_binned))
    if toys and toy_truths_signal:
        t0 = time.perf_counter()
        res["toy_coverage"] = _toy_coverage(test, axis, lumi, xsec, xsec_ref, toy_signal, toy_signal_binned,
                                            toy_truths_signal, toys, np.random.default_rng([seed, 4]))
        seconds[f"toys ({toys} per truth)"] = time.perf_counter() - t0
    del toy_signal
    out["signal"] = res
    if not backgrounds:
        return out

    # ------------------------------------------------------------------ signal + background by composition
    bkg = pg.combine_samples([load_events(b) for b in backgrounds])
    bkg_train, bkg_test = bkg.split(0.5, rng)
    grid = grids["signal+background"]
    axis = np.linspace(*grid[:2], int(grid[2]))
    pts = inference.grid_points(axis, axis)
    t0 = time.perf_counter()
    rho_config = rho_config or TrainConfig(epochs=40, patience=6)
    rho = train_pairwise_ratio(train.x, bkg_train.x, rng, config=rho_config, n_members=5,
                               weights_numerator=w_train_ref, weights_denominator=bkg_train.weights(zero)[0])
    rho = rho.calibrated(bkg_train.x, bkg_train.weights(zero)[0])
    seconds_sb = {"rho (5 members)": time.perf_counter() - t0}
    t0 = time.perf_counter()  # wider prior for the wider S+B grid
    creg_sb = train_estimator("component_regression", component_training_set(train),
                              TrainConfig(epochs=5 * epochs, patience=8, theta_prior=(float(axis[0]), float(axis[-1]))),
                              rng, xsec_form=xform, n_members=members, **names)
    seconds_sb[f"component_regression ({members} members)"] = time.perf_counter() - t0
    signal_ratios = {"component_regression": creg_sb}
    if not lean:
        thetas_sb = rng.uniform(axis[0], axis[-1], (n_theta, 2))
        t0 = time.perf_counter()
        signal_ratios["alices"] = train_estimator("alices", ratio_training_set(train, thetas_sb, n_per_theta, rng),
                                                  TrainConfig(epochs=epochs), rng, **names)
        seconds_sb["alices (signal only)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sb_train = pg.combine_samples([train, bkg_train])
    sally_mix = train_estimator("sally", score_training_set(sb_train, min(50_000, 4 * len(sb_train)), rng),
                                TrainConfig(epochs=epochs), rng, **names)
    seconds_sb["sally on the mixture"] = time.perf_counter() - t0
    sb_test = pg.combine_samples([test, bkg_test])
    w_sb = inference.asimov_weights(sb_test, np.zeros(2), lumi)
    xsec_sb = sb_test.xsec(pts)
    xsec_sb_ref = float(sb_test.xsec(zero)[0])
    nu_s = test.xsec(pts)
    nu_s0 = float(test.xsec(zero)[0])
    nu_b = float(bkg_test.xsec(zero)[0])
    log_rho = rho.log_ratio(sb_test.x)
    is_sig = sb_test.process == 0
    w_b_test = bkg_test.weights(zero)[0]
    res_sb: dict = {"axis": axis.tolist(), "n_train": len(train) + len(bkg_train), "n_test": len(sb_test),
                    "sigma_sm_fb": xsec_sb_ref, "sigma_background_fb": nu_b, "seconds": seconds_sb,
                    "n_selected_by_process": {name: int((sb_test.process == i).sum() + (sb_train.process == i).sum())
                                              for i, name in enumerate(sb_test.process_names)},
                    "diagnostics": {"rho": {
                        "auc_asimov_half": diagnostics.weighted_auc(log_rho, is_sig.astype(float), sb_test.weights(zero)[0]
                                                                    / np.where(is_sig, nu_s0, nu_b)),
                        "E_bkg[rho]-1 (asimov half)": float(np.exp(rho.log_ratio(bkg_test.x)) @ w_b_test / w_b_test.sum() - 1),
                        "E_sig[1/rho]-1 (asimov half)": float(np.exp(-rho.log_ratio(test.x)) @ w_true / w_true.sum() - 1),
                        "background_ess_asimov_half": float(w_b_test.sum() ** 2 / (w_b_test**2).sum()),
                        "histories": [{"best_epoch": h.best_epoch, "epochs_run": len(h.train)} for h in rho.histories]}}}

    def ll_sb(lr: np.ndarray) -> np.ndarray:
        return inference.extended_log_likelihood(lr, w_sb, xsec_sb, xsec_sb_ref, lumi)

    def ll_sb_self(lr: np.ndarray) -> np.ndarray:
        return ll_sb(diagnostics.recalibrate(lr, diagnostics.expectation(lr, w_sb)))

    toy_unbinned: dict[str, np.ndarray] = {}  # log r̂ on the grid of the rows whose coverage the toys measure

    def keep(name: str, lr: np.ndarray) -> None:
        calibrated = f"{name}_asimov_calibrated"
        if toys or name in neyman_rows or name in neyman_2d_rows:  # the Neyman steps keep only their rows (≈ 1 GB each)
            toy_unbinned[name] = lr
        if toys or calibrated in neyman_rows or calibrated in neyman_2d_rows:
            toy_unbinned[calibrated] = diagnostics.recalibrate(lr, diagnostics.expectation(lr, w_sb))

    signal_log_ratios: dict[str, np.ndarray] = {}
    # a learned observable: the composed log r̂ at one CP-odd and one CP-even point, binned like the other
    # histograms (templates are MC sums, so ρ̂'s errors cost sensitivity here, not validity)
    at = [int(np.argmin(np.abs(pts - np.array(t)).sum(axis=1))) for t in ((0.3, 0.0), (0.0, -0.3))]
    ratio_feats: dict[str, np.ndarray] = {}
    for name, est in signal_ratios.items():
        lr_s = signal_log_ratios[name] = est.log_ratio(sb_test.x, pts)
        lr = composition.composed_log_ratio(lr_s, log_rho, nu_s, nu_s0, nu_b)
        ratio_feats[f"{name}_composed_ratio"] = lr[at].T
        res_sb[f"composed_{name}"] = _intervals(axis, ll_sb(lr))
        res_sb[f"composed_{name}_asimov_calibrated"] = _intervals(axis, ll_sb_self(lr))
        keep(f"composed_{name}", lr)
        res_sb["diagnostics"][f"composed_{name}_calibration"] = (diagnostics.expectation(
            lr[:: max(1, len(pts) // 40)], w_sb) - 1).tolist()

    # ρ̂ refitted on 3/4 of the training halves and histogram-calibrated on the held-out quarter; its own
    # random stream, so every row above is unchanged (docs/sbi.md, "Signal + background with 7·10⁵ generated tt̄")
    rng_cal = np.random.default_rng([seed, 1])
    sig_fit, sig_cal = train.split(0.75, rng_cal)
    bkg_fit, bkg_cal = bkg_train.split(0.75, rng_cal)
    t0 = time.perf_counter()
    rho_fit = train_pairwise_ratio(sig_fit.x, bkg_fit.x, rng_cal, config=rho_config,
                                   n_members=5, weights_numerator=sig_fit.weights(zero)[0],
                                   weights_denominator=bkg_fit.weights(zero)[0])
    rho_cal = diagnostics.histogram_calibration(rho_fit.log_ratio(sig_cal.x), sig_cal.weights(zero)[0],
                                                rho_fit.log_ratio(bkg_cal.x), bkg_cal.weights(zero)[0], n_bins=20)
    seconds_sb["rho on 3/4 + histogram calibration"] = time.perf_counter() - t0
    log_rho_hc = rho_cal(rho_fit.log_ratio(sb_test.x))
    res_sb["diagnostics"]["rho_histogram_calibrated"] = {
        "E_bkg[rho]-1 (asimov half)": float(np.exp(rho_cal(rho_fit.log_ratio(bkg_test.x))) @ w_b_test / w_b_test.sum() - 1),
        "E_sig[1/rho]-1 (asimov half)": float(np.exp(-rho_cal(rho_fit.log_ratio(test.x))) @ w_true / w_true.sum() - 1),
        "background_ess_calibration_quarter": float(bkg_cal.weights(zero)[0].sum() ** 2
                                                    / (bkg_cal.weights(zero)[0] ** 2).sum()),
        "log_correction": rho_cal.log_correction.tolist()}
    for name, lr_s in signal_log_ratios.items():
        lr = composition.composed_log_ratio(lr_s, log_rho_hc, nu_s, nu_s0, nu_b)
        res_sb[f"composed_{name}_rho_hcal"] = _intervals(axis, ll_sb(lr))
        res_sb[f"composed_{name}_rho_hcal_asimov_calibrated"] = _intervals(axis, ll_sb_self(lr))
        keep(f"composed_{name}_rho_hcal", lr)
    del signal_log_ratios
    if direct:  # the mixture's own component regression: background events carry only the constant component
        rng_direct = np.random.default_rng([seed, 3])
        sigma_c_sb = np.linalg.solve(sb_train.morphing.matrix, sb_train.benchmark_weights.sum(axis=0))
        t0 = time.perf_counter()
        creg_direct = train_estimator(
            "component_regression", component_training_set(sb_train),
            TrainConfig(epochs=5 * epochs, patience=8, theta_prior=(float(axis[0]), float(axis[-1]))), rng_direct,
            xsec_form=xsec_quadratic_form(sb_train.morphing, sigma_c_sb), n_members=members, **names)
        seconds_sb[f"component_regression on the mixture ({members} members)"] = time.perf_counter() - t0
        lr = creg_direct.log_ratio(sb_test.x, pts)
        res_sb["direct_component_regression"] = _intervals(axis, ll_sb(lr))
        res_sb["direct_component_regression_asimov_calibrated"] = _intervals(axis, ll_sb_self(lr))
        res_sb["diagnostics"]["direct_component_regression_calibration"] = (diagnostics.expectation(
            lr[:: max(1, len(pts) // 40)], w_sb) - 1).tolist()
        keep("direct_component_regression", lr)
    weights_grid = sb_test.weights(pts)
    w_ref = sb_test.weights(zero)[0]
    t_s = sally.score(sb_test.x)
    grad_s = test.morphing.xsec_gradient(zero, test.benchmark_weights)[0]
    t_sb = composition.composed_score(t_s, log_rho, nu_s0, nu_b, grad_s)
    feats = {"sally_composed": t_sb, "sally_composed_5x5": t_sb,
             "sally": sally_mix.score(sb_test.x), "q_cos_delta_plus": sb_test.x[:, [col["q_cos_delta_plus"]]],
             "mt_lvbb": sb_test.x[:, [col["mt_lvbb"]]],
             "q_cos_delta_plus_x_mt_lvbb": sb_test.x[:, [col["q_cos_delta_plus"], col["mt_lvbb"]]]}
    bins.update({"sally_composed": 8, "sally_composed_5x5": 5, **{k: [6, 6] for k in ratio_feats}})
    feats.update(ratio_feats)
    toy_binned: dict = {}
    res_sb.update(_histogram_limits(axis, feats, bins, w_ref, weights_grid, w_sb, lumi, toy_binned))
    if toys:
        t0 = time.perf_counter()
        res_sb["toy_coverage"] = _toy_coverage(sb_test, axis, lumi, xsec_sb, xsec_sb_ref, toy_unbinned, toy_binned,
                                               toy_truths or [(0.0, 0.0)], toys, np.random.default_rng([seed, 2]))
        seconds_sb[f"toys ({toys} per truth)"] = time.perf_counter() - t0
    def neyman_inputs(rows: tuple[str, ...]) -> tuple[dict, dict, dict]:
        rows_u = {k: v for k, v in toy_unbinned.items() if k in rows}
        rows_b = {k: v for k, v in toy_binned.items() if k in rows}
        asimov_ll = {k: inference.extended_log_likelihood(v, w_sb, xsec_sb, xsec_sb_ref, lumi) for k, v in rows_u.items()}
        for k, (index, nu) in rows_b.items():
            observed = np.bincount(index, weights=w_sb, minlength=nu.shape[1])
            asimov_ll[k] = histograms.binned_log_likelihood(nu, observed)
        return rows_u, rows_b, asimov_ll

    if neyman:
        t0 = time.perf_counter()
        res_sb["neyman"] = _neyman_limits(sb_test, axis, lumi, xsec_sb, xsec_sb_ref, *neyman_inputs(neyman_rows),
                                          neyman, np.random.default_rng([seed, 5]))
        seconds_sb[f"neyman ({neyman} toys per tested value)"] = time.perf_counter() - t0
    if neyman_2d:
        t0 = time.perf_counter()
        res_sb["neyman_2d"] = _neyman_regions(sb_test, axis, lumi, xsec_sb, xsec_sb_ref, *neyman_inputs(neyman_2d_rows),
                                              neyman_2d, np.random.default_rng([seed, 6]), neyman_2d_qmax)
        seconds_sb[f"neyman 2-D ({neyman_2d} toys per tested point)"] = time.perf_counter() - t0
    out["signal+background"] = res_sb
    return out


def asimov_noise(signal: Path, lumi: float, seeds: list[int]) -> dict:
    """The MC noise of an Asimov fit whose model and data come from independent MC halves (no network involved).

    The 2-D Q_ℓ cos δ⁺ × m_T histogram (6×6 adaptive) is fitted to the Asimov counts of one half with templates
    from the same half (the histogram benchmark of ``limits``) and from the other half (what an estimator
    trained on the other half does); the centre of the 68 % c_HW~ interval in units of its half-width.
    """
    events = load_events(signal)
    col = {n: i for i, n in enumerate(OBSERVABLE_NAMES)}
    axis = np.linspace(-0.3, 0.3, 61)
    pts = inference.grid_points(axis, axis)
    zero = np.zeros((1, 2))
    out: dict = {"signal": str(signal), "n_events": len(events), "seeds": seeds, "same_half": [], "other_half": []}
    for seed in seeds:
        train, test = events.split(0.5, np.random.default_rng(seed))
        cols = [col["q_cos_delta_plus"], col["mt_lvbb"]]
        binning = histograms.adaptive_binning(train.x[:, cols], train.weights(zero)[0], [6, 6])
        observed = histograms.expected_counts(binning, test.x[:, cols], test.weights(zero), lumi)[0]
        for key, model in (("same_half", test), ("other_half", train)):
            nu = histograms.expected_counts(binning, model.x[:, cols], model.weights(pts), lumi)
            ax, q = inference.profile(inference.scan_2d(axis, axis, histograms.binned_log_likelihood(nu, observed)), 0)
            iv = inference.interval_from_profile(ax, q, 0.68)
            out[key].append({"interval_68": [iv.low, iv.high], "centre_over_half_width": (iv.low + iv.high) / iv.width})
    for key in ("same_half", "other_half"):
        c = np.array([v["centre_over_half_width"] for v in out[key]])
        out[f"{key}_rms_shift"] = float(np.sqrt(np.mean(c**2)))
    return out


def figures(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"alices": "ALICES (raw)", "alices_asimov_calibrated": "ALICES, calibrated",
              "component_regression": "morphing-aware regression (raw)",
              "component_regression_asimov_calibrated": "morphing-aware regression, calibrated",
              "composed_alices_asimov_calibrated": "ALICES ∘ ρ, calibrated",
              "composed_component_regression": "regression ∘ ρ (raw)",
              "composed_component_regression_asimov_calibrated": "regression ∘ ρ, calibrated",
              "hist_sally_composed": "SALLY ∘ ρ (histogram)", "hist_sally": "SALLY (histogram of t̂)",
              "hist_q_cos_delta_plus": "Q_ℓ cos δ⁺", "hist_mt_lvbb": "m_T(ℓνbb)",
              "hist_q_cos_delta_plus_x_mt_lvbb": "Q_ℓ cos δ⁺ × m_T"}
    # not drawn: the unbinned S+B rows and the histograms of the composed log r̂, whose Wilks intervals fail the
    # toy coverage (docs/sbi.md, "Coverage of the S+B intervals with toys")
    for sample in (k for k in ("signal", "signal+background") if k in result):
        tag = "sig" if sample == "signal" else "sb"
        axis = np.array(result[sample]["axis"])
        methods = tuple(m for m in labels if m in result[sample])
        if sample != "signal":  # the unbinned S+B rows fail the toy coverage (docs/sbi.md): histograms only
            labels = {**labels, "hist_sally": "SALLY trained on the mixture (histogram)"}
            methods = tuple(m for m in methods if m.startswith("hist"))
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for p, par in enumerate(amp.PARAMETER_NAMES):
            for m in methods:
                axes[p].plot(axis, result[sample][m][par]["q"], label=labels[m],
                             ls="--" if m.startswith("hist") else "-")
            for thr in (0.989, 3.84):
                axes[p].axhline(thr, color="grey", ls=":")
            axes[p].set(xlabel=par, ylabel="profile q (Asimov, SM)", ylim=(0, 8))
        axes[0].legend(fontsize=7)
        fig.suptitle(f"WH(ℓνbb), {sample}, {result['luminosity']:g} fb⁻¹")
        fig.tight_layout()
        fig.savefig(FIGURES / f"sbi_wh_profiles_{tag}.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for m in methods:
            q = np.array(result[sample][m]["q"])
            ax.contour(axis, axis, q.T, levels=[inference.contour_threshold(0.68, 2),
                                                    inference.contour_threshold(0.95, 2)],
                            colors=[plt.cm.tab20(methods.index(m))], linestyles=["-", "--"])
        ax.set(xlabel=amp.PARAMETER_NAMES[0], ylabel=amp.PARAMETER_NAMES[1],
               title=f"68 % (solid) / 95 % (dashed), {sample}")
        handles = [plt.Line2D([], [], color=plt.cm.tab20(i)) for i in range(len(methods))]
        ax.legend(handles, [labels[m] for m in methods], fontsize=6)
        fig.tight_layout()
        fig.savefig(FIGURES / f"sbi_wh_contours_{tag}.png", dpi=110)
        plt.close(fig)


_NEYMAN_LABELS = {"composed_component_regression_asimov_calibrated": "regression ∘ ρ̂, calibrated",
                  "composed_alices_asimov_calibrated": "ALICES ∘ ρ̂, calibrated",
                  "composed_alices_rho_hcal_asimov_calibrated": "ALICES ∘ ρ̂ (ρ̂ hist.-cal.), calibrated",
                  "direct_component_regression_asimov_calibrated": "regression on the mixture, calibrated",
                  "hist_sally_composed": "SALLY ∘ ρ̂ score histogram (8×8)",
                  "hist_alices_composed_ratio": "histogram of ALICES ∘ ρ̂ log r̂ (6×6)",
                  "hist_q_cos_delta_plus_x_mt_lvbb": "2-D histogram Q_ℓ cos δ⁺ × m_T (6×6)"}


def neyman_figure(result: dict) -> None:
    """Asimov profile statistics of the S+B rows with their toy (Neyman) critical values: where a curve stays
    below its own dashed line, that value is inside the Neyman interval (docs/sbi.md, "Neyman intervals")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sb = result["signal+background"]
    axis = np.array(sb["axis"])
    rows = [m for m in _NEYMAN_LABELS if m in sb["neyman"]["rows"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for p, par in enumerate(amp.PARAMETER_NAMES):
        for i, m in enumerate(rows):
            belt = sb["neyman"]["rows"][m][par]["belt"]
            axes[p].plot(axis, sb[m][par]["q"], color=f"C{i}", label=_NEYMAN_LABELS[m])
            axes[p].plot(belt["poi"], belt["critical_0.68"], color=f"C{i}", ls="--")
        axes[p].axhline(0.989, color="grey", ls=":")
        axes[p].set(xlabel=par, ylabel="Asimov profile t (solid), toy c₆₈ (dashed)", ylim=(0, 12))
    axes[0].legend(fontsize=7)
    fig.suptitle(f"WH(ℓνbb), signal + background, {result['luminosity']:g} fb⁻¹: Neyman 68 % critical values "
                 f"({sb['neyman']['n_toys']} toys per point); dotted: Wilks")
    fig.tight_layout()
    fig.savefig(FIGURES / "sbi_wh_neyman_sb.png", dpi=110)
    plt.close(fig)


def neyman_2d_figure(result: dict) -> None:
    """Joint 68/95 % regions of the S+B rows of the 2-D Neyman step: Wilks (dashed, q < χ²₂) against Neyman (solid,
    q ≤ the toys' critical value at each tested point); grey dots: the tested points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sb = result["signal+background"]
    axis = np.array(sb["axis"])
    rows = list(sb["neyman_2d"]["rows"])
    fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 4.6), squeeze=False)
    for ax, m in zip(axes[0], rows, strict=True):
        reg = sb["neyman_2d"]["rows"][m]
        q = np.array(sb[m]["q"])
        for cl, color in (("0.68", "C0"), ("0.95", "C1")):
            crit = np.array([[np.nan if v is None else v for v in row] for row in reg["belt"][f"critical_{cl}"]])
            ax.contour(axis, axis, q.T, levels=[reg[cl]["chi2"]], colors=color, linestyles="--")
            ax.contour(axis, axis, np.where(np.isnan(crit), 1e3, q - crit).T, levels=[0.0], colors=color)
            ax.plot([], [], color=color, label=f"{float(cl):.0%}: Neyman (solid), Wilks (dashed)")
        tested = ~np.isnan(np.array([[np.nan if v is None else v for v in row] for row in reg["belt"]["critical_0.68"]]))
        ii, jj = np.nonzero(tested)
        ax.plot(axis[ii], axis[jj], ".", color="0.8", ms=2, zorder=0)
        ax.plot([0], [0], "k+")
        lo, hi = axis[ii].min() - 0.06, axis[ii].max() + 0.06
        lo1, hi1 = axis[jj].min() - 0.06, axis[jj].max() + 0.06
        ax.set(xlabel=amp.PARAMETER_NAMES[0], ylabel=amp.PARAMETER_NAMES[1], xlim=(lo, hi), ylim=(lo1, hi1),
               title=_NEYMAN_LABELS.get(m, m))
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"WH(ℓνbb), signal + background, {result['luminosity']:g} fb⁻¹: joint Neyman regions "
                 f"({sb['neyman_2d']['n_toys']} toys per tested point)")
    fig.tight_layout()
    fig.savefig(FIGURES / "sbi_wh_neyman_2d_sb.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    noise = sub.add_parser("asimov-noise", help="MC noise of an Asimov fit with model and data from different halves")
    noise.add_argument("--signal", type=Path, required=True)
    noise.add_argument("--lumi", type=float, default=300.0)
    noise.add_argument("--seeds", type=int, nargs="+", default=list(range(2026, 2036)))
    t = sub.add_parser("tables", help="markdown tables from a limits result JSON")
    t.add_argument("result", type=Path)
    c = sub.add_parser("closure")
    c.add_argument("--n", type=int, default=20_000)
    c.add_argument("--seed", type=int, default=2026)
    lim = sub.add_parser("limits")
    lim.add_argument("--signal", type=Path, required=True)
    lim.add_argument("--background", type=Path, action="append", default=[])
    lim.add_argument("--lumi", type=float, default=300.0)
    lim.add_argument("--seed", type=int, default=2026)
    lim.add_argument("--grid", default="-0.3,0.3,41", help="signal only: low,high,n")
    lim.add_argument("--grid-sb", default="-1.2,1.2,41", help="signal + background: low,high,n")
    lim.add_argument("--epochs", type=int, default=20)
    lim.add_argument("--n-theta", type=int, default=300)
    lim.add_argument("--n-per-theta", type=int, default=200)
    lim.add_argument("--members", type=int, default=5, help="ensemble size of the morphing-aware regression")
    lim.add_argument("--lean", action="store_true", help="skip ALICES, reference variation and classifier tests")
    lim.add_argument("--only", choices=("alices", "alices_ma"), default=None,
                     help="signal only, just this ALICES variant (results key limits_<only>)")
    lim.add_argument("--out", type=Path, default=None, help="also write the full result JSON here")
    lim.add_argument("--rho-hidden", default="64,64", help="hidden widths of the signal/background classifier")
    lim.add_argument("--rho-weight-decay", type=float, default=0.0, help="its AdamW weight decay")
    lim.add_argument("--toys", type=int, default=0, help="pseudo-experiments per truth for the S+B coverage")
    lim.add_argument("--toy-truth", action="append", default=[],
                     help="a truth c_HWtil,c_HW for the toys (a point of --grid-sb; repeatable; default 0,0)")
    lim.add_argument("--toy-truth-signal", action="append", default=[],
                     help="a truth c_HWtil,c_HW for signal-only toys (a point of --grid; repeatable; default none)")
    lim.add_argument("--direct", action="store_true",
                     help="also the morphing-aware regression trained on the S+B mixture (no composition)")
    lim.add_argument("--neyman", type=int, default=0,
                     help="toys per tested value for Neyman intervals of the S+B rows --neyman-row")
    lim.add_argument("--neyman-row", action="append", default=[], help="an S+B row for --neyman (repeatable)")
    lim.add_argument("--neyman-2d", type=int, default=0,
                     help="toys per tested point for the joint Neyman regions of the S+B rows --neyman-2d-row")
    lim.add_argument("--neyman-2d-row", action="append", default=[], help="an S+B row for --neyman-2d (repeatable)")
    lim.add_argument("--neyman-2d-qmax", type=float, default=None,
                     help="test the points with Asimov q up to this (default 3 χ²₂(95 %) = 18)")
    lim.add_argument("--key", default="limits", help="results key in validation/results/sbi_wh.json")
    args = parser.parse_args()
    if args.part == "asimov-noise":
        res = asimov_noise(args.signal, args.lumi, args.seeds)
        _update_results("asimov_noise", res)
        print(json.dumps(_summary(res), indent=1))
        return
    if args.part == "tables":
        print(tables(json.loads(args.result.read_text())))
        return
    if args.part == "closure":
        res = closure(args.n, args.seed)
        _update_results("closure", res)
    else:
        import torch

        torch.set_num_threads(1)

        def parse(text: str) -> tuple[float, float, int]:
            lo, hi, n = (float(v) for v in text.split(","))
            return lo, hi, int(n)

        from nextsm.sbi.training import TrainConfig

        res = limits(args.signal, args.background, args.lumi, args.seed,
                     {"signal": parse(args.grid), "signal+background": parse(args.grid_sb)}, args.epochs,
                     args.n_theta, args.n_per_theta, args.members, args.lean, args.only,
                     TrainConfig(hidden=tuple(int(v) for v in args.rho_hidden.split(",")), epochs=40, patience=6,
                                 weight_decay=args.rho_weight_decay),
                     args.toys, [tuple(float(v) for v in t.split(",")) for t in args.toy_truth] or None,
                     args.direct, [tuple(float(v) for v in t.split(",")) for t in args.toy_truth_signal] or None,
                     args.neyman, tuple(args.neyman_row), args.neyman_2d, tuple(args.neyman_2d_row),
                     args.neyman_2d_qmax)
        if args.out is not None:
            args.out.write_text(json.dumps(res))
        if args.only:
            _update_results(f"limits_{args.only}", res)
        else:
            _update_results(args.key, res)
            if args.key == "limits":
                figures(res)
            if "neyman" in res.get("signal+background", {}):
                neyman_figure(res)
            if "neyman_2d" in res.get("signal+background", {}):
                neyman_2d_figure(res)
    print(json.dumps(_summary(res), indent=1))


_ROWS = {"signal": (("component_regression_asimov_calibrated", "morphing-aware regression, K members, Asimov-calibrated"),
                    ("component_regression_recalibrated", "morphing-aware regression, recalibrated on the training half"),
                    ("component_regression", "morphing-aware regression, raw"),
                    ("alices_asimov_calibrated", "ALICES (3 members), Asimov-calibrated"),
                    ("alices_recalibrated", "ALICES (3 members), recalibrated on the training half"),
                    ("alices", "ALICES (3 members), raw"),
                    ("alices_ma_asimov_calibrated", "ALICES morphing-aware (1 member), Asimov-calibrated"),
                    ("alices_ma", "ALICES morphing-aware (1 member), raw"),
                    ("hist_sally", "SALLY, histogram of t̂ (8×8 adaptive)"),
                    ("hist_q_cos_delta_plus", "histogram of Q_ℓ cos δ⁺ (10)"),
                    ("hist_mt_lvbb", "histogram of m_T(ℓνbb) (10)"),
                    ("hist_q_cos_delta_plus_x_mt_lvbb", "2-D histogram Q_ℓ cos δ⁺ × m_T (6×6)")),
         "signal+background": (
             ("composed_component_regression_asimov_calibrated", "regression ∘ ρ̂ (composition), Asimov-calibrated"),
             ("composed_component_regression", "regression ∘ ρ̂ (composition), raw"),
             ("composed_component_regression_rho_hcal_asimov_calibrated",
              "regression ∘ ρ̂ histogram-calibrated on held-out events, Asimov-calibrated"),
             ("composed_component_regression_rho_hcal", "regression ∘ ρ̂ histogram-calibrated, raw"),
             ("composed_alices_asimov_calibrated", "ALICES ∘ ρ̂ (composition), Asimov-calibrated"),
             ("composed_alices", "ALICES ∘ ρ̂ (composition), raw"),
             ("composed_alices_rho_hcal_asimov_calibrated",
              "ALICES ∘ ρ̂ histogram-calibrated on held-out events, Asimov-calibrated"),
             ("hist_sally_composed", "SALLY ∘ ρ̂: histogram of f(x)[t̂_s + ∇log σ_s] (8×8)"),
             ("hist_sally_composed_5x5", "SALLY ∘ ρ̂, the same with 5×5 bins"),
             ("hist_alices_composed_ratio", "ALICES ∘ ρ̂: 2-D histogram of log r̂ at (0.3, 0) and (0, −0.3) (6×6)"),
             ("hist_component_regression_composed_ratio", "regression ∘ ρ̂: the same histogram (6×6)"),
             ("hist_sally", "SALLY trained on the mixture, histogram (8×8)"),
             ("hist_q_cos_delta_plus", "histogram of Q_ℓ cos δ⁺ (10)"),
             ("hist_mt_lvbb", "histogram of m_T(ℓνbb) (10)"),
             ("hist_q_cos_delta_plus_x_mt_lvbb", "2-D histogram Q_ℓ cos δ⁺ × m_T (6×6)"))}


def tables(res: dict) -> str:
    """Markdown tables of the intervals (docs/sbi.md)."""
    def iv(v: list, lim: float) -> str:
        lo = f"<{-lim:g}" if not np.isfinite(v[0]) else f"{v[0]:+.3f}"
        hi = f">{lim:g}" if not np.isfinite(v[1]) else f"{v[1]:+.3f}"
        return f"[{lo}, {hi}]"

    lines = []
    for sample, rows in _ROWS.items():
        if sample not in res:
            continue
        r = res[sample]
        lim = r["axis"][-1]
        lines += [f"**{sample}** (train {r['n_train']}, Asimov {r['n_test']} events, σ×eff = {r['sigma_sm_fb']:.4g} fb)",
                  "", "| method | c_HW~ 68 % | c_HW~ 95 % | c_HW 68 % | c_HW 95 % |", "|---|---|---|---|---|"]
        for key, label in rows:
            if key in r:
                cells = [iv(r[key][p][cl], lim) for p in amp.PARAMETER_NAMES for cl in ("0.68", "0.95")]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    ney = res.get("signal+background", {}).get("neyman")
    if ney:
        lim = res["signal+background"]["axis"][-1]
        lines += [f"**signal+background, Neyman** ({ney['n_toys']} toys per tested value; Wilks = Asimov interval; "
                  "coverage at the SM: Neyman / Wilks, same toys)", "",
                  "| method | parameter | Wilks 68 % | Neyman 68 %, Asimov | median of toys | Neyman 95 %, Asimov "
                  "| coverage 68 % | coverage 95 % |", "|---|---|---|---|---|---|---|---|"]
        for key, label in _NEYMAN_LABELS.items():
            if key not in ney["rows"]:
                continue
            for p in amp.PARAMETER_NAMES:
                n = ney["rows"][key][p]
                def asimov(ends: list) -> str:
                    return iv([np.nan if v is None else v for v in ends], lim)

                cells = [iv(res["signal+background"][key][p]["0.68"], lim), asimov(n["0.68"]["asimov"]),
                         iv(n["0.68"]["median"], lim), asimov(n["0.95"]["asimov"]),
                         *(f"{n[cl]['coverage']:.2f} / {n[cl]['wilks_coverage']:.2f}" for cl in ("0.68", "0.95"))]
                lines.append(f"| {label} | {p} | " + " | ".join(cells) + " |")
    ney2 = res.get("signal+background", {}).get("neyman_2d")
    if ney2:
        lines += ["", f"**signal+background, joint Neyman regions** ({ney2['n_toys']} toys per tested point; extent "
                  "of the region along each coupling; c/χ²₂ on the edge of the Neyman region: median [min, max])", "",
                  "| method | CL | points Neyman / Wilks | c_HW~ Neyman (Wilks) | c_HW Neyman (Wilks) | c/χ²₂ on the edge "
                  "| Wilks coverage at SM |", "|---|---|---|---|---|---|---|"]
        for key, reg in ney2["rows"].items():
            for cl in ("0.68", "0.95"):
                r = reg[cl]
                ext = [f"[{r['neyman_extent'][p][0]:+.2f}, {r['neyman_extent'][p][1]:+.2f}] "
                       f"([{r['wilks_extent'][p][0]:+.2f}, {r['wilks_extent'][p][1]:+.2f}])" for p in amp.PARAMETER_NAMES]
                e = r["critical_over_chi2_on_edge"]
                ratio = f"{e[1]:.2f} [{e[0]:.2f}, {e[2]:.2f}]" if e else "–"
                lines.append(f"| {_NEYMAN_LABELS.get(key, key)} | {cl} | {r['neyman_points']} / {r['wilks_points']}"
                             f"{' (open)' if r['open'] else ''} | {ext[0]} | {ext[1]} | {ratio} "
                             f"| {r['wilks_coverage_at_truth']:.2f} |")
    return "\n".join(lines)


def _summary(res: object) -> object:
    """The numbers without the q arrays."""
    if isinstance(res, dict):
        return {k: _summary(v) for k, v in res.items() if k not in ("q", "axis")}
    return res


if __name__ == "__main__":
    main()
