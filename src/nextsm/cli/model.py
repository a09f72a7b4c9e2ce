"""``nextsm export-slha``: a protomodel JSON file as SLHA (MASS, DECAY, XSECTION), for SModelS and friends."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export-slha")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
def export_slha(model_file: Path, output: Path | None) -> None:
    """Write MODEL_FILE (protomodel JSON) as SLHA; cross sections come from its "xsecs" field."""
    from nextsm.model.protomodel import ProtoModel
    from nextsm.model.slha import to_slha

    text = to_slha(ProtoModel.from_json(model_file))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
