"""Run the API benchmark on SQLite and PostgreSQL and print every figure with its floor.

``make bench`` runs this with the defaults (100,000 runs per database, about 5 minutes on a
2-core machine). It measures and prints; it never fails because a floor is missed. It exits
non-zero only if a benchmark itself could not run.

    .venv/bin/python bench/run_all.py                      # both databases, 100k runs
    .venv/bin/python bench/run_all.py --databases sqlite --repeat 3 -- --create-seconds 30
    .venv/bin/python bench/run_all.py --json /tmp/bench.json
    .venv/bin/python bench/run_all.py --databases none --engine   # the engine's figures only

Arguments after ``--`` go to every ``bench/bench_api.py`` invocation unchanged.
``bench/bench_grpc.py`` (gRPC against REST, same run) follows on each database unless
``--benches api`` leaves it out.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "SQLAlchemy",
    "psycopg",
    "httpx",
)


def machine_info(pg_admin_url: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "kernel": platform.release(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    try:
        import psycopg

        with psycopg.connect(pg_admin_url, connect_timeout=3) as con:
            row = con.execute("SHOW server_version").fetchone()
            info["postgresql_server"] = row[0] if row else "?"
    except Exception as exc:  # the report says so; the SQLite bench still runs
        info["postgresql_server"] = f"unavailable ({type(exc).__name__})"
    try:
        info["headrace_commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            info["headrace_commit"] += " (+ uncommitted changes)"
    except (OSError, subprocess.CalledProcessError):
        info["headrace_commit"] = "unknown"
    info["load_1_5_15"] = "/".join(f"{v:.2f}" for v in os.getloadavg())
    return info


def run_engine_bench() -> tuple[dict[str, Any] | None, bool]:
    """Run ``bench_engine.py`` with its defaults; (its JSON, whether it failed)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    cmd = [sys.executable, str(BENCH_DIR / "bench_engine.py"), "--json", str(out)]
    print(f"\n== embedded engine: {' '.join(cmd[1:])}")
    sys.stdout.flush()
    result = subprocess.run(cmd, cwd=REPO)
    if result.returncode != 0:
        print(f"   engine: the benchmark itself failed (exit {result.returncode})")
        out.unlink(missing_ok=True)
        return None, True
    engine: dict[str, Any] = json.loads(out.read_text())
    out.unlink(missing_ok=True)
    return engine, False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        passthrough = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="run each database N times")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", help="write every figure and the machine info here")
    parser.add_argument(
        "--engine", action="store_true", help="also run bench/bench_engine.py (embedded engine)"
    )
    parser.add_argument("--benches", default="api,grpc", help="comma list of api,grpc")
    args = parser.parse_args(argv)

    info = machine_info(args.pg_admin_url)
    print("== machine ==")
    for key, value in info.items():
        print(f"  {key}: {value}")
    print("  (server: one `headrace serve` process, HEADRACE_ACCESS_LOG=false, loopback HTTP)")
    sys.stdout.flush()

    outcomes: list[dict[str, Any]] = []
    failed = False
    for database in [d for d in args.databases.split(",") if d != "none"]:
        if database == "postgresql" and str(info["postgresql_server"]).startswith("unavail"):
            print(f"\n== {database}: skipped, server {info['postgresql_server']} ==")
            continue
        for attempt, bench in (
            (attempt, bench)
            for attempt in range(1, args.repeat + 1)
            for bench in args.benches.split(",")
        ):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
                out = Path(handle.name)
            script = BENCH_DIR / f"bench_{bench}.py"
            cmd = [sys.executable, str(script), "--database", database]
            cmd += ["--runs", str(args.runs), "--pg-admin-url", args.pg_admin_url]
            cmd += ["--json", str(out), *(passthrough if bench == "api" else [])]
            print(f"\n== {database} (run {attempt}/{args.repeat}): {' '.join(cmd[1:])}")
            sys.stdout.flush()
            result = subprocess.run(cmd, cwd=REPO)
            if result.returncode != 0:
                print(f"   {database}: the benchmark itself failed (exit {result.returncode})")
                failed = True
                continue
            outcome = json.loads(out.read_text())
            out.unlink(missing_ok=True)
            outcome["attempt"] = attempt
            outcomes.append(outcome)

    engine: dict[str, Any] | None = None
    if args.engine:
        engine, engine_failed = run_engine_bench()
        failed |= engine_failed

    print("\n== summary ==")
    for outcome in outcomes:
        print(f"\n[{outcome['database']} run {outcome['attempt']}]")
        print(outcome["table"])
    if engine is not None:
        print("\n[embedded engine]")
        print(engine["table"])
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": info, "results": outcomes, "engine": engine}, indent=2, default=str
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
