"""The portable, versioned file format of surrogates: a ``.json`` of metadata plus an ``.npz`` of arrays.

``save(network, "dir/name")`` writes two files (a ``.json`` or ``.npz`` suffix on ``path`` is
dropped; any other dot stays part of the name):

``dir/name.npz``
    Only float arrays, written with :func:`numpy.savez` (no pickled objects; read with
    ``allow_pickle=False``), float64 except that the weights and biases may be float32: by default
    where that loses nothing (a network trained in single precision, as by
    :mod:`nextsm.surrogates.train`), which halves the file.  The loader widens them to float64, so
    inference is float64 either way: ``s_scale``, ``x_mean``, ``x_std`` (shape ``(N,)``), ``y_mean``,
    ``y_std`` (``(4,)``), optionally ``baseline_n`` and ``baseline_b`` (``(4, N)``, the Poisson
    baseline of :mod:`nextsm.surrogates.network`; version 2) and, per member ``k`` and layer ``l``, ``member{k}.weight{l}``
    (``(in, out)``) and ``member{k}.bias{l}`` (``(out,)``).

``dir/name.json``
    The metadata, one object::

        {
          "format": "nextsm-surrogate",      # fixed
          "version": 2,                      # FORMAT_VERSION; 1 (no baseline) is read too
          "name": "ATLAS-SUSY-2018-04 (pyhf)",
          "variants": ["observed", "apriori", "asimov_observed", "asimov_apriori"],
          "region_names": ["SRlow", "SRhigh"],
          "architecture": {"kind": "mlp", "widths": [2, 128, 128, 128, 4], "members": 1},
          "activation": "silu",
          "transforms": {"input": "x = (log1p(s / s_scale) - x_mean) / x_std",
                         "output": "q = f(s) - f(0), f = y_mean + y_std * z"},
          "domain": {"s_max": [...], "q_max": [...]},
          "arrays": ["s_scale", "x_mean", ..., "member0.bias3"],   # exactly the arrays of the .npz
          "weights_dtype": "float64",        # or "float32" (informational; optional)
          "card": {...}                      # the model card, free form
        }

    The model card conventionally holds ``analysis``, ``workspace`` (the workspace file) and
    ``workspace_sha256`` (checked by :mod:`nextsm.surrogates.registry`), ``training`` (size,
    sampling and label provenance, nextsm and pyhf versions), ``accuracy`` (see
    :meth:`nextsm.surrogates.accuracy.AccuracyReport.to_card`), ``monotonic`` (``true`` if
    :math:`q_{\\rm apriori}(t d)` must rise with :math:`t \\ge 0`, :math:`d \\ge 0`, up to an allowed fall of
    ``monotonic_tolerance``, default 0.01) and ``reference_points``
    (``{"signal": [[...]], "q": [[...]], "atol": float, "rtol": float}``: hypotheses with exact q from
    pyhf, which the contract test compares within ``atol + rtol |q|``).

Floats in the JSON are written with Python's shortest round-trip representation, so a save/load
round trip is bit-identical.  Loading needs numpy only.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nextsm.surrogates.errors import SurrogateFormatError
from nextsm.surrogates.network import MLP, VARIANTS, SurrogateDomain, SurrogateNetwork

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "WEIGHT_DTYPES", "load", "save", "surrogate_paths"]

FORMAT_NAME = "nextsm-surrogate"
FORMAT_VERSION = 2
#: versions :func:`load` reads (1: before the optional Poisson baseline)
READABLE_VERSIONS = (1, 2)
_BASELINE_ARRAYS = ("baseline_n", "baseline_b")
_TRANSFORM_ARRAYS = ("s_scale", "x_mean", "x_std", "y_mean", "y_std")
_TRANSFORMS = {
    "input": "x = (log1p(s / s_scale) - x_mean) / x_std",
    "output": "q = f(s) - f(0), f = y_mean + y_std * z",
}
#: storage types of the member weights and biases (everything else is float64); "auto": float32 if lossless
WEIGHT_DTYPES = ("auto", "float64", "float32")
_BASELINE = "q += 2 * sum_i (s_i - baseline_n[v, i] * log1p(s_i / baseline_b[v, i]))"


def surrogate_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(.json, .npz)`` pair of ``path`` (a trailing ``.json`` or ``.npz`` is dropped)."""
    base = Path(path)
    if base.suffix in (".json", ".npz"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")


def _arrays(network: SurrogateNetwork, weights_dtype: str) -> dict[str, Any]:
    arrays: dict[str, Any] = {name: getattr(network, name) for name in _TRANSFORM_ARRAYS}
    if network.has_baseline:
        arrays.update({name: getattr(network, name) for name in _BASELINE_ARRAYS})
    for k, member in enumerate(network.members):
        for i, (w, b) in enumerate(zip(member.weights, member.biases, strict=True)):
            arrays[f"member{k}.weight{i}"] = w.astype(weights_dtype)
            arrays[f"member{k}.bias{i}"] = b.astype(weights_dtype)
    return arrays


def _float32_exact(network: SurrogateNetwork) -> bool:
    return all(np.array_equal(a, a.astype(np.float32)) for m in network.members for a in m.weights + m.biases)


def save(network: SurrogateNetwork, path: str | os.PathLike[str], *,
         weights_dtype: str = "auto") -> tuple[Path, Path]:
    """Write ``network`` as ``path.json`` + ``path.npz`` (see the module docstring).

    ``weights_dtype``: ``"auto"`` stores the member weights and biases as float32 if every one of them
    is exactly a float32 number (then the round trip stays bit-identical, at half the file), else as
    float64; ``"float32"`` rounds them (outputs within ~10⁻⁶ relative); the transforms and baseline
    are always float64.  Each file is written to a temporary name first and then renamed, so a reader
    never sees half a file.

    Returns
    -------
    tuple of pathlib.Path
        The ``.json`` and ``.npz`` paths written.

    Raises
    ------
    SurrogateFormatError
        If the model card is not JSON-serialisable (field ``card``).
    ValueError
        If ``weights_dtype`` is not one of :data:`WEIGHT_DTYPES`.
    """
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"parameter 'weights_dtype' must be one of {WEIGHT_DTYPES}, got {weights_dtype!r}")
    if weights_dtype == "auto":
        weights_dtype = "float32" if _float32_exact(network) else "float64"
    json_path, npz_path = surrogate_paths(path)
    arrays = _arrays(network, weights_dtype)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": network.name,
        "variants": list(VARIANTS),
        "region_names": list(network.region_names),
        "architecture": {"kind": "mlp", "widths": list(network.widths), "members": network.n_members},
        "activation": network.activation,
        "transforms": dict(_TRANSFORMS, **({"baseline": _BASELINE} if network.has_baseline else {})),
        "domain": {"s_max": network.domain.s_max.tolist(), "q_max": network.domain.q_max.tolist()},
        "arrays": list(arrays),
        "weights_dtype": weights_dtype,
        "card": network.card,
    }
    try:
        text = json.dumps(meta, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SurrogateFormatError(
            f"not JSON-serialisable: {exc}", path=str(json_path), field="card"
        ) from None
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_npz = npz_path.with_name(npz_path.name + ".tmp")
    with tmp_npz.open("wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp_npz, npz_path)
    tmp_json = json_path.with_name(json_path.name + ".tmp")
    tmp_json.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp_json, json_path)
    return json_path, npz_path


def _require(meta: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in meta:
        raise SurrogateFormatError("is missing", path=where, field=key)
    value = meta[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SurrogateFormatError(f"has type {type(value).__name__}, expected {kind}", path=where, field=key)
    return value


def _read_meta(json_path: Path) -> dict[str, Any]:
    where = str(json_path)
    if not json_path.is_file():
        raise SurrogateFormatError("file not found", path=where)
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SurrogateFormatError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", path=where
        ) from None
    except UnicodeDecodeError as exc:
        raise SurrogateFormatError(f"not UTF-8 text ({exc.reason})", path=where) from None
    if not isinstance(meta, dict):
        raise SurrogateFormatError(f"top level is a {type(meta).__name__}, expected an object", path=where)
    if meta.get("format") != FORMAT_NAME:
        raise SurrogateFormatError(
            f"is {meta.get('format')!r}, expected {FORMAT_NAME!r} (not a nextsm surrogate)",
            path=where,
            field="format",
        )
    version = _require(meta, "version", int, where)
    if version not in READABLE_VERSIONS:
        raise SurrogateFormatError(
            f"is {version}, this nextsm reads versions {', '.join(map(str, READABLE_VERSIONS))} only",
            path=where, field="version",
        )
    if version == 1 and any(name in _require(meta, "arrays", list, where) for name in _BASELINE_ARRAYS):
        raise SurrogateFormatError("version 1 has no baseline arrays", path=where, field="arrays")
    if _require(meta, "variants", list, where) != list(VARIANTS):
        raise SurrogateFormatError(
            f"is {meta['variants']!r}, expected {list(VARIANTS)!r}", path=where, field="variants"
        )
    return meta


def _read_arrays(npz_path: Path, names: list[str]) -> dict[str, np.ndarray]:
    where = str(npz_path)
    if not npz_path.is_file():
        raise SurrogateFormatError("file not found", path=where)
    try:
        with npz_path.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            stored = list(npz.files)
            missing = [n for n in names if n not in stored]
            extra = [n for n in stored if n not in names]
            if missing or extra:
                raise SurrogateFormatError(
                    f"arrays differ from the metadata's list: missing {missing}, unexpected {extra}",
                    path=where,
                    field=(missing or extra)[0],
                )
            arrays = {}
            for name in names:
                arr = npz[name]
                if arr.dtype not in (np.float64, np.float32):
                    raise SurrogateFormatError(
                        f"has dtype {arr.dtype}, expected float64 (or float32)", path=where, field=name
                    )
                arrays[name] = arr
    except SurrogateFormatError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated, not a zip, pickled
        raise SurrogateFormatError(f"not a readable array archive ({exc})", path=where) from None
    return arrays


def load(path: str | os.PathLike[str]) -> SurrogateNetwork:
    """Read a surrogate written by :func:`save` (``path`` with or without ``.json``/``.npz``).

    Raises
    ------
    SurrogateFormatError
        If a file is missing or unreadable, the format name or version is wrong, a metadata field is
        missing or of the wrong type, the arrays differ from the metadata's list, or a shape does
        not fit; the error names the file and the field or array at fault.
    """
    json_path, npz_path = surrogate_paths(path)
    where = str(json_path)
    meta = _read_meta(json_path)
    names = _require(meta, "arrays", list, where)
    arch = _require(meta, "architecture", dict, where)
    domain = _require(meta, "domain", dict, where)
    for key in ("widths", "members"):
        if key not in arch:
            raise SurrogateFormatError("is missing", path=where, field=f"architecture.{key}")
    n_members, widths = arch["members"], arch["widths"]
    if not isinstance(n_members, int) or n_members < 1:
        raise SurrogateFormatError(
            f"is {n_members!r}, expected a positive integer", path=where, field="architecture.members"
        )
    if not isinstance(widths, list) or len(widths) < 2:
        raise SurrogateFormatError(
            f"is {widths!r}, expected [N, ..., 4]", path=where, field="architecture.widths"
        )
    expected = list(_TRANSFORM_ARRAYS) + [
        f"member{k}.{kind}{i}"
        for k in range(n_members)
        for i in range(len(widths) - 1)
        for kind in ("weight", "bias")
    ]
    baseline = [n for n in _BASELINE_ARRAYS if n in names]
    if baseline:
        expected += list(_BASELINE_ARRAYS)
    if sorted(names) != sorted(expected):
        raise SurrogateFormatError(
            f"lists {len(names)} arrays, expected {len(expected)} for {n_members} member(s) of widths {widths}",
            path=where,
            field="arrays",
        )
    arrays = _read_arrays(npz_path, names)
    try:
        members = tuple(
            MLP(
                tuple(arrays[f"member{k}.weight{i}"] for i in range(len(widths) - 1)),
                tuple(arrays[f"member{k}.bias{i}"] for i in range(len(widths) - 1)),
            )
            for k in range(n_members)
        )
        network = SurrogateNetwork(
            members=members,
            **{name: arrays[name] for name in _TRANSFORM_ARRAYS},
            domain=SurrogateDomain(s_max=domain.get("s_max", []), q_max=domain.get("q_max", [])),
            activation=_require(meta, "activation", str, where),
            name=_require(meta, "name", str, where),
            region_names=tuple(_require(meta, "region_names", list, where)),
            card=_require(meta, "card", dict, where),
            **{name: arrays[name] for name in baseline},
        )
    except SurrogateFormatError as exc:
        field_name = exc.field or ""
        in_json = not (field_name.startswith("member") or field_name in _TRANSFORM_ARRAYS + _BASELINE_ARRAYS)
        raise SurrogateFormatError(
            exc.reason, path=where if in_json else str(npz_path), field=exc.field
        ) from None
    if list(network.widths) != widths:
        raise SurrogateFormatError(
            f"is {widths}, the arrays have widths {list(network.widths)}",
            path=where,
            field="architecture.widths",
        )
    return network
