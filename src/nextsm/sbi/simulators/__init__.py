"""Simulators of weighted events with morphing weights (:class:`Simulator`), and the exact toy."""

from __future__ import annotations

from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators.base import ExactSimulator, Simulator
from nextsm.sbi.simulators.toy import ToyConfig, ToyEFTSimulator

__all__ = ["SIMULATOR_NAMES", "ExactSimulator", "Simulator", "ToyConfig", "ToyEFTSimulator", "get_simulator"]

SIMULATOR_NAMES = ("toy", "wh")


def get_simulator(name: str) -> Simulator:
    """The simulator called ``name`` with its default configuration.

    ``toy``: the exact :class:`ToyEFTSimulator`; ``wh``: the Pythia WH(ℓνbb) chain
    :class:`~nextsm.sbi.simulators.wh.pythia_gen.WHSimulator` (signal process; constructing it needs no
    Pythia, :meth:`~nextsm.sbi.simulators.wh.pythia_gen.WHSimulator.simulate` needs the ``pythia`` extra).
    """
    if name == "toy":
        return ToyEFTSimulator()
    if name == "wh":
        from nextsm.sbi.simulators.wh.pythia_gen import WHSimulator

        return WHSimulator()
    raise SBIError(f"parameter 'name': unknown simulator {name!r}, available: {', '.join(SIMULATOR_NAMES)}")
