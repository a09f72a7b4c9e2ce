"""The SModelS database: locate it, read it (folder or .tar.gz), cache it, and query it.

>>> from nextsm.database import load_database   # doctest: +SKIP
>>> db = load_database()                          # doctest: +SKIP
"""

from __future__ import annotations

from nextsm.database.loader import LoadInfo, load_database
from nextsm.database.records import Analysis, Database, Dataset, GlobalInfo, TxName
from nextsm.database.source import DatabaseSource, locate_database, open_source
from nextsm.database.textformat import GridTable

__all__ = [
    "Analysis",
    "Database",
    "DatabaseSource",
    "Dataset",
    "GlobalInfo",
    "GridTable",
    "LoadInfo",
    "TxName",
    "load_database",
    "locate_database",
    "open_source",
]
