"""Write ``docs/api.md``, the reference of nextsm's public names, from the docstrings.

Every module of the package that declares ``__all__`` is imported (modules whose optional dependencies are missing
are listed as skipped); a class or function is documented in the module that defines it, with its signature, the
first paragraph of its docstring and, for classes, the public methods and properties.  Constants are documented
in the first module that lists them.  The command-line modules (``nextsm.cli``) are left out: ``nextsm --help``
documents them.

Usage: ``python docs/make_api.py`` (writes ``docs/api.md``) or ``python docs/make_api.py --check`` (exit code 1
if ``docs/api.md`` is out of date).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import nextsm

OUT = Path(__file__).with_name("api.md")


def _markdown(text: str) -> str:
    """reST roles and literals as Markdown code: :func:`~a.b` -> `b`, ``x`` -> `x`."""
    text = re.sub(r":\w+:`~([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return _markdown(" ".join(doc.split("\n\n", 1)[0].split()))


def _stable_repr(obj: object) -> str:
    """``repr`` with sets in sorted order (string hashing is randomised per process)."""
    if isinstance(obj, (set, frozenset)):
        items = ", ".join(sorted(repr(x) for x in obj))
        return f"{type(obj).__name__}({{{items}}})" if isinstance(obj, frozenset) else f"{{{items}}}"
    return repr(obj)


def _signature(obj: object) -> str:
    """``(a: int, *, b: str = 'x') -> float`` with the (string) annotations unquoted."""
    try:
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    parts, star = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.kind is p.VAR_POSITIONAL:
            star = True
        if p.annotation is not p.empty:
            text += f": {p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)}"
        if p.default is not p.empty:
            # functions and classes by name: their repr carries a memory address (the page would never be stable)
            default = getattr(p.default, "__qualname__", None) if callable(p.default) else None
            text += f" = {default}" if default else f" = {_stable_repr(p.default)}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (p.name == list(sig.parameters)[-1]):
            parts.append("/")
    out = f"({', '.join(parts)})"
    if sig.return_annotation is not sig.empty:
        ret = sig.return_annotation
        out += f" -> {ret if isinstance(ret, str) else inspect.formatannotation(ret)}"
    return out


def _modules() -> tuple[list[ModuleType], list[str]]:
    modules, skipped = [nextsm], []
    for info in pkgutil.walk_packages(nextsm.__path__, "nextsm."):
        if info.name.startswith("nextsm.cli") or any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as exc:
            skipped.append(f"{info.name} ({exc})")
    return sorted(modules, key=lambda m: m.__name__), skipped


def _method(func: object) -> str:
    """The signature of a method without its ``self``/``cls``."""
    return re.sub(r"^\((?:self|cls)(?:, )?", "(", _signature(func))


def _members(cls: type) -> list[str]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out.append(f"  - `{name}` (property): {_summary(member)}")
        elif isinstance(member, classmethod | staticmethod):
            out.append(f"  - `{name}{_method(member.__func__)}`: {_summary(member.__func__)}")
        elif inspect.isfunction(member):
            out.append(f"  - `{name}{_method(member)}`: {_summary(member)}")
    return out


def render() -> str:
    modules, skipped = _modules()
    seen: set[int] = set()
    lines = ["# API reference", "",
             "The public names of nextsm (each module's `__all__`), generated from the docstrings by "
             "`python docs/make_api.py`; do not edit by hand.  A name is documented in the module that defines it; "
             "packages re-export the names of their modules (e.g. `from nextsm.machine import best_combination`).",
             ""]
    for module in modules:
        names = getattr(module, "__all__", None)
        if not names:
            continue
        entries = []
        reexported = []
        for name in names:
            obj = getattr(module, name)
            obj = inspect.unwrap(obj) if callable(obj) and hasattr(obj, "__wrapped__") else obj
            defined_here = getattr(obj, "__module__", None) == module.__name__
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if not defined_here:
                    reexported.append(f"`{name}` ({obj.__module__})")
                    continue
                kind = "class" if inspect.isclass(obj) else "function"
                signature = _signature(obj).removesuffix(" -> None") if kind == "class" else _signature(obj)
                entries.append(f"- **`{name}{signature}`** ({kind}): {_summary(obj)}")
                if inspect.isclass(obj):
                    entries.extend(_members(obj))
            elif id(obj) not in seen or isinstance(obj, str | int | float):
                if name == "__version__" or (isinstance(obj, ModuleType)):
                    continue
                seen.add(id(obj))
                value = _stable_repr(obj)
                entries.append(f"- `{name}` ({type(obj).__name__})" + (f" = `{value}`" if len(value) <= 90 and " at 0x" not in value else ""))
        if not entries and not reexported:
            continue
        lines += [f"## `{module.__name__}`", "", _summary(module), ""]
        lines += entries
        if reexported:
            lines += ["", "Re-exported: " + ", ".join(reexported) + "."]
        lines.append("")
    if skipped:
        lines += ["## Not documented here", "", "Modules that could not be imported when this page was made "
                  "(an optional dependency missing):", ""]
        lines += [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        return 0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
