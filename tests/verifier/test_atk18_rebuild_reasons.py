"""Outside review (atk18) of a rebuild's reason kept in the worker's folder
(services/verifier/rebuilds.py): what the file ``rebuild-reasons`` and its scratch do
when the data folder holds something odd, and whether the reason is kept until the
rebuild is done in every path (findings F1-F6, each fixed)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.diskindex import DiskIndex
from services.verifier.feed import LicenceFeed
from services.verifier.group import GroupIndex
from services.verifier.index import Freshness
from services.verifier.partitions import Ownership
from services.verifier.rebuilds import (
    REBUILD_FILE,
    note_rebuild,
    pending_rebuilds,
)
from services.verifier.replay_store import FOLDER as GUARD_FOLDER
from services.verifier.storage import CLUSTER_FILE, drop_index, prepare_data_dir
from tests.verifier.fake_consumer import FakeConsumer

SCRATCH = f"{REBUILD_FILE}.tmp"  # certseal.files.write_atomically's


def _returns_within(call, *, unblock, seconds: float = 3.0):
    """Run ``call`` in a thread; (finished, result or exception). A call still
    blocked after ``seconds`` is released with ``unblock()`` (so the test ends)."""
    out: list = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    finished = not thread.is_alive()
    if not finished:
        unblock()
        thread.join(5)
    return finished, (out[0] if out else None)


def _release_reader(fifo: Path) -> None:
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a reader waits: succeeds
    os.close(fd)


def _release_writer(fifo: Path) -> None:
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the writer's open returns
    threading.Timer(1.0, os.close, (fd,)).start()


# --- F2: a FIFO in the worker's folder hangs the start -------------------------------


def test_a_fifo_named_rebuild_reasons_does_not_hang_the_start(tmp_path):
    """__main__ reads the file at every start (pending_rebuilds) with a plain
    open(): a FIFO there blocks the start for ever, before anything listens (the
    group-member file of the same folder is read with read_regular_file, which
    refuses a FIFO: "not /dev/zero, not a FIFO")."""
    fifo = tmp_path / REBUILD_FILE
    os.mkfifo(fifo)
    finished, result = _returns_within(
        lambda: pending_rebuilds(tmp_path), unblock=lambda: _release_reader(fifo)
    )
    assert finished, "pending_rebuilds blocked on a FIFO named rebuild-reasons"
    assert result == ()


def test_a_fifo_as_the_scratch_file_does_not_hang_a_drop(tmp_path):
    """note_rebuild opens ``.rebuild-reasons.tmp`` for writing, following whatever
    is there: a FIFO blocks it (and with it the drop of a damaged index)."""
    fifo = tmp_path / SCRATCH
    os.mkfifo(fifo)
    finished, _ = _returns_within(
        lambda: note_rebuild(tmp_path, "damaged"),
        unblock=lambda: _release_writer(fifo),
    )
    assert finished, "note_rebuild blocked on a FIFO named .rebuild-reasons.tmp"


# --- F3: a directory / symlink loop named rebuild-reasons crashes every start ---------


@pytest.mark.parametrize("kind", ["directory", "symlink loop"])
def test_an_odd_rebuild_reasons_is_no_label_not_a_crash(tmp_path, kind):
    """pending_rebuilds catches only FileNotFoundError: a directory (IsADirectoryError)
    or a symbolic link loop (ELOOP) named rebuild-reasons is a traceback at every
    start, in __main__ before Faust runs; drop_index and prepare_data_dir keep the
    name, so no drop ever clears it: a crash loop. Its docstring says what is not
    ours is left out."""
    path = tmp_path / REBUILD_FILE
    if kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(REBUILD_FILE)
    assert pending_rebuilds(tmp_path) == ()


def test_a_directory_named_rebuild_reasons_does_not_stop_a_damaged_index_drop(
    tmp_path,
):
    """The drop of a damaged index notes its reason first; a directory under the
    file's name makes note_rebuild raise, so the index is never dropped and the
    worker never starts (it was dropped and rebuilt before 7c88f18)."""
    (tmp_path / REBUILD_FILE).mkdir()
    (tmp_path / INDEX_FOLDER).mkdir()
    try:
        note_rebuild(tmp_path, "damaged")
    except OSError as exc:
        pytest.fail(f"note_rebuild: {exc!r}")


# --- F4: a symbolic link as the scratch file is written through -------------------------


def test_a_symlinked_scratch_file_is_not_written_through(tmp_path):
    """note_rebuild opens ``.rebuild-reasons.tmp`` with open(..., "w"): a symbolic
    link there is followed, so the file it names (anywhere the verifier may write)
    is truncated and overwritten with the reasons, and the link is then renamed to
    rebuild-reasons (rebuilt() later removes only the link)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.txt"
    precious.write_text("not the verifier's\n")
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / SCRATCH).symlink_to(precious)
    note_rebuild(folder, "damaged")
    assert precious.read_text() == "not the verifier's\n"
    assert not (folder / REBUILD_FILE).is_symlink()


# --- F6: drop_index(keep=()) no longer removes the folder whole --------------------------


def test_a_guard_damaged_drop_then_the_cluster_check_neither_crash_nor_count(tmp_path):
    """When the replay guard's own store is damaged, prepare_worker_folder calls
    drop_index(keep=()). Before 7c88f18 that removed the worker's folder whole
    (shutil.rmtree); now it removes entry by entry, ignoring errors, to keep
    rebuild-reasons: a symbolic link to a folder is left (rmtree refuses links),
    and so is the folder without its cluster record. prepare_data_dir, the next
    step of the same start, then takes the folder for another cluster's: it notes
    and counts ``other_cluster`` (same cluster) and raises on the link (ignore_errors
    False), at this start and every next one."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / INDEX_FOLDER).mkdir()
    (folder / GUARD_FOLDER).mkdir()
    (folder / CLUSTER_FILE).write_text("c1")
    (folder / "linked").symlink_to(elsewhere)
    note_rebuild(folder, "damaged")
    drop_index(folder, keep=())  # what prepare_worker_folder does (guard damaged)
    left = sorted(p.name for p in folder.iterdir())
    failed = None
    try:
        prepare_data_dir(folder, "c1", keep=(GUARD_FOLDER,))
    except OSError as exc:
        failed = exc
    # as rmtree left it; no error; not other_cluster: the cluster is the same
    assert (left, failed, pending_rebuilds(folder)) == (
        [REBUILD_FILE],
        None,
        ("damaged",),
    )


# --- F1: a group of one removes the reason before it read its topic -----------------------


def feed_of_1000_unread(index: DiskIndex, freshness: Freshness) -> LicenceFeed:
    """A group of one's feed of a licence topic of one partition holding 1,000
    events (its consumer and read_end_offsets' probe: none read)."""
    return LicenceFeed(
        index,
        consumer_factory=lambda **kw: FakeConsumer(end=1000),
        freshness=freshness,
        dead_letter=lambda record, problem: asyncio.sleep(0),
    )


async def test_a_dropped_index_of_a_group_of_one_is_not_caught_up_before_it_is_read(
    tmp_path,
):
    """The reasons are cleared once the feed has read its topic to the end offsets
    of its start (``feed.caught_up``) and the index reads through whole. For a group
    of one (the default), a fresh, just dropped index was taken as holding every
    partition (``built`` was set as start() ended, before one event was read):
    clearing on ``built`` removed the reason seconds after the start, while the
    rebuild from the licence topic had not begun, so a start killed during it left
    nothing for the next (atk18 F1). No lookup is answered before the feed has read
    the topic's partitions; while it builds, answers carry its lag (nu18: "0 events
    behind" for an empty index)."""
    note_rebuild(tmp_path, "damaged")
    index = DiskIndex(tmp_path / INDEX_FOLDER)  # what the drop left: empty
    freshness = Freshness()
    freshness.tables_read.set()  # the trust list is not this test's subject
    feed = feed_of_1000_unread(index, freshness)
    group = GroupIndex(index, feed, freshness, group="g", ownership=Ownership())
    lineage = b"CN-LINEAGE"
    try:
        with pytest.raises(CertsealError) as before:  # not started: nothing read
            await group.get_many([lineage])
        assert before.value.kind is ErrorKind.UNAVAILABLE
        await asyncio.wait_for(feed.start(), 10)
        assert feed.built.is_set()  # a group of one answers while it builds
        assert not feed.caught_up.is_set()  # not one event of the topic read
        assert not group.caught_up  # (no offline bundle: it would lack revocations)
        as_of: dict = {}
        assert await group.get_many([lineage], as_of) == {lineage: None}
        freshness.measure_lag(feed.high_waters())
        assert freshness.lag_events == 1000  # ... with its lag in the answer
        assert pending_rebuilds(tmp_path) == ("damaged",)
        for tp in feed.assignment():  # read to the end the topic had at the start
            feed.consumer.positions[tp] = 1000
        await feed._settle_building()
        assert feed.caught_up.is_set() and group.caught_up
    finally:
        index.close()


# --- F5: the format paths note the reason after the drop ----------------------------------


class _Killed(BaseException):
    pass


@pytest.mark.parametrize("path", ["old table", "unnamed folder"])
def test_a_format_drop_is_noted_before_it_is_done(tmp_path, monkeypatch, path):
    """__main__ drops the previous version's Faust table (drop_old_table) and a named
    worker's unnamed folder (drop_unnamed_folder) first and notes ``format`` after:
    a start killed in between (here: at the note) has removed what it drops and
    recorded no reason, so no start ever counts that rebuild. The docs say the
    reason is written before the index is dropped."""
    import services.verifier.__main__ as main_module

    root = tmp_path / "data"
    named = root / "g@w"
    old_table = named / "v1" / "tables" / "licence-index-0.db"
    unnamed = root / "g"
    if path == "old table":
        old_table.mkdir(parents=True)
        (named / CLUSTER_FILE).write_text("c1")  # this cluster's: not dropped whole
    else:
        (unnamed / INDEX_FOLDER).mkdir(parents=True)
    config = tmp_path / "c.toml"
    config.write_text("")

    async def cluster(cfg):
        return "c1"

    async def no_mismatch(cfg):
        return []

    def killed_at_format(data_dir, reason):
        if reason == "format":
            raise _Killed
        note_rebuild(data_dir, reason)

    monkeypatch.setattr(main_module, "check_identity", lambda cfg: "v")
    monkeypatch.setattr(main_module, "check_files", lambda cfg: None)
    monkeypatch.setattr(main_module, "check_listen", lambda *a: None)
    monkeypatch.setattr(main_module.logs, "configure", lambda level: None)
    monkeypatch.setattr(main_module, "broker_cluster_id", cluster)
    monkeypatch.setattr(main_module, "partition_mismatches", no_mismatch)
    monkeypatch.setattr(main_module, "note_rebuild", killed_at_format)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "verifier",
            *("--config", str(config), "--group", "g", "--worker", "w"),
            *("--data-dir", str(root)),
        ],
    )
    with pytest.raises(_Killed):
        main_module.main()
    dropped = not (old_table if path == "old table" else unnamed).exists()
    assert not dropped or pending_rebuilds(named) == ("format",), (
        "dropped, and no reason kept for the next start"
    )


async def test_a_rebuilding_index_answers_with_its_whole_lag_from_the_start(tmp_path):
    """The lag a worker reports (in its answers, its metrics) counts a partition read
    from its beginning from the start. Before a partition's first fetch the feed
    knew no high water, and a partition with nothing applied counted as no lag: an
    empty index said it was 0 events behind a topic of 1,000 (nu18)."""
    index = DiskIndex(tmp_path / INDEX_FOLDER)
    freshness = Freshness()
    feed = feed_of_1000_unread(index, freshness)
    try:
        await asyncio.wait_for(feed.start(), 10)
        freshness.measure_lag(feed.high_waters())
        assert freshness.lag_events == 1000
        freshness.note(index.topic, 0, 399, 0.0)  # 400 events applied
        freshness.measure_lag(feed.high_waters())
        assert freshness.lag_events == 600
    finally:
        index.close()
