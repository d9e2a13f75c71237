"""atk16b F6: a verifier worker's start changes its data folder before it knows the
folder is its own.

A worker given a folder another process holds says ``verifier.data_dir: ... is in
use`` and exits 1, but only when ``create_app`` opens the index and RocksDB refuses
its lock. Before that, ``prepare_worker_folder`` (and ``drop_unnamed_folder``,
``drop_old_table``) already acted on the folder: a second worker pointed at the
first one's folder and at another broker (a copied manifest, a staging cluster id)
finds the folder "built from another Kafka cluster" and removes the running worker's
licence index under it (and forgets its replay guard's offsets), then exits "in use".
A damaged-table check that reads a live table mid-compaction drops it the same way.
The kind: the folder's lock is taken after the steps that change the folder.
"""

import contextlib
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.replay_store import prepare_worker_folder
from services.verifier.storage import CLUSTER_FILE


@pytest.mark.xfail(
    strict=True,
    reason="atk16b F6: a second worker's start removes the index of the worker that "
    "holds the folder before it finds the folder in use",
)
def test_a_start_leaves_a_folder_another_worker_holds_as_it_was(tmp_path: Path):
    data_dir = tmp_path / "verifier"
    data_dir.mkdir()
    (data_dir / CLUSTER_FILE).write_text("cluster-a")
    running = Rdict(str(data_dir / INDEX_FOLDER), options=Options(raw_mode=True))
    try:  # the first worker: its index open, RocksDB's lock held
        running[b"k"] = b"v"
        running.flush()
        with contextlib.suppress(Exception):  # a refusal is right; a change is not
            prepare_worker_folder(data_dir, "cluster-b")
        assert (data_dir / INDEX_FOLDER / "CURRENT").exists()
        assert (data_dir / CLUSTER_FILE).read_text() == "cluster-a"
    finally:
        running.close()
