r"""The signal patch of a pyhf workspace: which bins carry which SModelS signal region.

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
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError

__all__ = [
    "POI_NAME",
    "SIGNAL_SAMPLE",
    "SignalBin",
    "WorkspaceLayout",
    "build_patch",
    "resolve_layout",
]

SIGNAL_SAMPLE = "nextsm_signal"
POI_NAME = "mu_SIG"
#: prefix of the shapefactor parameters that carry the signal yields (one per signal-carrying channel)
YIELD_PREFIX = "nextsm_yield_"
_BIN_RE = re.compile(r"^(?P<channel>.+)\[(?P<bin>\d+)\]$")
_REGION_TYPES = ("SR", "CR", "VR")


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


def patch_from_layout(
    spec: Mapping[str, Any],
    layout: WorkspaceLayout,
    yields: NDArray[np.float64] | None,
    lumi_modifier: bool,
) -> list[dict[str, Any]]:
    """The JSONPatch of :func:`build_patch` for an already resolved ``layout`` (``yields=None``: unit yields)."""
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
    return patch_from_layout(workspace_spec, layout, values, lumi_modifier)


