"""``nextsm export-slha``: a protomodel JSON file as SLHA (MASS, DECAY, XSECTION), for SModelS and friends."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export-slha")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@click.option("--xsec-folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="Reference cross-section tables (default: $NEXTSM_XSEC, then ../shared/data/xsec).")
def export_slha(model_file: Path, output: Path | None, xsec_folder: str | None) -> None:
    """Write MODEL_FILE (protomodel JSON) as SLHA.

    The XSECTION blocks hold κ × the reference cross sections at 8 and 13 TeV; pairs listed in the model's
    "xsecs" field take those values instead.
    """
    from nextsm.model.cross_sections import model_cross_sections
    from nextsm.model.protomodel import ProtoModel
    from nextsm.model.slha import to_slha
    from nextsm.model.xsec import ReferenceCrossSections

    model = ProtoModel.from_json(model_file)
    xsecs = model_cross_sections(model, ReferenceCrossSections.load(xsec_folder))
    text = to_slha(model, xsecs)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
