"""Benchmark: drawing a fake database with nextsm vs what a fake costs the original (SModelS pickle I/O), same run.

nextsm: :class:`nextsm.fake.FakeGenerator` set-up (with and without the pyhf workspaces), the median time of one
fake (``sample`` + writing ``fake.json``), and loading a fake as a database.
Reference: the original's ``expResModifier.py`` loads the SModelS database pickle, modifies it and writes a new
pickle per fake; the floor of that is SModelS 3.2.1 loading its pickle and writing it again
(``Database.createBinaryFile``), timed here on the same machine.  Without a pickle the original first needs the
~14-minute build (protomodels.md §7.1), not timed here.

Usage::

    python benchmarks/bench_fakedb.py [--fakes 20] [--smodels-db FOLDER_WITH_db3.pcl] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fakes", type=int, default=20)
    parser.add_argument("--smodels-db", default=None, help="SModelS database folder holding its db3.pcl")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from nextsm.database import DatabaseSource, load_database
    from nextsm.fake import FakeGenerator

    out: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="nextsm-fakes-"))
    t0 = time.perf_counter()
    db = load_database()
    out["load_real_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = FakeGenerator(db)
    out["setup_s"] = time.perf_counter() - t0
    with DatabaseSource(db.path) as source:
        t0 = time.perf_counter()
        full = FakeGenerator(db, source=source)
        out["setup_with_workspaces_s"] = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    for name, gen in (("fake", plain), ("fake_with_workspaces", full)):
        times = []
        for i in range(args.fakes):
            t0 = time.perf_counter()
            gen.sample(rng, seed=i).write(work / f"{name}-{i}")
            times.append(time.perf_counter() - t0)
        out[f"{name}_median_s"] = statistics.median(times)
        out[f"{name}_max_s"] = max(times)
    t0 = time.perf_counter()
    load_database(work / "fake_with_workspaces-0")
    out["load_fake_s"] = time.perf_counter() - t0
    out["fake_json_kB"] = (work / "fake_with_workspaces-0" / "fake.json").stat().st_size / 1e3

    if args.smodels_db:
        from smodels.experiment.databaseObj import Database

        t0 = time.perf_counter()
        sdb = Database(args.smodels_db)
        out["smodels_load_pickle_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sdb.createBinaryFile(str(work / "fake.pcl"))
        out["smodels_write_pickle_s"] = time.perf_counter() - t0
        floor = out["smodels_load_pickle_s"] + out["smodels_write_pickle_s"]
        out["ratio_reference_over_nextsm"] = floor / out["fake_with_workspaces_median_s"]
    for key, value in out.items():
        print(f"{key:32s} {value:10.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
