"""What a failed task's error says: the exception a Python component ended with, else the
log's last line if it says anything, else the exit code alone."""

from __future__ import annotations

import pytest

from api_server.backends.embedded.runner import failure_line


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
def test_the_message_of_a_failed_task(log: str, expected: str) -> None:
    assert failure_line(log) == expected
