"""Summarize a ``py-spy record --format raw`` profile (collapsed stacks) of the server.

Prints, over the samples of busy threads (idle event-loop / pool waits dropped), the
functions with the largest inclusive share (% of samples whose stack contains them) and the
largest self share (% of samples where they are the leaf). Optional ``--focus`` keeps only
stacks containing a substring (e.g. a route handler name).

    .venv/bin/python bench/pyspy_summary.py /tmp/prof/sqlite/create-processes.txt --top 40
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Leaf frames that mean "this thread is waiting, not working".
IDLE_LEAVES = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "wait (threading.py",
    "run_once (",
    "_run_once (asyncio/base_events.py",
    "poll (selectors.py",
    "epoll",
    "get (queue.py",
    "_wait_for_tstate_lock",
)
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``, without the line number."""
    frame = _FRAME_LINE.sub(")", frame)
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else where
    return f"{name} ({short})" if where else name


def load(path: Path, focus: str | None) -> tuple[list[tuple[list[str], int]], int, int]:
    stacks: list[tuple[list[str], int]] = []
    idle = total = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        count = int(match["count"])
        frames = match["stack"].split(";")
        total += count
        leaf = frames[-1]
        if any(marker in leaf for marker in IDLE_LEAVES):
            idle += count
            continue
        if focus and not any(focus in f for f in frames):
            continue
        # Drop the thread-name pseudo-frame py-spy --threads adds first.
        if frames and frames[0].startswith("thread ("):
            frames = frames[1:]
        if not frames:
            continue
        stacks.append(([frame_name(f) for f in frames], count))
    return stacks, idle, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--focus", help="keep only stacks with a frame containing this")
    args = parser.parse_args(argv)
    stacks, idle, total = load(args.profile, args.focus)
    busy = sum(c for _, c in stacks)
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for frames, count in stacks:
        for name in set(frames):
            inclusive[name] += count
        self_time[frames[-1]] += count
    print(f"{args.profile}: {total} samples, {idle} idle, {busy} busy (percentages of busy)")
    print(f"\n-- inclusive (top {args.top}) --")
    for name, count in inclusive.most_common(args.top):
        print(f"{100 * count / busy:6.1f}%  {name}")
    print(f"\n-- self (top {args.top}) --")
    for name, count in self_time.most_common(args.top):
        print(f"{100 * count / busy:6.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
