"""Benchmark: loading the SModelS database v3.0.0 with nextsm vs SModelS 3.2.1, in the same run.

nextsm: cold build (text → records → compiled cache) and warm load (from the cache).
SModelS: building its pickle from the text files, then loading that pickle.
Both read the same extracted folder; CPU time of this process is reported next to wall time.

Usage::

    python benchmarks/bench_database_load.py [--database PATH] [--skip-smodels] [--json OUT.json]

Needs the ``validation`` extra (smodels==3.2.1) unless ``--skip-smodels``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from nextsm.database import load_database, locate_database


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    w0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w0, _cpu() - c0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None)
    parser.add_argument("--skip-smodels", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    db_path = locate_database(args.database)
    results: dict[str, dict[str, float]] = {}
    work = Path(tempfile.mkdtemp(prefix="nextsm-bench-"))
    try:
        folder = db_path
        if db_path.is_file():
            with tarfile.open(db_path) as tar:
                tar.extractall(work, filter="data")
            folder = next(work.glob("*/13TeV")).parent
        cache = work / "cache"
        _, wall, cpu = timed(lambda: load_database(folder, cache_root=cache))
        results["nextsm cold build (folder)"] = {"wall_s": wall, "cpu_s": cpu}
        _, wall, cpu = timed(lambda: load_database(folder, cache_root=cache))
        results["nextsm warm load (folder)"] = {"wall_s": wall, "cpu_s": cpu}
        if db_path.is_file():
            _, wall, cpu = timed(lambda: load_database(db_path, cache_root=work / "cache-tar"))
            results["nextsm cold build (.tar.gz)"] = {"wall_s": wall, "cpu_s": cpu}
            _, wall, cpu = timed(lambda: load_database(db_path, cache_root=work / "cache-tar"))
            results["nextsm warm load (.tar.gz)"] = {"wall_s": wall, "cpu_s": cpu}
        if not args.skip_smodels:
            import logging

            from smodels.experiment.databaseObj import Database as SModelSDatabase

            logging.getLogger("smodels").setLevel(logging.ERROR)

            # force_load=None on a folder without a pickle: read the text files, then write db3.pcl
            built, wall, cpu = timed(lambda: SModelSDatabase(str(folder)))
            results["SModelS 3.2.1 pickle build"] = {"wall_s": wall, "cpu_s": cpu}
            sys.stderr.write(json.dumps(results, indent=2) + "\n")
            pcl = Path(built.pcl_meta.pathname)
            _, wall, cpu = timed(lambda: SModelSDatabase(str(pcl)))
            results["SModelS 3.2.1 pickle load"] = {"wall_s": wall, "cpu_s": cpu}
            results["ratios"] = {
                "build: SModelS / nextsm cold": results["SModelS 3.2.1 pickle build"]["wall_s"]
                / results["nextsm cold build (folder)"]["wall_s"],
                "load: SModelS pickle / nextsm warm": results["SModelS 3.2.1 pickle load"]["wall_s"]
                / results["nextsm warm load (folder)"]["wall_s"],
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    sys.stdout.write(text + "\n")
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
