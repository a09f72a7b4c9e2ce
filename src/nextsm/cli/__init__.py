"""The ``nextsm`` command line: a thin layer of click commands over library functions."""

from __future__ import annotations

from nextsm.cli.main import cli, main

__all__ = ["cli", "main"]
