r"""Full HistFactory likelihoods: the pyhf workspaces of the SModelS database.

The signal patch (which bins carry which SModelS region, how ``jsonFiles`` entries are read) is
:mod:`nextsm.likelihoods.histfactory_layout`; its public names are re-exported here.

One pyhf model per workspace
----------------------------
:class:`HistFactoryModel` builds the pyhf model once.  The signal sample has unit bin contents and,
besides ``mu_SIG``, a ``shapefactor`` per channel whose bin values are the signal yields: the
expected signal in a bin is ``mu_SIG × s_bin``.  The yield parameters are fixed in every fit and
stripped from the minimiser (pyhf's ``do_stitch``), so a new signal hypothesis costs one fit, never a
rebuild.  Fits use scipy's SLSQP with pyhf's numpy backend (finite-difference gradients) or, with
``backend="jax"``, its jax backend (exact gradients, faster after a one-off compilation); the backend is set for
the duration of each call and restored afterwards.

``-ln L`` is half of pyhf's ``twice_nll`` (Poisson terms with ``lgamma`` and all constraint terms
with their normalisation).  Data sets: ``"observed"`` (observations and nominal auxiliary data) and
``"apriori"`` (``model.expected_data`` at the suggested initial parameters with ``mu_SIG = 0``).
The Asimov data of a data set follow pyhf: fit at ``mu_SIG = 0``, then ``expected_data(θ̂₀)``
*including* the auxiliary data at θ̂₀ (spey's default PDFs do not re-centre constraints; pyhf and
spey-pyhf do).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import FailedFitError, LikelihoodError, MissingWorkspaceError, UnphysicalFitError
from nextsm.likelihoods.base import (
    DATA_KINDS,
    DataKind,
    FitResult,
    StatisticalModel,
    as_mu_batch,
    as_signal_batch,
)
from nextsm.likelihoods.histfactory_layout import (
    POI_NAME,
    SIGNAL_SAMPLE,
    YIELD_PREFIX,
    SignalBin,
    WorkspaceLayout,
    build_patch,
    patch_from_layout,
    resolve_layout,
)

if TYPE_CHECKING:
    from nextsm.database.records import Analysis
    from nextsm.database.source import DatabaseSource
    from nextsm.likelihoods.histfactory_batch import BatchedProfile

__all__ = [
    "POI_NAME",
    "SIGNAL_SAMPLE",
    "HistFactoryModel",
    "SignalBin",
    "WorkspaceLayout",
    "build_patch",
    "resolve_layout",
    "workspace_models",
]

#: upper end of the automatic μ bracket of :meth:`HistFactoryModel.fit`
_MU_CEILING = 1e12


# ------------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------------
#: pyhf tensor backends a model can be evaluated with
BACKENDS = ("numpy", "jax")


@contextmanager
def _backend(name: str = "numpy") -> Iterator[None]:
    """Run with pyhf's ``name`` backend (64 bit) and scipy optimizer; restore the caller's afterwards.

    ``"jax"`` (the ``jax`` extra) gives exact gradients to SLSQP: 13–30× faster fits than numpy's finite
    differences after a one-off compilation per model (docs/likelihoods.md).
    """
    import pyhf

    if name not in BACKENDS:
        raise LikelihoodError(f"parameter 'backend' must be one of {BACKENDS}, got {name!r}")
    tensorlib, optimizer = pyhf.get_backend()
    if tensorlib.name == name and optimizer.name == "scipy" and tensorlib.precision == "64b":
        yield
        return
    try:
        pyhf.set_backend(name, "scipy", precision="64b")
    except Exception as exc:  # pyhf raises its own import errors for a missing backend
        raise LikelihoodError(f"pyhf backend '{name}' is not available ({exc}); install the '{name}' extra") from None
    try:
        yield
    finally:
        pyhf.set_backend(tensorlib, optimizer)


class _Core:
    """The pyhf model of one workspace and the signal-independent results on it (shared by views)."""

    def __init__(self, spec: Mapping[str, Any], layout: WorkspaceLayout, *, name: str, lumi_modifier: bool,
                 tolerance: float | None, maxiter: int | None,
                 observed_data: Sequence[float] | None = None, backend: str = "numpy") -> None:
        import jsonpatch
        import pyhf

        self.name = name
        self.backend = backend
        self.layout = layout
        #: compiled batched-fit programs (:mod:`nextsm.likelihoods.histfactory_batch`), shared by the data sets
        self.batched_programs: dict[Any, Any] = {}
        patched = jsonpatch.apply_patch(dict(spec), patch_from_layout(spec, layout, None, lumi_modifier))
        # the signal sample: unit bins × shapefactor (= the yields, fixed) × mu_SIG
        yield_par: dict[str, str] = {}
        for k, channel in enumerate(patched["channels"]):
            for sample in channel["samples"]:
                if sample["name"] == SIGNAL_SAMPLE:
                    yield_par[channel["name"]] = f"{YIELD_PREFIX}{k}"
                    sample["data"] = [1.0] * len(sample["data"])
                    sample["modifiers"].append(
                        {"name": yield_par[channel["name"]], "type": "shapefactor", "data": None}
                    )
        try:
            with _backend(backend):
                workspace = pyhf.Workspace(patched)
                self.model = workspace.model(
                    modifier_settings={"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
                )
                observed = workspace.data(self.model)
        except Exception as exc:  # pyhf raises many unrelated exception types on bad specs
            raise LikelihoodError(f"workspace '{name}': pyhf cannot build the patched model ({exc})") from exc
        config = self.model.config
        self.poi_index = int(config.poi_index)
        self.yield_index = np.array(
            [config.par_slice(yield_par[b.channel]).start + b.bin for b in layout.signal_bins], dtype=int
        )
        self.init = np.asarray(config.suggested_init(), dtype=float)
        self.bounds = [tuple(map(float, b)) for b in config.suggested_bounds()]
        self.fixed = list(config.suggested_fixed())
        for i in self.yield_index:
            self.fixed[i] = True
        self.fit_options: dict[str, Any] = {}
        if tolerance is not None:
            self.fit_options["tolerance"] = tolerance
        if maxiter is not None:
            self.fit_options["maxiter"] = maxiter
        observed = np.asarray(observed, dtype=float)  # type: ignore[assignment]
        if observed_data is not None:
            replaced = np.asarray(observed_data, dtype=float)
            if replaced.shape != observed.shape:
                raise LikelihoodError(f"workspace '{name}': replacement data have {replaced.size} entries, the "
                                      f"model needs {observed.size} (main bins then auxiliary data)")
            observed = replaced
        self._data: dict[str, Any] = {"observed": observed}
        self._background_fits: dict[str, tuple[float, NDArray[np.float64]]] = {}

    # -- data sets --------------------------------------------------------------------------------
    def data(self, key: str) -> Any:
        """``observed``, ``apriori``, ``asimov:observed`` or ``asimov:apriori``."""
        if key not in self._data:
            if key == "apriori":
                pars = self.init.copy()
                pars[self.poi_index] = 0.0
                self._data[key] = np.asarray(self.model.expected_data(pars), dtype=float)
            elif key.startswith("asimov:"):
                _, pars = self.background_fit(key.split(":", 1)[1])
                self._data[key] = np.asarray(self.model.expected_data(pars), dtype=float)
            else:  # pragma: no cover - keys are produced internally
                raise LikelihoodError(f"unknown data set '{key}'")
        return self._data[key]

    # -- fits -------------------------------------------------------------------------------------
    def _fit(self, key: str, init: NDArray[np.float64], bounds: list[tuple[float, float]],
             fixed: list[bool], what: str) -> tuple[float, NDArray[np.float64]]:
        import pyhf

        try:
            pars, twice_nll = pyhf.infer.mle.fit(
                self.data(key), self.model, init_pars=init.tolist(), par_bounds=bounds, fixed_params=fixed,
                return_fitted_val=True, do_stitch=True, **self.fit_options,
            )
        except pyhf.exceptions.FailedMinimization as exc:
            raise FailedFitError(f"workspace '{self.name}': the fit {what} on '{key}' data failed "
                                  f"({getattr(exc.result, 'message', exc)})") from None
        value = 0.5 * float(twice_nll)
        if not np.isfinite(value):
            raise LikelihoodError(f"workspace '{self.name}': the fit {what} on '{key}' data gives a "
                                  f"non-finite likelihood (negative expected yields?)")
        pars = np.asarray(pars, dtype=float)
        self.check_physical(pars, f"the fit {what} on '{key}' data")
        return value, pars

    def check_physical(self, pars: NDArray[np.float64], what: str) -> None:
        """Raise :class:`~nextsm.errors.UnphysicalFitError` if an expected main-bin count at ``pars`` is negative.

        pyhf's Poisson term of a bin with n = 0 is −λ, unbounded above for λ < 0: SLSQP (or any unconstrained
        minimiser) can run a background below zero there and return an arbitrarily low −ln L.  Seen on
        ATLAS-SUSY-2018-16 `EWKinos` with 500 signal events: λ = −1181 in an empty bin, q_obs = −1302.
        """
        expected = np.asarray(self.model.expected_actualdata(pars), dtype=float)
        worst = int(np.argmin(expected))
        if expected[worst] < 0.0:
            channel, start = max(((c, s) for c, s in self.main_bin_offsets().items() if s <= worst),
                                 key=lambda item: item[1])
            raise UnphysicalFitError(f"workspace '{self.name}': {what} ends at a negative expected count, "
                                     f"{expected[worst]:.4g} in channel '{channel}' bin {worst - start}")

    def main_bin_offsets(self) -> dict[str, int]:
        """Index of each channel's first bin in pyhf's main data (pyhf's channel order)."""
        config = self.model.config
        offsets, start = {}, 0
        for channel in config.channels:
            offsets[channel] = start
            start += int(config.channel_nbins[channel])
        return offsets

    def _setup(self, mu: float, signal: NDArray[np.float64]) -> tuple[NDArray[np.float64], list[tuple[float, float]]]:
        init = self.init.copy()
        bounds: list[tuple[float, float]] = list(self.bounds)  # type: ignore[arg-type]
        init[self.yield_index] = signal
        for i, s in zip(self.yield_index, signal, strict=True):
            bounds[i] = (float(s), float(s))
        init[self.poi_index] = mu
        return init, bounds

    def background_fit(self, key: str) -> tuple[float, NDArray[np.float64]]:
        """``(-ln L, θ̂)`` at ``mu_SIG = 0`` (independent of the signal; cached)."""
        if key not in self._background_fits:
            init, bounds = self._setup(0.0, np.zeros(len(self.yield_index)))
            bounds[self.poi_index] = (0.0, 0.0)
            fixed = list(self.fixed)
            fixed[self.poi_index] = True
            self._background_fits[key] = self._fit(key, init, bounds, fixed, "at mu_SIG = 0")
        return self._background_fits[key]

    def fixed_fit(self, key: str, mu: float, signal: NDArray[np.float64]) -> float:
        if mu == 0.0 or not np.any(signal):
            return self.background_fit(key)[0]
        init, bounds = self._setup(mu, signal)
        bounds[self.poi_index] = (mu, mu)
        fixed = list(self.fixed)
        fixed[self.poi_index] = True
        try:
            return self._fit(key, init, bounds, fixed, f"at mu_SIG = {mu:g}")[0]
        except (UnphysicalFitError, FailedFitError):
            # once more from the background-only optimum (the batched solver's start), which is physical
            start = self.background_fit(key)[1].copy()
            start[self.yield_index] = signal
            start[self.poi_index] = mu
            return self._fit(key, start, bounds, fixed, f"at mu_SIG = {mu:g} (from the background-only fit)")[0]

    def free_fit(self, key: str, signal: NDArray[np.float64], lo: float, hi: float | None) -> tuple[float, float]:
        """``(μ̂, -ln L(μ̂))`` with μ in ``[lo, hi]``; ``hi=None``: grow the bracket while μ̂ sits on it."""
        if not np.any(signal):
            return lo, self.fixed_fit(key, lo, signal)
        upper = max(10.0, lo + 10.0) if hi is None else hi
        while True:
            # always from the suggested start: a warm start on the old bound stalls SLSQP
            init, bounds = self._setup(min(max(self.init[self.poi_index], lo), upper), signal)
            bounds[self.poi_index] = (lo, upper)
            value, pars = self._fit(key, init, bounds, self.fixed, f"of mu_SIG in [{lo:g}, {upper:g}]")
            muhat = float(pars[self.poi_index])
            if hi is not None or muhat < upper * (1.0 - 1e-6) or upper >= _MU_CEILING:
                return muhat, value
            upper *= 10.0


class HistFactoryModel(StatisticalModel):
    """The full likelihood of one pyhf workspace with the SModelS signal patch (module docstring).

    Parameters
    ----------
    workspace_spec:
        The background-only workspace (parsed JSON); it is not modified.
    json_files_entry:
        The list of regions of this file in the analysis' ``jsonFiles``.
    include_crs:
        SModelS' ``includeCRs`` of the analysis (``None`` = ``False``).
    name:
        Label used in messages, e.g. ``'ATLAS-SUSY-2018-04-eff/SRcombined.json'``.
    lumi_modifier:
        Put the ``lumi`` modifier on the signal (as SModelS and spey-pyhf).
    tolerance, maxiter:
        Passed to pyhf's scipy optimizer (``None``: pyhf's defaults).
    observed_data:
        Data (main bins, then auxiliary data) replacing the workspace's observations (fake databases).
    backend:
        pyhf tensor backend of every evaluation, ``"numpy"`` (default) or ``"jax"`` (:data:`BACKENDS`).

    Attributes
    ----------
    region_names:
        SModelS names of the signal regions; ``signal[..., i]`` is the yield of ``region_names[i]``.
    layout:
        The resolved mapping (:class:`WorkspaceLayout`).
    """

    def __init__(
        self,
        workspace_spec: Mapping[str, Any],
        json_files_entry: Sequence[Any],
        include_crs: bool | None,
        *,
        name: str = "<workspace>",
        lumi_modifier: bool = True,
        tolerance: float | None = None,
        maxiter: int | None = None,
        observed_data: Sequence[float] | None = None,
        backend: str = "numpy",
    ) -> None:
        layout = resolve_layout(workspace_spec, json_files_entry, include_crs, file_name=name)
        self._core = _Core(workspace_spec, layout, name=name, lumi_modifier=lumi_modifier,
                           tolerance=tolerance, maxiter=maxiter, observed_data=observed_data, backend=backend)
        self._asimov_of: DataKind | None = None
        self._init_view()

    @classmethod
    def from_analysis(
        cls,
        analysis: Analysis,
        file: str,
        source: DatabaseSource,
        *,
        full_likelihood: bool = False,
        **model_options: Any,
    ) -> HistFactoryModel:
        """The model of workspace ``file`` of ``analysis`` (``jsonFiles``, or ``jsonFiles_FullLikelihood``).

        Raises
        ------
        nextsm.errors.MissingWorkspaceError
            If the file is absent from this copy of the database.
        nextsm.errors.LikelihoodError
            If the analysis does not name ``file``, it is not valid JSON, or the mapping does not match.
        """
        field, mapping = _mapping(analysis, full_likelihood)
        if file not in mapping:
            raise LikelihoodError(f"analysis '{analysis.name}' names no workspace '{file}' in {field} "
                                  f"(has: {', '.join(mapping)})")
        rel = _workspace_path(analysis, file, source, field)
        try:
            spec = json.loads(source.read_text(rel))
        except json.JSONDecodeError as exc:
            raise LikelihoodError(f"workspace '{rel}' is not valid JSON ({exc})") from None
        return cls(spec, mapping[file], analysis.info.include_crs, name=f"{analysis.name}/{file}",
                   observed_data=analysis.workspace_data.get(file), **model_options)

    def _init_view(self) -> None:
        layout = self._core.layout
        self.name = self._core.name
        self.layout = layout
        self.region_names = layout.region_names
        self.n_regions = len(layout.signal_bins)
        what = f"HistFactory workspace {self.name} ({self.n_regions} signal regions, pyhf numpy)"
        self.description = what if self._asimov_of is None else f"{what}, Asimov data of '{self._asimov_of}'"

    @property
    def regions(self) -> tuple[str, ...]:
        """Alias of :attr:`region_names`."""
        return self.region_names

    @property
    def pyhf_model(self) -> Any:
        """The underlying ``pyhf.pdf.Model`` (signal yields are the ``nextsm_yield_*`` shapefactors)."""
        return self._core.model

    def __repr__(self) -> str:
        return f"HistFactoryModel({self.description})"

    def _key(self, data: DataKind) -> str:
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        return data if self._asimov_of is None else f"asimov:{self._asimov_of}"

    def evaluation_scope(self) -> AbstractContextManager[None]:
        """pyhf's backend of this model held for the whole ``with`` block (see
        :meth:`StatisticalModel.evaluation_scope`): calls inside it do not switch pyhf's global backend."""
        return _backend(self._core.backend)

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)`` with all nuisance parameters profiled, shape ``(H,)``.

        On an Asimov view (:meth:`asimov`) the Asimov data are used whatever ``data`` says.
        """
        sig = as_signal_batch(signal, self.n_regions)
        key = self._key(data)
        mu_v = as_mu_batch(mu, sig.shape[0])
        out = np.empty(sig.shape[0])
        with _backend(self._core.backend):
            for h in range(sig.shape[0]):
                out[h] = self._core.fixed_fit(key, float(mu_v[h]), sig[h])
        return out

    def profile_fit(self, signal: ArrayLike, *, data: DataKind = "observed",
                    start: ArrayLike | None = None) -> tuple[float, NDArray[np.float64]]:
        """``(-ln L, θ̂)`` at μ = 1 for one hypothesis, θ̂ the full pyhf parameter vector, SLSQP started at ``start``.

        ``start`` is a parameter vector in pyhf's order (e.g. the θ̂ of a neighbouring hypothesis); its
        signal-yield and μ entries are replaced by this hypothesis'.  Default: pyhf's suggested initial values.
        Used to continue fits across hypotheses where the profile has several minima
        (:mod:`nextsm.surrogates.continuation`).

        Raises
        ------
        nextsm.errors.FailedFitError, nextsm.errors.UnphysicalFitError
            As the other fits; no retry from another start.
        """
        sig = as_signal_batch(signal, self.n_regions)
        if sig.shape[0] != 1:
            raise LikelihoodError(f"parameter 'signal' must hold one hypothesis, got {sig.shape[0]}")
        core = self._core
        init, bounds = core._setup(1.0, sig[0])
        if start is not None:
            given = np.asarray(start, dtype=float)
            if given.shape != init.shape:
                raise LikelihoodError(f"parameter 'start' has shape {given.shape}, expected {init.shape}")
            given = given.copy()
            given[core.yield_index] = sig[0]
            given[core.poi_index] = 1.0
            init = np.clip(given, [lo for lo, _ in bounds], [hi for _, hi in bounds])
        bounds[core.poi_index] = (1.0, 1.0)
        fixed = list(core.fixed)
        fixed[core.poi_index] = True
        with _backend(core.backend):
            return core._fit(self._key(data), init, bounds, fixed, "at mu_SIG = 1 (given start)")

    def fit(
        self,
        signal: ArrayLike,
        *,
        data: DataKind = "observed",
        mu_bounds: tuple[float, float | None] = (0.0, None),
    ) -> FitResult:
        """Profile-likelihood fit of μ in ``mu_bounds`` (``hi=None``: unbounded above, up to 1e12).

        A hypothesis without any signal has a flat likelihood in μ; it gets μ̂ = lower bound.
        """
        sig = as_signal_batch(signal, self.n_regions)
        key = self._key(data)
        lo, hi = float(mu_bounds[0]), mu_bounds[1]
        if not np.isfinite(lo) or (hi is not None and not float(hi) > lo):
            raise LikelihoodError(f"parameter 'mu_bounds' must be finite with lo < hi, got {mu_bounds}")
        muhat = np.empty(sig.shape[0])
        nll = np.empty(sig.shape[0])
        with _backend(self._core.backend):
            for h in range(sig.shape[0]):
                muhat[h], nll[h] = self._core.free_fit(key, sig[h], lo, None if hi is None else float(hi))
        return FitResult(muhat, nll)

    def asimov(self, data: DataKind = "observed") -> HistFactoryModel:
        """View on the same pyhf model whose data are the μ = 0 Asimov data of ``data`` (cached)."""
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        view = object.__new__(HistFactoryModel)
        view._core = self._core
        view._asimov_of = data
        view._init_view()
        return view

    def expected_data(self, mu: float = 0.0, signal: ArrayLike | None = None) -> NDArray[np.float64]:
        """pyhf's expected data (main bins then auxiliary data) at the nominal nuisance parameters, signal ``mu × signal``."""
        core = self._core
        sig = np.zeros(self.n_regions) if signal is None else np.asarray(signal, dtype=float).reshape(self.n_regions)
        pars, _ = core._setup(float(mu), sig)
        with _backend(self._core.backend):
            return np.asarray(core.model.expected_data(pars), dtype=float)

    def batched_profile(self, data: DataKind = "observed", **options: Any) -> BatchedProfile:
        """Vectorised profile fits at μ = 1 on ``data`` (on an Asimov view: its Asimov data); jax backend only.

        ``options`` go to :class:`~nextsm.likelihoods.histfactory_batch.BatchedProfile`
        (``iterations``, ``batch``, ``tolerance``).
        """
        from nextsm.likelihoods.histfactory_batch import BatchedProfile

        return BatchedProfile(self._core, self._key(data), **options)

    def background_counts(self, data: DataKind = "observed") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(n, b)``, each ``(N,)``: the data and the background-only fit's expectation (μ = 0, nuisance
        parameters profiled) in the main bin of every signal region, for ``data`` (on an Asimov view: its
        Asimov data)."""
        key = self._key(data)
        core = self._core
        offsets = core.main_bin_offsets()
        index = np.array([offsets[b.channel] + b.bin for b in self.layout.signal_bins], dtype=int)
        with _backend(core.backend):
            _, pars = core.background_fit(key)
            n = np.asarray(core.data(key), dtype=float)[index]
            b = np.asarray(core.model.expected_actualdata(pars), dtype=float)[index]
        return n, b

    @property
    def n_main(self) -> int:
        """Number of main-data bins (the rest of a data vector is auxiliary data)."""
        return int(self._core.model.config.nmaindata)

    def constraints(self) -> list[tuple[slice, str, NDArray[np.float64]]]:
        """The auxiliary data per constrained parameter set: ``(slice of the aux data, "normal" | "poisson", w)``.

        ``w`` is the width of a normal constraint, or τ of a Poisson one (its aux data are Poisson(τ γ)).
        """
        config = self._core.model.config
        out, start = [], 0
        for name in config.auxdata_order:
            ps = config.param_set(name)
            n = int(ps.n_parameters)
            if ps.pdf_type == "normal":
                width = np.asarray(ps.width(), dtype=float)
            else:
                width = np.asarray(ps.factors, dtype=float)
            out.append((slice(start, start + n), str(ps.pdf_type), width))
            start += n
        return out

    def data_vector(self, data: DataKind = "observed") -> NDArray[np.float64]:
        """The pyhf data vector (main bins then auxiliary data) this model fits for ``data``."""
        key = self._key(data)
        with _backend(self._core.backend):
            return np.array(self._core.data(key), dtype=float)


# ------------------------------------------------------------------------------------------------
# database access
# ------------------------------------------------------------------------------------------------
def _mapping(analysis: Analysis, full_likelihood: bool) -> tuple[str, dict[str, Any]]:
    field = "jsonFiles_FullLikelihood" if full_likelihood else "jsonFiles"
    mapping = analysis.info.json_files_full if full_likelihood else analysis.info.json_files
    if not mapping:
        raise LikelihoodError(f"analysis '{analysis.name}' has no {field}")
    return field, mapping


def _workspace_path(analysis: Analysis, file: str, source: DatabaseSource, field: str) -> str:
    rel = f"{analysis.folder}/{file}"
    if file not in analysis.workspace_files or not source.exists(rel):
        raise MissingWorkspaceError(f"analysis '{analysis.name}': workspace '{file}' named by {field} is "
                                    f"not in this copy of the database ({rel})")
    return rel


def workspace_models(
    analysis: Analysis,
    source: DatabaseSource,
    *,
    full_likelihood: bool = False,
    **model_options: Any,
) -> list[HistFactoryModel]:
    """One :class:`HistFactoryModel` per workspace of ``analysis``' ``jsonFiles``, in listing order.

    Parameters
    ----------
    analysis:
        A database record with ``jsonFiles``.
    source:
        Read access to the same database (:class:`nextsm.database.source.DatabaseSource`).
    full_likelihood:
        Use ``jsonFiles_FullLikelihood`` instead of ``jsonFiles`` (where the analysis has it).
    model_options:
        Passed to :class:`HistFactoryModel` (``lumi_modifier``, ``tolerance``, ``maxiter``).

    Raises
    ------
    nextsm.errors.MissingWorkspaceError
        If a workspace file is absent from this copy of the database (checked before any model is
        built; the caller falls back to a simplified description).
    nextsm.errors.LikelihoodError
        If the analysis names no workspace, a file is not valid JSON, or a mapping does not match.
    """
    field, mapping = _mapping(analysis, full_likelihood)
    for file in mapping:
        _workspace_path(analysis, file, source, field)
    return [HistFactoryModel.from_analysis(analysis, file, source, full_likelihood=full_likelihood, **model_options)
            for file in mapping]
