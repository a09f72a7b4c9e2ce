"""Mixture NSBI on the off-shell-like interference toy: profile likelihood in μ, systematics, w_i f_i ensembles.

    .venv/bin/python validation/inference_mixture.py [--quick]

1. Per-process ratio networks r_j = p_j / p_ref for the basis samples S, SBI(μ=1), B against the pooled
   reference p_ref = (p_S + p_SBI + p_B)/3 (K members each, bootstrap), observables (log m, cos θ*); the mixture
   p(x|μ)/p_ref = ν(μ)⁻¹ Σ_j f_j(μ) ν_j r_j with f = (μ − √μ, √μ, 1 − √μ) (nextsm.inference.mixture).
   Expected (exact Asimov by quadrature, μ = 1) −2Δln L(μ) curves: exact, mixture NSBI, and a 20-bin histogram of m (the best
   single observable), with Wilks intervals.
2. A background shape nuisance α (±1σ tilt of the m spectrum): per-event ratio networks B±/B, code-4 vertical
   interpolation, Gaussian constraint, profiled (nextsm.inference.systematics); the histogram uses the same
   interpolation per bin.
3. w_i f_i: the K members' weights fitted per process on held-out samples (nextsm.inference.ensemble_weights),
   their covariance propagated to q(μ) and the interval ends (delta method), against the ensemble spread
   (intervals of the K members one by one).

Writes validation/results/inference_mixture.json and docs/figures/inference_mixture_{profiles,ensemble}.png.
About 12 minutes of one core (--quick: 2 minutes).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy import stats

from nextsm.inference.ensemble_weights import endpoint_uncertainty, fit_ensemble_weights, propagate
from nextsm.inference.mixture import interference_mixture
from nextsm.inference.systematics import ProfiledMixture, interpolate_code4, sample_mean_expectation
from nextsm.sbi.simulators.interference import BASIS_SAMPLES, InterferenceToy

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
GRID = np.linspace(0.0, 3.0, 121)
LEVELS = (0.683, 0.954)


def features(x: np.ndarray) -> np.ndarray:
    return np.stack([np.log(x[:, 0]), x[:, 1]], axis=1)


def q_curve(ll: np.ndarray) -> np.ndarray:
    return -2.0 * (ll - ll.max())


def intervals(q: np.ndarray) -> dict[str, list[float]]:
    out = {}
    for cl in LEVELS:
        lo, _, hi, _ = endpoint_uncertainty(GRID, q, np.zeros_like(q), float(stats.chi2.ppf(cl, 1)))
        out[str(cl)] = [lo, hi]
    return out


def histogram_curves(toy: InterferenceToy, lumi: float) -> dict[str, np.ndarray]:
    """Binned Poisson likelihood of m (20 log-spaced bins), Asimov at μ = 1, with and without the nuisance."""
    c = toy.config
    edges = np.geomspace(c.m_low, c.m_high, 21)
    nodes, weights = toy._m_nodes, toy._m_weights
    cells = np.clip(np.digitize(nodes, edges) - 1, 0, 19)
    # integrate the angle analytically: S and B factorise; ∫ sqrt(u_S u_B) dc is the toy's angular overlap
    s_m = c.sigma_s * toy._mass_shapes(nodes)[0]
    b_m = c.sigma_b * toy._mass_shapes(nodes)[1]
    i_m = toy.sigma_i * np.sqrt(s_m * b_m) / (np.sqrt(s_m * b_m) @ weights)
    s_b, i_b, b_b = (lumi * np.bincount(cells, weights=v * weights, minlength=20) for v in (s_m, i_m, b_m))
    tilt = 2.0 * np.log(nodes / c.m_low) / np.log(c.m_high / c.m_low) - 1.0
    up = np.bincount(cells, weights=b_m * (1 + c.systematic * tilt) * weights, minlength=20) * lumi / b_b
    down = np.bincount(cells, weights=b_m * (1 - c.systematic * tilt) * weights, minlength=20) * lumi / b_b
    observed = s_b + i_b + b_b

    def ll(mu: float, alpha: float) -> float:
        lam = mu * s_b + np.sqrt(mu) * i_b + b_b * interpolate_code4(alpha, up, down)[0]
        return float(np.sum(observed * np.log(lam) - lam) - 0.5 * alpha**2)

    from scipy.optimize import minimize_scalar

    nominal = np.array([ll(m, 0.0) for m in GRID])
    profiled = np.array([-minimize_scalar(lambda a, m=m: -ll(m, a), bounds=(-5, 5), method="bounded").fun
                         for m in GRID])
    return {"nominal": q_curve(nominal), "profiled": q_curve(profiled)}


def run(quick: bool) -> dict:
    import torch

    from nextsm.sbi.estimators.pairwise import train_pairwise_ratio
    from nextsm.sbi.training import TrainConfig

    torch.set_num_threads(1)
    rng = np.random.default_rng(8)
    toy = InterferenceToy()
    lumi = toy.config.luminosity
    mix = interference_mixture(lumi * toy.basis_xsecs())
    # large held-out samples: the normalisations E_ref[r_j] = 1 must be known to about 0.1 % (docs/inference.md)
    n_train, n_hold, n_members = (12_000, 30_000, 3) if quick else (200_000, 300_000, 5)
    config = TrainConfig(hidden=(64, 64), epochs=12 if quick else 25, batch_size=512, patience=5)
    timings: dict[str, float] = {}

    def pooled(n: int) -> np.ndarray:
        return np.concatenate([toy.sample_process(k, n // 3, rng) for k in BASIS_SAMPLES])

    # exact Asimov data: the nodes of a 2-D Gauss-Legendre rule weighted by the expected events at μ = 1
    c_nodes, c_weights = np.polynomial.legendre.leggauss(32)
    m_grid, c_grid = np.meshgrid(toy._m_nodes, c_nodes, indexing="ij")
    asimov = np.stack([m_grid.ravel(), c_grid.ravel()], axis=1)
    w_asimov = lumi * toy.density(asimov, 1.0)[0] * np.outer(toy._m_weights, c_weights).ravel()
    basis = toy.basis_densities(asimov)
    exact_lr = np.log(basis) - np.log(basis.mean(axis=1))[:, None]

    # ---------------------------------------------------------------- per-process ratio ensembles
    t0 = time.perf_counter()
    ref_train = pooled(n_train)
    members_asimov, weight_fits = [], []
    nets = {}
    for name in BASIS_SAMPLES:
        net = train_pairwise_ratio(features(toy.sample_process(name, n_train, rng)), features(ref_train), rng,
                                   config=config, n_members=n_members)
        nets[name] = net
        # held-out samples of the process and of the reference (independent per process)
        hold_num, hold_ref = toy.sample_process(name, n_hold, rng), pooled(n_hold)
        f_num = np.exp(net.log_ratio_members(features(hold_num)))
        f_ref = np.exp(net.log_ratio_members(features(hold_ref)))
        weight_fits.append(fit_ensemble_weights(f_num, f_ref))
        f_ref_mean = f_ref.mean(axis=1)  # per-member calibration E_ref[f_k] = 1 for the member-by-member curves
        members_asimov.append(np.exp(net.log_ratio_members(features(asimov))) / f_ref_mean[:, None])
    timings["train_ratios"] = time.perf_counter() - t0
    member_r = np.stack(members_asimov, axis=0)  # (3, K, N) calibrated member ratios on the Asimov sample
    mean_lr = np.log(member_r.mean(axis=1)).T  # ensemble mean of the calibrated members, (N, 3)
    wf_r = np.stack([fit.ratio(np.exp(nets[name].log_ratio_members(features(asimov))))
                     for fit, name in zip(weight_fits, BASIS_SAMPLES, strict=True)], axis=1)
    curves = {"exact": q_curve(mix.log_likelihood(exact_lr, GRID, w_asimov)),
              "nsbi": q_curve(mix.log_likelihood(mean_lr, GRID, w_asimov)),
              "nsbi_wifi": q_curve(mix.log_likelihood(np.log(wf_r), GRID, w_asimov))}
    hist = histogram_curves(toy, lumi)
    curves["histogram"] = hist["nominal"]
    floored = int(mix.n_floored(mean_lr, GRID).max())

    # ---------------------------------------------------------------- w_i f_i propagation vs ensemble spread
    raw = [np.exp(nets[name].log_ratio_members(features(asimov))) for name in BASIS_SAMPLES]  # (K, N) each
    bracket = mix.bracket(np.log(wf_r), GRID)  # (n_mu, N)
    fv = mix.coefficient_matrix(GRID)  # (n_mu, 3)
    grads = [fv[:, j, None] * ((raw[j] * w_asimov[None, :]) @ (1.0 / bracket).T).T for j in range(3)]  # (n_mu, K)
    best = int(np.argmin(curves["nsbi_wifi"]))
    g = np.concatenate([-2.0 * (gj - gj[best]) for gj in grads], axis=1)
    cov = np.zeros((g.shape[1], g.shape[1]))
    for j, fit in enumerate(weight_fits):
        cov[j * n_members:(j + 1) * n_members, j * n_members:(j + 1) * n_members] = fit.covariance
    sigma_q = propagate(g, cov)
    member_curves = [q_curve(mix.log_likelihood(np.log(member_r[:, k].T), GRID, w_asimov)) for k in range(n_members)]
    ensemble = {}
    for cl in LEVELS:
        thr = float(stats.chi2.ppf(cl, 1))
        lo, slo, hi, shi = endpoint_uncertainty(GRID, curves["nsbi_wifi"], sigma_q, thr)
        ends = np.array([endpoint_uncertainty(GRID, mc, np.zeros_like(mc), thr)[::2] for mc in member_curves])
        ex = endpoint_uncertainty(GRID, curves["exact"], np.zeros_like(GRID), thr)[::2]
        mean_ends = endpoint_uncertainty(GRID, curves["nsbi"], np.zeros_like(GRID), thr)[::2]
        ensemble[str(cl)] = {"exact": list(ex), "wifi": [lo, hi], "wifi_sigma": [slo, shi],
                             "ensemble_mean": list(mean_ends), "members": ends.tolist(),
                             "member_spread": np.nanstd(ends, axis=0, ddof=1).tolist()}

    # ---------------------------------------------------------------- systematics
    t0 = time.perf_counter()
    eps = toy.config.systematic
    b_train, b_ref = toy.sample_process("background", n_train, rng), toy.sample_process("background", n_train, rng)
    b_hold = toy.sample_process("background", n_hold, rng)
    learned_var = []
    for sign in (1.0, -1.0):
        w_var = 1.0 + sign * eps * toy.tilt(b_train)
        net = train_pairwise_ratio(features(b_train), features(b_ref), rng, config=config, weights_numerator=w_var)
        net = net.calibrated(features(b_hold))
        # the network learns the shape; the yield factor ν±/ν is the weighted sample's (MC) normalisation
        yield_factor = float(np.mean(1.0 + sign * eps * toy.tilt(b_hold)))
        learned_var.append((np.exp(net.log_ratio(features(asimov))) * yield_factor,
                            np.exp(net.log_ratio(features(b_hold))) * yield_factor))
    timings["train_systematics"] = time.perf_counter() - t0
    exact_up, exact_down = toy.background_variation(asimov)

    def exact_expectation(alpha: float) -> float:
        return toy.background_expectation(lambda t: interpolate_code4(alpha, 1 + eps * t, 1 - eps * t)[0])

    exact_prof = ProfiledMixture(mix, 2, exact_expectation)
    learned_prof = ProfiledMixture(mix, 2, sample_mean_expectation(learned_var[0][1], learned_var[1][1]))
    ll_exact_syst, alpha_exact = exact_prof.profile(exact_lr, exact_up, exact_down, GRID, w_asimov)
    ll_nsbi_syst, alpha_nsbi = learned_prof.profile(mean_lr, learned_var[0][0], learned_var[1][0], GRID, w_asimov)
    curves["exact_syst"] = q_curve(ll_exact_syst)
    curves["nsbi_syst"] = q_curve(ll_nsbi_syst)
    curves["histogram_syst"] = hist["profiled"]
    rms_var = [float(np.sqrt(np.mean((np.log(lv[0]) - np.log(ex)) ** 2)))
               for lv, ex in zip(learned_var, (exact_up, exact_down), strict=True)]
    return {"settings": {"luminosity": lumi, "yields_S_I_B": [lumi * toy.config.sigma_s, lumi * toy.sigma_i,
                                                              lumi * toy.config.sigma_b],
                         "n_train": n_train, "n_holdout": n_hold, "members": n_members, "asimov_nodes": int(asimov.shape[0]),
                         "timings": timings, "quick": quick, "floored_events_max": floored},
            "grid": GRID.tolist(), "curves": {k: v.tolist() for k, v in curves.items()},
            "sigma_q_wifi": sigma_q.tolist(),
            "intervals": {k: intervals(v) for k, v in curves.items()},
            "q_at_0": {k: float(v[0]) for k, v in curves.items()},
            "ensemble": ensemble,
            "weights": [fit.weights.tolist() for fit in weight_fits],
            "alpha_hat_at_0": {"exact": float(alpha_exact[0]), "nsbi": float(alpha_nsbi[0])},
            "variation_log_rmse": rms_var,
            "member_curves": [m.tolist() for m in member_curves]}


def figures(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(result["grid"])
    c = result["curves"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, suffix, title in ((axes[0], "", "no systematics"), (axes[1], "_syst", "background shape α profiled")):
        ax.plot(grid, c["exact" + suffix], color="black", lw=2.2, label="exact")
        ax.plot(grid, c["nsbi" + suffix], color="tab:blue", label="mixture NSBI")
        ax.plot(grid, c["histogram" + suffix], color="tab:orange", ls="--", label="histogram of m (20 bins)")
        if not suffix:
            ax.plot(grid, c["nsbi_wifi"], color="tab:green", ls=":", label="mixture NSBI, w_i f_i")
        for thr in (1.0, 3.84):
            ax.axhline(thr, color="grey", lw=0.7, ls=":")
        ax.set(title=f"Asimov μ = 1, {title}", xlabel="μ", ylim=(0, 10))
    axes[0].set_ylabel("−2 Δln L(μ)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "inference_mixture_profiles.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    q, s = np.array(c["nsbi_wifi"]), np.array(result["sigma_q_wifi"])
    ax.fill_between(grid, q - s, q + s, color="tab:green", alpha=0.3, label="w_i f_i ± 1σ (delta method)")
    ax.plot(grid, q, color="tab:green")
    for k, mc in enumerate(result["member_curves"]):
        ax.plot(grid, mc, color="tab:blue", lw=0.8, alpha=0.7, label="single members" if k == 0 else None)
    ax.plot(grid, c["exact"], color="black", lw=2, label="exact")
    ax.set(xlabel="μ", ylabel="−2 Δln L(μ)", ylim=(0, 10), title="learned-ratio uncertainty: w_i f_i vs members")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "inference_mixture_ensemble.png", dpi=110)
    plt.close(fig)


def summary(result: dict) -> str:
    lines = ["| likelihood | q(μ=0) | 68 % interval | 95 % interval |", "|---|---|---|---|"]
    for k in ("exact", "nsbi", "nsbi_wifi", "histogram", "exact_syst", "nsbi_syst", "histogram_syst"):
        iv = result["intervals"][k]
        lines.append(f"| {k} | {result['q_at_0'][k]:.2f} | [{iv['0.683'][0]:.3f}, {iv['0.683'][1]:.3f}] | "
                     f"[{iv['0.954'][0]:.3f}, {iv['0.954'][1]:.3f}] |")
    for cl, e in result["ensemble"].items():
        lines.append(f"CL {cl}: exact ends {np.round(e['exact'], 3).tolist()}, ensemble mean "
                     f"{np.round(e['ensemble_mean'], 3).tolist()}, w_i f_i {np.round(e['wifi'], 3).tolist()} ± "
                     f"{np.round(e['wifi_sigma'], 3).tolist()}, member spread {np.round(e['member_spread'], 3).tolist()}")
    return "\n".join(lines)


if __name__ == "__main__":
    # the sibling script: validation/ is on sys.path when this file is run
    from inference_nsbi import script_main

    script_main(__doc__, run, figures, summary, "inference_mixture")
