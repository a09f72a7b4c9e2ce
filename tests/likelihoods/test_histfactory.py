"""HistFactory likelihoods: the SModelS signal patch and the one-model-per-workspace pyhf wrapper.

Unit tests run on a tiny hand-made workspace; the validation tests compare with pyhf fits of the
explicitly patched workspace (signal as an ordinary sample) and with spey-pyhf on real workspaces of
the shared database.
"""

from __future__ import annotations

import copy
import json

import jsonpatch
import numpy as np
import pyhf
import pytest

from nextsm.errors import LikelihoodError, MissingWorkspaceError
from nextsm.likelihoods.histfactory import (
    POI_NAME,
    SIGNAL_SAMPLE,
    HistFactoryModel,
    build_patch,
    resolve_layout,
    workspace_models,
)


# ------------------------------------------------------------------------------------------------
# a tiny workspace: CR_top (1 bin), SR_one (1 bin), SR_multi (2 bins), VR_check (1 bin)
# ------------------------------------------------------------------------------------------------
def _bkg(channel: str, data: list[float]) -> dict:
    return {
        "name": "bkg",
        "data": data,
        "modifiers": [
            {"name": "mu_B", "type": "normfactor", "data": None},
            {"name": "syst", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {"name": f"stat_{channel}", "type": "staterror", "data": [0.05 * x for x in data]},
        ],
    }


def tiny_spec() -> dict:
    content = {"CR_top": [100.0], "SR_one": [5.0], "SR_multi": [8.0, 3.0], "VR_check": [20.0]}
    observed = {"CR_top": [110.0], "SR_one": [7.0], "SR_multi": [6.0, 5.0], "VR_check": [21.0]}
    return {
        "channels": [{"name": ch, "samples": [_bkg(ch, data)]} for ch, data in content.items()],
        "observations": [{"name": ch, "data": data} for ch, data in observed.items()],
        "measurements": [{"name": "meas", "config": {"poi": "mu_B", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.9, 1.1]], "inits": [1.0]},
        ]}}],
        "version": "1.0.0",
    }


DICT_ENTRY = [
    {"pyhf": "CR_top", "type": "CR"},
    {"smodels": "SR1", "pyhf": "SR_one"},
    {"smodels": "SRm_hi", "pyhf": "SR_multi[1]"},
    {"smodels": "SRm_lo", "pyhf": "SR_multi[0]"},
    {"pyhf": "VR_check", "type": "VR"},
]
STRING_ENTRY = ["SR1", "SRm_lo", "SRm_hi"]


def _apply(spec: dict, patch: list) -> dict:
    return jsonpatch.apply_patch(spec, patch)


def _channels(spec: dict) -> dict:
    return {ch["name"]: ch for ch in spec["channels"]}


def _signal(spec: dict, channel: str) -> dict:
    (sample,) = [s for s in _channels(spec)[channel]["samples"] if s["name"] == SIGNAL_SAMPLE]
    return sample


# -- the patch ------------------------------------------------------------------------------------
def test_patch_dict_entry_without_crs():
    spec = tiny_spec()
    original = copy.deepcopy(spec)
    patch = build_patch(spec, DICT_ENTRY, False, yields=[1.0, 2.0, 3.0])
    assert spec == original  # the input is not modified
    patched = _apply(spec, patch)
    assert set(_channels(patched)) == {"SR_one", "SR_multi"}
    assert [o["name"] for o in patched["observations"]] == ["SR_one", "SR_multi"]
    assert _signal(patched, "SR_one")["data"] == [1.0]
    assert _signal(patched, "SR_multi")["data"] == [3.0, 2.0]  # SRm_lo is bin 0, SRm_hi bin 1
    modifiers = _signal(patched, "SR_one")["modifiers"]
    assert {"name": POI_NAME, "type": "normfactor", "data": None} in modifiers
    assert {"name": "lumi", "type": "lumi", "data": None} in modifiers  # the measurement declares lumi
    assert patched["measurements"][0]["config"]["poi"] == POI_NAME
    # patched workspace is a valid pyhf workspace
    pyhf.Workspace(patched).model()


def test_patch_zero_yields_and_no_lumi():
    patched = _apply(tiny_spec(), build_patch(tiny_spec(), DICT_ENTRY, False, lumi_modifier=False))
    assert _signal(patched, "SR_multi")["data"] == [0.0, 0.0]
    assert [m["type"] for m in _signal(patched, "SR_one")["modifiers"]] == ["normfactor"]


def test_patch_keeps_crs_and_puts_signal_in_named_crs():
    kept = _apply(tiny_spec(), build_patch(tiny_spec(), DICT_ENTRY, True))
    assert set(_channels(kept)) == {"CR_top", "SR_one", "SR_multi"}
    assert all(s["name"] != SIGNAL_SAMPLE for s in _channels(kept)["CR_top"]["samples"])
    named = [{"smodels": "CRt", "pyhf": "CR_top", "type": "CR"}, *DICT_ENTRY[1:]]
    layout = resolve_layout(tiny_spec(), named, True)
    assert layout.region_names == ("CRt", "SR1", "SRm_hi", "SRm_lo")
    with_signal = _apply(tiny_spec(), build_patch(tiny_spec(), named, True, yields=[9.0, 1.0, 2.0, 3.0]))
    assert _signal(with_signal, "CR_top")["data"] == [9.0]
    # without includeCRs the named CR is dropped and carries no signal
    assert resolve_layout(tiny_spec(), named, False).region_names == ("SR1", "SRm_hi", "SRm_lo")


def test_patch_string_entry_is_positional():
    layout = resolve_layout(tiny_spec(), STRING_ENTRY, None)
    assert [(b.region, b.channel, b.bin) for b in layout.signal_bins] == [
        ("SR1", "SR_one", 0), ("SRm_lo", "SR_multi", 0), ("SRm_hi", "SR_multi", 1)]
    assert layout.removed_channels == ("CR_top", "VR_check")
    assert resolve_layout(tiny_spec(), STRING_ENTRY, True).removed_channels == ("VR_check",)
    patched = _apply(tiny_spec(), build_patch(tiny_spec(), STRING_ENTRY, False, yields=[1.0, 2.0, 3.0]))
    assert _signal(patched, "SR_multi")["data"] == [2.0, 3.0]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ([{"smodels": "SRx", "pyhf": "SR_nothere"}], ["SRx", "SR_nothere"]),
        ([{"smodels": "SR1", "pyhf": "SR_one"}, {"smodels": "SRm", "pyhf": "SR_multi[2]"}], ["SRm", "bin 2"]),
        ([{"smodels": "SR1", "pyhf": "SR_one"}, {"smodels": "SRm", "pyhf": "SR_multi[0]"}], ["SR_multi", "bin(s) 1"]),
        ([{"smodels": "SRm", "pyhf": "SR_multi"}], ["SRm", "SR_multi[i]"]),
        ([{"smodels": "A", "pyhf": "SR_one"}, {"smodels": "B", "pyhf": "SR_one[0]"}], ["'A'", "'B'"]),
        ([{"smodels": "A", "pyhf": "SR_one"}, "B"], ["'B'", "pyhf"]),
        (["SR1", "SRm_lo"], ["2 signal region(s)", "3 signal-region bin(s)"]),
        (["SR1", "SRm_lo", "SRm_hi", "SRx"], ["unmatched: SRx"]),
        (["SR_multi", "SRm_lo", "SR1"], ["'SR_multi'", "position"]),
        ([{"smodels": "SR1", "pyhf": "SR_one", "type": "XR"}], ["XR"]),
        ([{"pyhf": "CR_top", "type": "CR"}], ["no signal region"]),
    ],
)
def test_patch_mapping_errors_name_file_and_region(entry, words):
    with pytest.raises(LikelihoodError) as info:
        build_patch(tiny_spec(), entry, False, file_name="tiny.json")
    message = str(info.value)
    assert "tiny.json" in message
    for word in words:
        assert word in message


def test_patch_yields_length_is_checked():
    with pytest.raises(LikelihoodError, match="'yields' has 2 entries, expected 3"):
        build_patch(tiny_spec(), DICT_ENTRY, False, yields=[1.0, 2.0])


def test_patch_rejects_non_workspace():
    with pytest.raises(LikelihoodError, match="not a pyhf workspace"):
        build_patch({"channels": []}, STRING_ENTRY, False, file_name="x.json")


# -- the model --------------------------------------------------------------------------------------
def _direct(spec: dict, entry: list, include_crs: bool, signal: np.ndarray):
    """pyhf model + data of the explicitly patched workspace (signal as an ordinary sample)."""
    ws = pyhf.Workspace(_apply(spec, build_patch(spec, entry, include_crs, yields=signal)))
    model = ws.model()
    return model, ws.data(model)


def _direct_nll(model, data, mu: float) -> float:
    return 0.5 * float(pyhf.infer.mle.fixed_poi_fit(mu, data, model, return_fitted_val=True)[1])


@pytest.fixture(scope="module")
def tiny_model():
    return HistFactoryModel(tiny_spec(), DICT_ENTRY, False, name="tiny.json")


def test_model_matches_patched_pyhf(tiny_model):
    assert tiny_model.n_regions == 3
    assert tiny_model.region_names == ("SR1", "SRm_hi", "SRm_lo")
    signals = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 4.0], [6.0, 1.0, 0.2]])
    mus = np.array([1.0, 0.7, 2.5])
    nll = tiny_model.nll(mus, signals)
    assert nll.shape == (3,)
    for h in range(3):
        model, data = _direct(tiny_spec(), DICT_ENTRY, False, signals[h])
        np.testing.assert_allclose(nll[h], _direct_nll(model, data, mus[h]), rtol=1e-7)
        assert tiny_model.nll(0.0, signals[h])[0] == pytest.approx(_direct_nll(model, data, 0.0), rel=1e-7)
        fit = tiny_model.fit(signals[h], mu_bounds=(0.0, 10.0))
        pars, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
        assert fit.muhat[0] == pytest.approx(pars[model.config.poi_index], abs=1e-4)
        assert fit.nll_min[0] == pytest.approx(0.5 * float(twice_nll), rel=1e-7)


def test_model_data_sets(tiny_model):
    signal = np.array([1.0, 2.0, 3.0])
    model, data = _direct(tiny_spec(), DICT_ENTRY, False, signal)
    np.testing.assert_allclose(tiny_model.data_vector("observed"), data)
    init = model.config.suggested_init()
    init[model.config.poi_index] = 0.0
    apriori = np.asarray(model.expected_data(init))
    np.testing.assert_allclose(tiny_model.data_vector("apriori"), apriori)
    asimov = pyhf.infer.calculators.generate_asimov_data(
        0.0, data, model, model.config.suggested_init(), model.config.suggested_bounds(),
        model.config.suggested_fixed())
    view = tiny_model.asimov("observed")
    assert view.n_regions == 3
    assert "Asimov" in view.description
    np.testing.assert_allclose(view.data_vector(), asimov, atol=1e-6)  # optimiser tolerance
    # the view ignores 'data' and shares the pyhf model
    assert view.pyhf_model is tiny_model.pyhf_model
    np.testing.assert_allclose(view.nll(1.0, signal, data="apriori"), view.nll(1.0, signal))
    np.testing.assert_allclose(
        tiny_model.nll(1.0, signal, data="apriori"),
        _direct_nll(model, apriori, 1.0), rtol=1e-7)


def test_model_zero_signal_and_mu_zero_share_the_background_fit(tiny_model):
    zero = tiny_model.nll([0.0, 3.0], [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert zero[0] == zero[1]
    fit = tiny_model.fit(np.zeros(3), mu_bounds=(0.5, 2.0))
    assert fit.muhat[0] == 0.5
    assert fit.nll_min[0] == zero[0]


def test_model_unbounded_fit_grows_the_bracket():
    with_crs = HistFactoryModel(tiny_spec(), DICT_ENTRY, True, name="tiny.json")
    small = np.array([0.05, 0.0, 0.0])  # the excess in SR_one (7 seen, ~5.5 expected) wants μ̂ ≈ 30
    bounded = with_crs.fit(small, mu_bounds=(0.0, 10.0))
    free = with_crs.fit(small, mu_bounds=(0.0, None))
    assert bounded.muhat[0] == pytest.approx(10.0)
    assert free.muhat[0] > 15.0
    assert free.nll_min[0] < bounded.nll_min[0]
    model, data = _direct(tiny_spec(), DICT_ENTRY, True, small)
    bounds = model.config.suggested_bounds()
    bounds[model.config.poi_index] = (0.0, 1000.0)
    pars = pyhf.infer.mle.fit(data, model, par_bounds=bounds)
    assert free.muhat[0] == pytest.approx(pars[model.config.poi_index], rel=1e-3)


def test_model_input_errors(tiny_model):
    with pytest.raises(LikelihoodError, match="expected"):
        tiny_model.nll(1.0, [1.0, 2.0])
    with pytest.raises(LikelihoodError, match="'data'"):
        tiny_model.nll(1.0, [1.0, 2.0, 3.0], data="aposteriori")
    with pytest.raises(LikelihoodError, match="'mu'"):
        tiny_model.nll([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(LikelihoodError, match="mu_bounds"):
        tiny_model.fit([1.0, 2.0, 3.0], mu_bounds=(1.0, 1.0))


def test_model_restores_the_callers_pyhf_backend(tiny_model):
    signal = np.array([1.0, 2.0, 3.0])
    reference = tiny_model.nll(1.0, signal)
    pyhf.set_backend("numpy", "scipy", precision="32b")
    try:
        value = tiny_model.nll(1.0, signal)
        tensorlib, _ = pyhf.get_backend()
        assert tensorlib.precision == "32b"
    finally:
        pyhf.set_backend("numpy", "scipy", precision="64b")
    np.testing.assert_allclose(value, reference, rtol=1e-9)


# ------------------------------------------------------------------------------------------------
# the real database
# ------------------------------------------------------------------------------------------------
def _entry(analysis, file):
    mapping = analysis.info.json_files if file in (analysis.info.json_files or {}) else analysis.info.json_files_full
    return mapping[file]


@pytest.mark.database
def test_every_database_workspace_resolves(database, database_source):
    seen = 0
    for analysis in database:
        if not analysis.has_workspaces:
            continue
        data_ids = {ds.data_id for ds in analysis.datasets}
        for mapping in (analysis.info.json_files, analysis.info.json_files_full):
            for file, entry in (mapping or {}).items():
                if file not in analysis.workspace_files:
                    continue
                spec = json.loads(database_source.read_text(f"{analysis.folder}/{file}"))
                layout = resolve_layout(spec, entry, analysis.info.include_crs, file_name=file)
                assert set(layout.region_names) <= data_ids, (analysis.name, file)
                seen += 1
    assert seen >= 25


@pytest.mark.database
def test_missing_workspace_is_reported(database, database_source):
    with pytest.raises(MissingWorkspaceError, match=r"BkgOnly\.json"):
        workspace_models(database.analysis("ATLAS-SUSY-2019-08-eff"), database_source)
    with pytest.raises(MissingWorkspaceError, match=r"bkgonly\.json"):
        workspace_models(database.analysis("ATLAS-SUSY-2018-32-eff"), database_source, full_likelihood=True)


@pytest.mark.database
def test_workspace_models_of_an_analysis(database, database_source):
    models = workspace_models(database.analysis("ATLAS-SUSY-2018-31-eff"), database_source)
    assert [m.name for m in models] == [f"ATLAS-SUSY-2018-31-eff/simplified{x}.json" for x in "ABC"]
    assert [m.region_names for m in models] == [("SRA_L", "SRA_M", "SRA_H"), ("SRB",),
                                                ("SRC_22", "SRC_24", "SRC_26", "SRC_28")]
    single = HistFactoryModel.from_analysis(database.analysis("ATLAS-SUSY-2018-31-eff"), "simplifiedB.json",
                                            database_source)
    assert single.regions == ("SRB",)
    with pytest.raises(LikelihoodError, match=r"names no workspace 'nope\.json'"):
        HistFactoryModel.from_analysis(database.analysis("ATLAS-SUSY-2018-31-eff"), "nope.json", database_source)
    with pytest.raises(MissingWorkspaceError, match=r"BkgOnly\.json"):
        HistFactoryModel.from_analysis(database.analysis("ATLAS-SUSY-2019-08-eff"), "BkgOnly.json", database_source)
    # ATLAS-SUSY-2018-16 keeps its CRs (includeCRs: True) and they carry signal like SRs
    ewk = HistFactoryModel.from_analysis(database.analysis("ATLAS-SUSY-2018-16-eff"),
                                         "EWKinos_bkgonly_SR2lOnly.json", database_source)
    assert ewk.n_regions == 44
    assert ewk.regions[0] == "CR_ewk_VV_high"
    assert ewk.layout.removed_channels == ()


# signal scale chosen so that −2 ln L(1)/L(0) is O(1)
FAST = [
    ("ATLAS-SUSY-2018-32-eff", "bkgonly_simplified.json", 0.5),
    ("ATLAS-SUSY-2018-31-eff", "simplifiedC.json", 5.0),
    ("ATLAS-SUSY-2018-14-eff", "Comb_bkgonly.json", 1.0),
    ("ATLAS-SUSY-2019-09-eff", "bkg_onshell_simplified.json", 1.0),
]
SLOW = [
    ("ATLAS-SUSY-2018-04-eff", "SRcombined.json", 5.0),
    ("ATLAS-SUSY-2018-31-eff", "BkgOnlyC.json", 5.0),
]


def _compare_with_references(database, database_source, name, file, scale):
    analysis = database.analysis(name)
    spec = json.loads(database_source.read_text(f"{analysis.folder}/{file}"))
    entry = _entry(analysis, file)
    crs = analysis.info.include_crs
    ours = HistFactoryModel(spec, entry, crs, name=file)
    rng = np.random.default_rng(20240611)
    signals = scale * rng.uniform(0.0, 1.0, (5, ours.n_regions))
    q = 2.0 * (ours.nll(1.0, signals) - ours.nll(0.0, signals))
    q_apriori = 2.0 * (ours.nll(1.0, signals, data="apriori") - ours.nll(0.0, signals, data="apriori"))
    fit = ours.fit(signals, mu_bounds=(0.0, 10.0))
    assert np.all(np.isfinite(q))
    for h, signal in enumerate(signals):
        model, data = _direct(spec, entry, crs, signal)
        q_ref = 2.0 * (_direct_nll(model, data, 1.0) - _direct_nll(model, data, 0.0))
        np.testing.assert_allclose(q[h], q_ref, rtol=1e-4, atol=1e-6)
        pars, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True,
                                             par_bounds=[(0.0, 10.0) if i == model.config.poi_index else b
                                                         for i, b in enumerate(model.config.suggested_bounds())])
        np.testing.assert_allclose(fit.muhat[h], pars[model.config.poi_index], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(fit.nll_min[h], 0.5 * float(twice_nll), rtol=1e-6)
    return spec, entry, crs, signals, q, q_apriori, fit


@pytest.mark.database
@pytest.mark.validation
@pytest.mark.parametrize(("name", "file", "scale"), FAST)
def test_real_workspace_against_pyhf_and_spey(database, database_source, name, file, scale):
    spec, entry, crs, signals, q, q_apriori, fit = _compare_with_references(
        database, database_source, name, file, scale)
    spey = pytest.importorskip("spey")
    backend = spey.get_backend("pyhf")
    for h, signal in enumerate(signals):
        # spey-pyhf takes the channel operations; the POI is already mu_SIG in these workspaces
        patch = [op for op in build_patch(spec, entry, crs, yields=signal) if op["path"].startswith("/channels/")]
        model = backend(background_only_model=spec, signal_patch=patch)
        q_spey = model.chi2(poi_test=1.0, poi_test_denominator=0.0, expected=spey.ExpectationType.observed)
        q_spey_apriori = model.chi2(poi_test=1.0, poi_test_denominator=0.0, expected=spey.ExpectationType.apriori)
        muhat, _ = model.maximize_likelihood(allow_negative_signal=False, poi_upper_bound=10.0)
        np.testing.assert_allclose(q[h], q_spey, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(q_apriori[h], q_spey_apriori, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(fit.muhat[h], muhat, rtol=1e-4, atol=1e-4)


@pytest.mark.database
@pytest.mark.validation
@pytest.mark.slow
@pytest.mark.parametrize(("name", "file", "scale"), SLOW)
def test_full_workspace_against_pyhf(database, database_source, name, file, scale):
    _compare_with_references(database, database_source, name, file, scale)


# ------------------------------------------------------------------------------------------------
# fits that run an expected count below zero are refused (pyhf's −λ term of an empty bin is unbounded)
# ------------------------------------------------------------------------------------------------
def _spec_that_can_go_negative() -> dict:
    spec = tiny_spec()
    sr_one = _channels(spec)["SR_one"]
    sr_one["samples"].append({"name": "free", "data": [1.0],
                              "modifiers": [{"name": "mu_free", "type": "normfactor", "data": None}]})
    for obs in spec["observations"]:
        if obs["name"] == "SR_one":
            obs["data"] = [0.0]
    spec["measurements"][0]["config"]["parameters"].append(
        {"name": "mu_free", "bounds": [[-100.0, 100.0]], "inits": [0.0]})
    return spec


def test_a_fit_ending_at_a_negative_expected_count_is_refused_with_the_bin_named():
    from nextsm.errors import UnphysicalFitError

    model = HistFactoryModel(_spec_that_can_go_negative(), DICT_ENTRY, False, name="negative.json")
    # n = 0 in SR_one: −ln L falls without bound as mu_free → −100 pushes λ below zero
    with pytest.raises(UnphysicalFitError, match=r"negative\.json.*channel 'SR_one' bin 0"):
        model.nll(0.0, np.zeros(model.n_regions))
    # the same workspace with mu_free bounded at 0 fits normally
    spec = _spec_that_can_go_negative()
    spec["measurements"][0]["config"]["parameters"][-1]["bounds"] = [[0.0, 100.0]]
    assert np.isfinite(HistFactoryModel(spec, DICT_ENTRY, False, name="ok.json").nll(0.0, np.zeros(3))[0])


def test_an_unphysical_label_is_nan_not_a_huge_negative_q():
    from nextsm.surrogates.labels import _physical_nll

    model = HistFactoryModel(_spec_that_can_go_negative(), DICT_ENTRY, False, name="negative.json")
    assert np.isnan(_physical_nll(model, np.array([1.0, 2.0, 3.0]), "observed"))


def test_a_failed_fit_is_named_and_its_label_is_nan():
    from nextsm.errors import FailedFitError
    from nextsm.surrogates.labels import _physical_nll

    model = HistFactoryModel(tiny_spec(), DICT_ENTRY, False, name="tiny.json", maxiter=1)
    signal = np.array([5.0, 20.0, 3.0])
    with pytest.raises(FailedFitError, match=r"tiny\.json.*failed"):
        model.nll(1.0, signal)
    assert np.isnan(_physical_nll(model, signal, "observed"))


def test_batched_model_counts_a_point_without_physical_fit_as_excluded(monkeypatch):
    """Both solvers unphysical -> −ln L = inf (excluded) and counted, also through an Asimov view."""
    pytest.importorskip("jax")
    from nextsm.errors import UnphysicalFitError
    from nextsm.likelihoods.histfactory_batch import BatchResult
    from nextsm.likelihoods.histfactory_batched_model import BatchedHistFactoryModel

    exact = HistFactoryModel(tiny_spec(), DICT_ENTRY, False, name="tiny.json", backend="jax")
    model = BatchedHistFactoryModel(exact)

    def unphysical_profile(data):
        return lambda signals: BatchResult(np.full(len(signals), np.nan), np.zeros(len(signals), dtype=bool))

    def refuse(*args, **kwargs):
        raise UnphysicalFitError("tiny.json: negative expected count")

    monkeypatch.setattr(BatchedHistFactoryModel, "_profile", lambda self, data: unphysical_profile(data))
    monkeypatch.setattr(HistFactoryModel, "nll", refuse)
    out = model.nll(np.array([1.0, 2.0]), np.ones((2, 3)))
    assert np.all(np.isinf(out))
    model.asimov("observed").nll(1.0, np.ones(3))
    assert (model.unphysical, model.fallbacks, model.unresolved) == (3, 3, 0)


def test_a_limit_switches_the_pyhf_backend_once_not_once_per_fit(monkeypatch):
    """pyhf re-indexes every live model at each backend switch (≈ 1 s with the large workspaces loaded), so a
    limit, which takes dozens of fits, switches once on entry and back once on exit (``evaluation_scope``)."""
    pytest.importorskip("jax")
    model = HistFactoryModel(tiny_spec(), DICT_ENTRY, False, name="tiny.json", backend="jax")
    signal = np.array([[2.0, 1.0, 0.5]])
    expected = model.upper_limit(signal)
    switches: list[object] = []
    original = pyhf.set_backend

    def counted(*args, **kwargs):
        switches.append(args[0])
        return original(*args, **kwargs)

    before = pyhf.get_backend()
    original("numpy", "scipy", precision="64b")  # spey-pyhf, used by other tests, may leave pyhf on jax
    monkeypatch.setattr(pyhf, "set_backend", counted)
    np.testing.assert_array_equal(model.upper_limit(signal), expected)
    assert len(switches) == 2  # to jax and back
    switches.clear()
    with model.evaluation_scope():
        model.upper_limit(signal)
        model.fit(signal)
        model.nll(1.0, signal)
    assert len(switches) == 2
    assert pyhf.get_backend()[0].name == "numpy"
    original(*before)
