"""Walkers on a Dask LocalCluster survive a killed worker without losing a step."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nextsm.machine.run import run_dask
from nextsm.machine.store import RunStore

pytestmark = pytest.mark.database
distributed = pytest.importorskip("distributed")


def test_four_walkers_on_a_local_cluster_survive_a_killed_worker(tmp_path, database_path, monkeypatch):
    folder = tmp_path / "run"
    killed: list[int] = []
    real_cluster = distributed.LocalCluster

    def cluster(*args, **kwargs):
        c = real_cluster(*args, **kwargs)

        def killer():  # once steps are being written, kill one worker process
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                if (folder / "run.sqlite").exists():
                    s = RunStore(folder)
                    try:
                        done = sum(s.count().values())
                    finally:
                        s.close()
                    if done >= 6:
                        pid = next(iter(c.workers.values())).process.pid
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
                time.sleep(0.2)

        threading.Thread(target=killer, daemon=True).start()
        return c

    monkeypatch.setattr(distributed, "LocalCluster", cluster)
    counts = run_dask(folder, walkers=4, steps=8, seed=2, database=str(database_path), n_workers=2, poll=0.2)
    assert killed, "the test did not manage to kill a worker"
    assert counts == {0: 8, 1: 8, 2: 8, 3: 8}
    store = RunStore(folder)
    try:
        for w in range(4):
            assert [r.step for r in store.steps(w)] == list(range(1, 9))
    finally:
        store.close()
