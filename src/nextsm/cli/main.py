"""Top-level ``nextsm`` command group."""

from __future__ import annotations

import logging

import click

from nextsm import __version__
from nextsm.cli.database import database
from nextsm.cli.demo import demo
from nextsm.cli.explain import explain
from nextsm.cli.fakedb import fakedb
from nextsm.cli.interval import interval
from nextsm.cli.limit import limit
from nextsm.cli.model import export_slha
from nextsm.cli.plot import plot
from nextsm.cli.predict import predict
from nextsm.cli.pvalue import pvalue
from nextsm.cli.report import report
from nextsm.cli.sbi import sbi
from nextsm.cli.study import study
from nextsm.cli.surrogate import surrogate
from nextsm.cli.walk import hiscores, walk
from nextsm.errors import NextsmError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nextsm")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """nextsm: search LHC data for the next Standard Model."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(database)
cli.add_command(limit)
cli.add_command(demo)
cli.add_command(export_slha)
cli.add_command(predict)
cli.add_command(explain)
cli.add_command(walk)
cli.add_command(hiscores)
cli.add_command(fakedb)
cli.add_command(study)
cli.add_command(pvalue)
cli.add_command(surrogate)
cli.add_command(sbi)
cli.add_command(interval)
cli.add_command(report)
cli.add_command(plot)


def main() -> None:
    """Console-script entry point: nextsm errors become a one-line message and exit code 1."""
    try:
        cli(standalone_mode=False)
    except NextsmError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
