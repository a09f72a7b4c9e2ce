r"""Full HistFactory likelihoods: the pyhf workspaces of the SModelS database.

Signal patch (the SModelS convention)
-------------------------------------
An analysis' ``jsonFiles`` entry maps each workspace file to a list of regions.  Two formats exist
in database v3.0.0:

* plain strings, ``['SRee', 'SRmm', 'SRem']``: SModelS signal-region names, assigned *in order* to
  the signal-region bins of the workspace (channels in the order of the workspace's
  ``observations``; a channel of ``n > 1`` bins contributes ``channel[0] … channel[n-1]``).  A
  channel counts as a control region if its name starts with ``CR`` or contains ``CR``, as a
  validation region if it starts with ``VR``, otherwise as a signal region.
* dicts, ``{'smodels': 'SRlow', 'pyhf': 'SR1cut_cuts', 'type': 'SR'}``: explicit pyhf channel
  names, ``'name[i]'`` meaning bin ``i`` of channel ``name``; ``type`` is ``'SR'`` (default),
  ``'CR'`` or ``'VR'``.

:func:`build_patch` turns an entry into a JSONPatch that

* adds a sample ``nextsm_signal`` to every channel holding a signal bin, with modifiers
  ``normfactor mu_SIG`` and, when the measurement declares a ``lumi`` parameter, ``lumi`` (as
  SModelS and spey-pyhf do);
* removes validation-region channels, and control-region channels unless ``include_crs``
  (SModelS' ``includeCRs``; ``None`` counts as ``False``).  With ``include_crs`` a control
  region that has an SModelS name receives signal as well, like a signal region (SModelS'
  treatment of signal leakage into CRs, e.g. ATLAS-SUSY-2018-16);
* makes ``mu_SIG`` the parameter of interest of every measurement.

The *signal regions* of a workspace (:attr:`HistFactoryModel.region_names`) are the
signal-carrying entries in the order of the ``jsonFiles`` listing; a signal vector is ordered the
same way.

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

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import FailedFitError, LikelihoodError, MissingWorkspaceError, UnphysicalFitError
from nextsm.likelihoods.base import DATA_KINDS, DataKind, FitResult, StatisticalModel, as_signal_batch

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

SIGNAL_SAMPLE = "nextsm_signal"
POI_NAME = "mu_SIG"
_YIELD_PREFIX = "nextsm_yield_"
_BIN_RE = re.compile(r"^(?P<channel>.+)\[(?P<bin>\d+)\]$")
_REGION_TYPES = ("SR", "CR", "VR")
#: upper end of the automatic μ bracket of :meth:`HistFactoryModel.fit`
_MU_CEILING = 1e12


# ------------------------------------------------------------------------------------------------
# the signal patch
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalBin:
    """One signal-carrying region: SModelS name, pyhf channel, bin index, region type."""

    region: str
    channel: str
    bin: int
    kind: str = "SR"


@dataclass(frozen=True)
class WorkspaceLayout:
    """How a ``jsonFiles`` entry maps onto one workspace.

    Attributes
    ----------
    file:
        The workspace file name (for messages).
    signal_bins:
        The signal-carrying regions in the order of the ``jsonFiles`` listing.
    removed_channels:
        Channels dropped from the workspace (VRs; CRs unless ``include_crs``).
    channel_bins:
        Number of bins of every channel of the workspace, in workspace order.
    """

    file: str
    signal_bins: tuple[SignalBin, ...]
    removed_channels: tuple[str, ...]
    channel_bins: Mapping[str, int]

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(b.region for b in self.signal_bins)

    @property
    def signal_channels(self) -> tuple[str, ...]:
        """Channels that receive a signal sample, in workspace order."""
        used = {b.channel for b in self.signal_bins}
        return tuple(ch for ch in self.channel_bins if ch in used)


def _guess_type(channel: str) -> str:
    """SModelS' guess of a channel's type from its name (used for plain-string entries)."""
    if channel.startswith("VR"):
        return "VR"
    if channel.startswith("CR") or "CR" in channel:
        return "CR"
    return "SR"


def _channel_bins(spec: Mapping[str, Any], file: str) -> dict[str, int]:
    try:
        channels = spec["channels"]
        observations = {obs["name"]: len(obs["data"]) for obs in spec["observations"]}
        measurements = spec["measurements"]
    except (KeyError, TypeError) as exc:
        raise LikelihoodError(f"workspace '{file}' is not a pyhf workspace (missing {exc})") from None
    if not measurements:
        raise LikelihoodError(f"workspace '{file}' has no measurement")
    nbins: dict[str, int] = {}
    for ch in channels:
        name = ch["name"]
        if name not in observations:
            raise LikelihoodError(f"workspace '{file}': channel '{name}' has no observation")
        nbins[name] = observations[name]
    # workspace order = order of the observations, as SModelS uses it
    return {name: nbins[name] for name in observations if name in nbins}


@dataclass(frozen=True)
class _Entry:
    smodels: str | None
    pyhf: str | None
    kind: str


def _normalise_entry(raw: Any, file: str) -> _Entry:
    if isinstance(raw, str):
        return _Entry(raw, None, "SR")
    if isinstance(raw, Mapping):
        smodels = raw.get("smodels")
        pyhf_name = raw.get("pyhf")
        kind = raw.get("type", "SR")
        if kind not in _REGION_TYPES:
            raise LikelihoodError(f"workspace '{file}': region {dict(raw)} has unknown type '{kind}' "
                                  f"(expected one of {', '.join(_REGION_TYPES)})")
        if smodels is None and pyhf_name is None:
            raise LikelihoodError(f"workspace '{file}': region {dict(raw)} names neither 'smodels' nor 'pyhf'")
        if smodels is not None and not isinstance(smodels, str):
            raise LikelihoodError(f"workspace '{file}': region {dict(raw)} has a non-string 'smodels' name")
        if pyhf_name is not None and not isinstance(pyhf_name, str):
            raise LikelihoodError(f"workspace '{file}': region {dict(raw)} has a non-string 'pyhf' name")
        return _Entry(smodels, pyhf_name, kind)
    raise LikelihoodError(f"workspace '{file}': region entry {raw!r} is neither a name nor a dict")


def _parse_target(entry: _Entry, nbins: Mapping[str, int], file: str) -> tuple[str, int | None]:
    """``(channel, bin)`` of an explicit pyhf name; ``bin=None`` for a whole channel."""
    assert entry.pyhf is not None
    label = entry.smodels if entry.smodels is not None else entry.pyhf
    if entry.pyhf in nbins:
        return entry.pyhf, None
    match = _BIN_RE.match(entry.pyhf)
    if match is None or match["channel"] not in nbins:
        raise LikelihoodError(
            f"workspace '{file}': region '{label}' points to pyhf channel '{entry.pyhf}', which the workspace "
            f"does not have (channels: {', '.join(nbins)})"
        )
    channel, index = match["channel"], int(match["bin"])
    if index >= nbins[channel]:
        raise LikelihoodError(f"workspace '{file}': region '{label}' points to bin {index} of channel "
                              f"'{channel}', which has {nbins[channel]} bin(s)")
    return channel, index


def _positional(entries: list[_Entry], nbins: Mapping[str, int], file: str) -> list[tuple[str, int]]:
    """SModelS' order-based assignment of plain-string entries to the signal-region bins."""
    targets = [(ch, i) for ch, n in nbins.items() if _guess_type(ch) == "SR" for i in range(n)]
    if len(targets) != len(entries):
        extra = [e.smodels for e in entries[len(targets):]]
        hint = f"; unmatched: {', '.join(str(x) for x in extra)}" if extra else ""
        raise LikelihoodError(
            f"workspace '{file}': {len(entries)} signal region(s) are listed but the workspace has "
            f"{len(targets)} signal-region bin(s) ({', '.join(ch for ch in nbins if _guess_type(ch) == 'SR')})"
            f"{hint}"
        )
    # a listed name that *is* a channel name elsewhere reveals a wrong order
    for entry, (ch, i) in zip(entries, targets, strict=True):
        name = entry.smodels
        if name in nbins and name != ch:
            raise LikelihoodError(f"workspace '{file}': signal region '{name}' is listed at the position of "
                                  f"channel '{ch}' but the workspace has a channel '{name}'")
        if name is not None and (m := _BIN_RE.match(name)) and m["channel"] in nbins and (
                m["channel"], int(m["bin"])) != (ch, i):
            raise LikelihoodError(f"workspace '{file}': signal region '{name}' is listed at the position of "
                                  f"'{ch}[{i}]'")
    return targets


def resolve_layout(
    workspace_spec: Mapping[str, Any],
    json_files_entry: Sequence[Any],
    include_crs: bool | None,
    *,
    file_name: str = "<workspace>",
) -> WorkspaceLayout:
    """Map a ``jsonFiles`` entry onto a workspace (see the module docstring for the rules).

    Raises
    ------
    nextsm.errors.LikelihoodError
        If a region does not match the workspace, a bin is claimed twice, a signal channel is only
        partly covered, or a signal region has no SModelS name.  The message names the workspace
        file and the region.
    """
    file = file_name
    nbins = _channel_bins(workspace_spec, file)
    if isinstance(json_files_entry, str | bytes) or not isinstance(json_files_entry, Sequence):
        raise LikelihoodError(f"workspace '{file}': the jsonFiles entry must be a list of regions, "
                              f"got {type(json_files_entry).__name__}")
    entries = [_normalise_entry(raw, file) for raw in json_files_entry]
    if not entries:
        raise LikelihoodError(f"workspace '{file}': the jsonFiles entry lists no region")
    crs = bool(include_crs)

    explicit = [e.pyhf is not None for e in entries]
    if all(explicit):
        targets: list[tuple[str, int | None]] = [_parse_target(e, nbins, file) for e in entries]
    elif not any(explicit):
        targets = list(_positional(entries, nbins, file))
    else:
        first = next(e for e in entries if e.pyhf is None)
        raise LikelihoodError(f"workspace '{file}': region '{first.smodels}' has no 'pyhf' name while others "
                              f"have one; name the pyhf channel of every region")

    claimed: dict[tuple[str, int], str] = {}
    kinds: dict[str, str] = {}  # channel -> SR / CR / VR as declared by the entries
    signal_bins: list[SignalBin] = []
    for entry, (channel, index) in zip(entries, targets, strict=True):
        label = entry.smodels if entry.smodels is not None else str(entry.pyhf)
        previous = kinds.setdefault(channel, entry.kind)
        if previous != entry.kind:
            raise LikelihoodError(f"workspace '{file}': channel '{channel}' is declared both {previous} and "
                                  f"{entry.kind} (region '{label}')")
        carries_signal = entry.kind == "SR" or (entry.kind == "CR" and crs and entry.smodels is not None)
        if not carries_signal:
            continue
        if entry.smodels is None:
            raise LikelihoodError(f"workspace '{file}': signal region on pyhf channel '{entry.pyhf}' has no "
                                  f"SModelS name")
        if index is None:
            if nbins[channel] != 1:
                raise LikelihoodError(
                    f"workspace '{file}': region '{label}' names channel '{channel}', which has "
                    f"{nbins[channel]} bins; map each bin separately as '{channel}[i]'"
                )
            index = 0
        if (channel, index) in claimed:
            raise LikelihoodError(f"workspace '{file}': regions '{claimed[(channel, index)]}' and '{label}' both "
                                  f"point to bin {index} of channel '{channel}'")
        claimed[(channel, index)] = label
        signal_bins.append(SignalBin(entry.smodels, channel, index, entry.kind))

    names = [b.region for b in signal_bins]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise LikelihoodError(f"workspace '{file}': signal region '{dup}' is listed twice")
    if not signal_bins:
        raise LikelihoodError(f"workspace '{file}': the jsonFiles entry leaves no signal region")
    for channel in {b.channel for b in signal_bins}:
        missing = [i for i in range(nbins[channel]) if (channel, i) not in claimed]
        if missing:
            owner = next(b.region for b in signal_bins if b.channel == channel)
            raise LikelihoodError(
                f"workspace '{file}': channel '{channel}' (region '{owner}') has {nbins[channel]} bins but "
                f"bin(s) {', '.join(map(str, missing))} have no signal region"
            )

    removed = []
    for channel in nbins:
        kind = kinds.get(channel, _guess_type(channel))
        if kind == "VR" or (kind == "CR" and not crs):
            removed.append(channel)
    signal_channels = {b.channel for b in signal_bins}
    clash = [ch for ch in removed if ch in signal_channels]
    if clash:
        raise LikelihoodError(f"workspace '{file}': channel '{clash[0]}' holds a signal region but is a "
                              f"{kinds.get(clash[0], _guess_type(clash[0]))} to be removed")
    return WorkspaceLayout(file, tuple(signal_bins), tuple(removed), dict(nbins))


def _declares_lumi(spec: Mapping[str, Any]) -> bool:
    return any(p.get("name") == "lumi" for m in spec["measurements"] for p in m["config"].get("parameters", []))


def _patch_from_layout(
    spec: Mapping[str, Any],
    layout: WorkspaceLayout,
    yields: NDArray[np.float64] | None,
    lumi_modifier: bool,
) -> list[dict[str, Any]]:
    modifiers: list[dict[str, Any]] = [{"name": POI_NAME, "type": "normfactor", "data": None}]
    if lumi_modifier and _declares_lumi(spec):
        modifiers.insert(0, {"name": "lumi", "type": "lumi", "data": None})
    channel_index = {ch["name"]: i for i, ch in enumerate(spec["channels"])}
    obs_index = {obs["name"]: i for i, obs in enumerate(spec["observations"])}
    contents: dict[str, list[float]] = {ch: [0.0] * layout.channel_bins[ch] for ch in layout.signal_channels}
    if yields is not None:
        for value, sb in zip(yields, layout.signal_bins, strict=True):
            contents[sb.channel][sb.bin] = float(value)
    ops: list[dict[str, Any]] = []
    for channel in layout.signal_channels:
        ops.append({
            "op": "add",
            "path": f"/channels/{channel_index[channel]}/samples/-",
            "value": {"name": SIGNAL_SAMPLE, "data": contents[channel], "modifiers": copy.deepcopy(modifiers)},
        })
    for i in range(len(spec["measurements"])):
        ops.append({"op": "replace", "path": f"/measurements/{i}/config/poi", "value": POI_NAME})
    # removals last, highest index first, so that earlier paths stay valid
    for index in sorted((channel_index[ch] for ch in layout.removed_channels), reverse=True):
        ops.append({"op": "remove", "path": f"/channels/{index}"})
    for index in sorted((obs_index[ch] for ch in layout.removed_channels), reverse=True):
        ops.append({"op": "remove", "path": f"/observations/{index}"})
    return ops


def build_patch(
    workspace_spec: Mapping[str, Any],
    json_files_entry: Sequence[Any],
    include_crs: bool | None,
    *,
    yields: ArrayLike | None = None,
    lumi_modifier: bool = True,
    file_name: str = "<workspace>",
) -> list[dict[str, Any]]:
    """The JSONPatch that turns a background-only workspace into the SModelS signal+background one.

    Parameters
    ----------
    workspace_spec:
        The background-only workspace (parsed JSON).
    json_files_entry:
        The list of regions of this file in the analysis' ``jsonFiles``.
    include_crs:
        SModelS' ``includeCRs`` (``None`` = ``False``).
    yields:
        Signal yields per signal region in listing order (see :func:`resolve_layout`); the signal
        bins are zero if omitted.
    lumi_modifier:
        Add a ``lumi`` modifier to the signal sample if the measurement declares ``lumi``.
    file_name:
        Name of the workspace file, for error messages.

    Returns
    -------
    list of dict
        JSONPatch operations (``add`` signal samples, ``replace`` the POI, ``remove`` channels and
        their observations), applicable with ``jsonpatch.apply_patch``.
    """
    layout = resolve_layout(workspace_spec, json_files_entry, include_crs, file_name=file_name)
    values = None
    if yields is not None:
        values = np.asarray(yields, dtype=float).reshape(-1)
        if values.shape[0] != len(layout.signal_bins):
            raise LikelihoodError(f"workspace '{file_name}': parameter 'yields' has {values.shape[0]} entries, "
                                  f"expected {len(layout.signal_bins)} (one per signal region)")
    return _patch_from_layout(workspace_spec, layout, values, lumi_modifier)


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
        patched = jsonpatch.apply_patch(dict(spec), _patch_from_layout(spec, layout, None, lumi_modifier))
        # the signal sample: unit bins × shapefactor (= the yields, fixed) × mu_SIG
        yield_par: dict[str, str] = {}
        for k, channel in enumerate(patched["channels"]):
            for sample in channel["samples"]:
                if sample["name"] == SIGNAL_SAMPLE:
                    yield_par[channel["name"]] = f"{_YIELD_PREFIX}{k}"
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
        bounds = list(self.bounds)
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

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)`` with all nuisance parameters profiled, shape ``(H,)``.

        On an Asimov view (:meth:`asimov`) the Asimov data are used whatever ``data`` says.
        """
        sig = as_signal_batch(signal, self.n_regions)
        key = self._key(data)
        mu_arr = np.asarray(mu, dtype=float)
        try:
            mu_v = np.broadcast_to(mu_arr, (sig.shape[0],))
        except ValueError:
            raise LikelihoodError(f"parameter 'mu' has shape {mu_arr.shape}, expected a scalar or "
                                  f"({sig.shape[0]},)") from None
        if not np.all(np.isfinite(mu_v)):
            raise LikelihoodError("parameter 'mu' contains non-finite values")
        out = np.empty(sig.shape[0])
        with _backend(self._core.backend):
            for h in range(sig.shape[0]):
                out[h] = self._core.fixed_fit(key, float(mu_v[h]), sig[h])
        return out

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
