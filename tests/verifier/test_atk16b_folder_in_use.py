"""atk16b F6: a verifier worker's start changed its data folder before it knew the
folder was its own (fixed: ``prepare_worker_folder`` refuses first, FolderInUse).

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

from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.replay_store import FolderInUse, prepare_worker_folder
from services.verifier.storage import CLUSTER_FILE


def test_a_start_leaves_a_folder_another_worker_holds_as_it_was(tmp_path: Path):
    data_dir = tmp_path / "verifier"
    data_dir.mkdir()
    (data_dir / CLUSTER_FILE).write_text("cluster-a")
    running = Rdict(str(data_dir / INDEX_FOLDER), options=Options(raw_mode=True))
    try:  # the first worker: its index open, RocksDB's lock held
        running[b"k"] = b"v"
        running.flush()
        with pytest.raises(FolderInUse) as refused:
            prepare_worker_folder(data_dir, "cluster-b")
        assert refused.value.table == data_dir / INDEX_FOLDER
        assert (data_dir / INDEX_FOLDER / "CURRENT").exists()
        assert (data_dir / CLUSTER_FILE).read_text() == "cluster-a"
    finally:
        running.close()


def test_a_folder_whose_tables_are_closed_is_prepared(tmp_path: Path):
    """A table closed again (its LOCK file left behind, as RocksDB leaves it) is no
    one's: the start goes on (another cluster: the index dropped, to be rebuilt)."""
    data_dir = tmp_path / "verifier"
    data_dir.mkdir()
    (data_dir / CLUSTER_FILE).write_text("cluster-a")
    closed = Rdict(str(data_dir / INDEX_FOLDER), options=Options(raw_mode=True))
    closed[b"k"] = b"v"
    closed.close()
    assert (data_dir / INDEX_FOLDER / "LOCK").exists()
    assert prepare_worker_folder(data_dir, "cluster-b") == ([], True)
    assert (data_dir / CLUSTER_FILE).read_text() == "cluster-b"
