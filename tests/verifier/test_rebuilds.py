"""A rebuild's reasons survive the start that dropped the index
(services/verifier/rebuilds.py)."""

from __future__ import annotations

import os

import pytest

from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.rebuilds import (
    REBUILD_FILE,
    note_rebuild,
    pending_rebuilds,
    rebuilt,
)
from services.verifier.replay_store import FOLDER as GUARD_FOLDER
from services.verifier.replay_store import prepare_worker_folder
from services.verifier.storage import CLUSTER_FILE, drop_index, prepare_data_dir


def test_reasons_are_kept_once_each_in_order_until_rebuilt(tmp_path):
    assert pending_rebuilds(tmp_path) == ()
    note_rebuild(tmp_path, "format")
    note_rebuild(tmp_path, "damaged")
    note_rebuild(tmp_path, "format")
    assert pending_rebuilds(tmp_path) == ("format", "damaged")
    rebuilt(tmp_path)
    assert pending_rebuilds(tmp_path) == ()
    rebuilt(tmp_path)  # nothing pending: no error


def test_a_folder_not_yet_made_is_made(tmp_path):
    folder = tmp_path / "data" / "g@0"
    note_rebuild(folder, "inconsistent")
    assert pending_rebuilds(folder) == ("inconsistent",)


def test_an_unknown_reason_is_refused(tmp_path):
    with pytest.raises(ValueError, match="rebuild reason"):
        note_rebuild(tmp_path, "because")
    assert not (tmp_path / REBUILD_FILE).exists()


@pytest.mark.parametrize(
    "content",
    [
        b"because\n\xff\xfe\n",  # not a reason of ours, not ASCII
        b"damaged\n" * 64,  # longer than every reason once
    ],
)
def test_a_file_not_ours_is_no_label(tmp_path, content):
    (tmp_path / REBUILD_FILE).write_bytes(content)
    assert pending_rebuilds(tmp_path) == ()


def test_reasons_among_lines_not_ours_are_read(tmp_path):
    (tmp_path / REBUILD_FILE).write_bytes(b"damaged\nx\nother_cluster\n")
    assert pending_rebuilds(tmp_path) == ("damaged", "other_cluster")


@pytest.mark.parametrize("keep", [(), (GUARD_FOLDER,)])
def test_dropping_the_index_keeps_the_reasons(tmp_path, keep):
    (tmp_path / INDEX_FOLDER).mkdir()
    (tmp_path / INDEX_FOLDER / "000001.sst").write_bytes(b"x")
    (tmp_path / CLUSTER_FILE).write_text("c1")
    note_rebuild(tmp_path, "damaged")
    drop_index(tmp_path, keep=keep)
    assert not (tmp_path / INDEX_FOLDER).exists()
    assert pending_rebuilds(tmp_path) == ("damaged",)
    # the cluster's record stays with the guard's store only (as before)
    assert (tmp_path / CLUSTER_FILE).exists() == bool(keep)


def test_an_index_of_another_cluster_is_noted_before_it_is_dropped(tmp_path):
    (tmp_path / INDEX_FOLDER).mkdir()
    (tmp_path / CLUSTER_FILE).write_text("c1")
    assert prepare_data_dir(tmp_path, "c2") is True
    assert pending_rebuilds(tmp_path) == ("other_cluster",)
    assert (tmp_path / CLUSTER_FILE).read_text() == "c2"


def test_a_folder_holding_only_reasons_is_not_another_clusters_index(tmp_path):
    note_rebuild(tmp_path, "damaged")
    assert prepare_data_dir(tmp_path, "c2") is False  # nothing was dropped
    assert pending_rebuilds(tmp_path) == ("damaged",)


def test_a_damaged_table_is_noted_before_the_index_is_dropped(tmp_path):
    from rocksdict import Options, Rdict

    table = tmp_path / INDEX_FOLDER
    db = Rdict(str(table), Options(raw_mode=True))
    db[b"k"] = b"v"
    db.close()
    (table / "CURRENT").write_text("garbage\n")
    (tmp_path / CLUSTER_FILE).write_text("c1")
    damaged, other = prepare_worker_folder(tmp_path, "c1")
    assert [folder.name for folder, _ in damaged] == [INDEX_FOLDER]
    assert other is False
    assert not table.exists()
    assert pending_rebuilds(tmp_path) == ("damaged",)


@pytest.mark.parametrize("odd", ["directory", "fifo", "dangling link"])
def test_what_is_not_a_file_of_ours_is_replaced_by_a_reason_and_cleared(tmp_path, odd):
    path = tmp_path / REBUILD_FILE
    if odd == "directory":
        (path / "inside").mkdir(parents=True)
    elif odd == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "nowhere")
    assert pending_rebuilds(tmp_path) == ()
    note_rebuild(tmp_path, "damaged")
    assert pending_rebuilds(tmp_path) == ("damaged",) and path.is_file()
    if odd == "directory":
        path.unlink()
        (path / "inside").mkdir(parents=True)
    rebuilt(tmp_path)
    assert not os.path.lexists(path)


def test_a_folder_that_cannot_be_written_is_logged_not_raised(tmp_path, caplog):
    folder = tmp_path / "g"
    folder.write_bytes(b"a file where the worker's folder should be")
    note_rebuild(folder, "damaged")  # the drop goes on, uncounted
    assert "cannot note why the index" in caplog.text
    assert pending_rebuilds(folder) == ()
