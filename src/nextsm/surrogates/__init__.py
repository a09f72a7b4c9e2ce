"""Neural surrogates of full (HistFactory) likelihoods: numpy inference, a portable file format, training.

A :class:`SurrogateNetwork` maps the signal yields per signal region to the four profiled
:math:`q_v = -2\\ln L_v(s)/L_v(0)` of :data:`VARIANTS`; :func:`save` / :func:`load` write and read
the ``.json`` + ``.npz`` format; :func:`accuracy_report` compares a surrogate with exact labels.
Everything here needs numpy only.  Training lives in :mod:`nextsm.surrogates.train`, which needs the
``torch`` extra and is not imported by this package.
"""

from __future__ import annotations

from nextsm.surrogates.accuracy import AccuracyReport, accuracy_report
from nextsm.surrogates.errors import SurrogateDomainError, SurrogateFormatError
from nextsm.surrogates.io import FORMAT_NAME, FORMAT_VERSION, load, save
from nextsm.surrogates.network import ACTIVATIONS, MLP, VARIANTS, SurrogateDomain, SurrogateNetwork

__all__ = [
    "ACTIVATIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MLP",
    "VARIANTS",
    "AccuracyReport",
    "SurrogateDomain",
    "SurrogateDomainError",
    "SurrogateFormatError",
    "SurrogateNetwork",
    "accuracy_report",
    "load",
    "save",
]
