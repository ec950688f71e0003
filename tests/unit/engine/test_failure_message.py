"""What a failed task's error says: the exception a Python component ended with, else the
log's last line if it says anything, else the exit code alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from api_server.backends.embedded.runner import _log_tail


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            'Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
            "    raise RuntimeError('asked to fail')\nRuntimeError: asked to fail\n",
            "RuntimeError: asked to fail",
        ),
        # Something printed after the exception does not hide it.
        ("ValueError: bad row 7\n[KFP Executor] shutting down\n", "ValueError: bad row 7"),
        ("copying\nattempt 2 of 3 failed\n", "attempt 2 of 3 failed"),
        # sys.exit(1) after the executor's input dump: nothing worth quoting.
        ('{\n    "inputs": {}\n}\n', ""),
        ("--- attempt 1 at 2026-01-01T00:00:00Z ---\n", ""),
        ("", ""),
    ],
)
def test_the_message_of_a_failed_task(tmp_path: Path, log: str, expected: str) -> None:
    path = tmp_path / "task.log"
    path.write_text(log)
    assert _log_tail(path) == expected


def test_a_missing_log_gives_no_message(tmp_path: Path) -> None:
    assert _log_tail(tmp_path / "absent.log") == ""
