"""The run log's records: each task reads back its own output, in order; a record cut short
ends what can be read; reading can continue where it stopped."""

from __future__ import annotations

from pathlib import Path

from domain.task_logs import RunLog, TaskOutput, follow, read_stream, record


def test_streams_read_back_their_own_records_in_order(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "run" / "tasks.log")  # the folder is created on first write
    a, b = log.output("node-a"), log.output("node-b")
    a.write(b"one\n")
    b.write(b"other \n with a header-like line\nnode-a 3\n")
    a.write(b"")  # nothing to write: no record
    a.write(b"two\n")
    log.close()

    assert read_stream(log.path, "node-a")[0] == b"one\ntwo\n"
    assert read_stream(log.path, "node-b")[0] == b"other \n with a header-like line\nnode-a 3\n"
    assert read_stream(log.path, "node-c")[0] == b""
    assert read_stream(tmp_path / "absent.log", "node-a") == (b"", 0)


def test_reading_continues_from_the_offset_it_returned(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "tasks.log")
    log.append("n", b"first\n")
    data, offset = read_stream(log.path, "n")
    log.append("m", b"not mine\n")
    log.append("n", b"second\n")

    assert data == b"first\n"
    assert read_stream(log.path, "n", offset) == (b"second\n", log.path.stat().st_size)


def test_a_record_cut_short_ends_the_readable_log(tmp_path: Path) -> None:
    path = tmp_path / "tasks.log"
    path.write_bytes(record("n", b"whole\n") + record("n", b"cut short\n")[:-4])

    data, offset = read_stream(path, "n")

    assert data == b"whole\n"
    assert offset == len(record("n", b"whole\n"))  # a follower retries from here


def test_a_plain_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "task.log"
    path.write_bytes(b"an older server's log\n")
    assert read_stream(path, None) == (b"an older server's log\n", 22)


def test_the_tail_keeps_the_latest_output_only(tmp_path: Path) -> None:
    output = TaskOutput(RunLog(tmp_path / "tasks.log"), "n")
    output.write(b"x" * 10_000)
    output.write(b"\nlast line\n")
    assert output.tail.endswith("\nlast line\n")
    assert len(output.tail) == 8192


def test_follow_yields_output_until_the_task_has_ended(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "tasks.log")
    log.append("n", b"early\n")
    checks = iter([False, False, True, True])
    wrote_late = []

    def finished() -> bool:
        done = next(checks)
        if done and not wrote_late:  # the task's last words land as it ends
            log.append("n", b"late\n")
            wrote_late.append(True)
        return done

    assert list(follow(log.path, "n", finished, poll_seconds=0)) == [b"early\n", b"late\n"]
