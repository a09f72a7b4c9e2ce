"""Fake (SM-only or signal-injected) databases drawn from the database's own statistical models.

:class:`FakeGenerator` draws a fake as a :class:`FakeOverlay` (what differs from the real database), written to
``FAKE/fake.json``; :func:`nextsm.database.load_database` reads such a folder as a database.
"""

from nextsm.fake.overlay import (
    FAKE_FILE,
    FakeDatabaseError,
    FakeOverlay,
    UlShift,
    apply_overlay,
    is_fake_folder,
    read_overlay,
)
from nextsm.fake.sampling import FakeGenerator, FakeSettings, sr_pvalues

__all__ = [
    "FAKE_FILE",
    "FakeDatabaseError",
    "FakeGenerator",
    "FakeOverlay",
    "FakeSettings",
    "UlShift",
    "apply_overlay",
    "is_fake_folder",
    "read_overlay",
    "sr_pvalues",
]
