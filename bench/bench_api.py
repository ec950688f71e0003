"""Measure the issue's API figures against one ``headrace serve`` process over loopback HTTP.

It seeds a fresh database (``bench/seed.py``: ``--runs`` runs in one experiment plus a few
other experiments), starts ``headrace serve`` on it with the access log off, and prints:

1. list runs of the experiment, page_size=20, sort_by "created_at desc": latency of page 1
   and of page 500 (whose token is reached by following next_page_token 499 times);
2. get run latency;
3. create run throughput from N concurrent clients (runs from an existing pipeline version):
   runs/s, p50/p95 latency, non-2xx count, ratio to Prefect's published figures;
4. database growth per run created in (3).

It measures and prints; it never asserts. Each figure has its floor and PASS/BELOW beside it.

    .venv/bin/python bench/bench_api.py --database sqlite --runs 100000
    .venv/bin/python bench/bench_api.py --database postgresql --profile-dir /tmp/prof
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent
API = "/apis/v2beta1"

# Floors from the issue.
LIST_P95_MS = 25.0
GET_P50_MS = 3.0
CREATE_RUNS_PER_S = 300.0
GROWTH_BYTES_PER_RUN = 2048.0
# Prefect's server, same scenario (runs/s created from an existing deployment).
PEER_RUNS_PER_S = {"sqlite": 23.0, "postgresql": 54.0}

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


# --- small helpers ------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize_ms(latencies_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    user, system, _, _ = proc_times(pid)
    return user + system


def proc_times(pid: int) -> tuple[float, float, float, float]:
    """(user, system, reaped children's user, reaped children's system) CPU seconds of a
    process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    user, system, child_user, child_system = (int(f) / ticks for f in fields[11:15])
    return user, system, child_user, child_system


def machine_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine so far, from /proc/stat.

    busy includes steal: a guest's process CPU times include the time the hypervisor stole.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return (total - idle) / ticks, steal / ticks, total / ticks


def postgres_cpu_seconds() -> float:
    """CPU seconds of all local ``postgres`` processes (the server's backends do the SQL)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" not in text:
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the server under test ----------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    grpc_target: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    database_url: str, data_dir: Path, log_level: str, *, run_engine: str = "none"
) -> Server:
    """``headrace serve`` on free ports. The API and schedule benchmarks measure creating and
    reading runs, not executing them, so the engine is off unless ``run_engine`` says so."""
    port, grpc_port = free_port(), free_port()
    log_path = data_dir / "server.log"
    env = dict(os.environ, HEADRACE_ACCESS_LOG="false", HEADRACE_RUN_ENGINE=run_engine)
    launcher = [str(VENV_BIN / "headrace")]
    cmd = [*launcher, "serve", "--port", str(port), "--grpc-port", str(grpc_port)]
    cmd += ["--data-dir", str(data_dir), "--metadata-grpc-port", "0"]
    cmd += ["--database-url", database_url, "--log-format", "text", "--log-level", log_level]
    with log_path.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(process, f"http://127.0.0.1:{port}", log_path, f"127.0.0.1:{grpc_port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}{API}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("server did not become healthy within 60 s")


# --- optional profiling with py-spy -------------------------------------------------------


class Profiler:
    """``py-spy record`` of the server for the length of a phase (raw collapsed stacks)."""

    gil_only = False  # --profile-gil: sample only the thread holding the GIL

    def __init__(self, directory: Path | None, pid: int, label: str, rate: int = 250) -> None:
        self.directory = directory
        self.pid = pid
        self.label = label
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if self.directory is None:
            return self
        py_spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
        if py_spy is None:
            log("py-spy not found (pip install py-spy into the venv); not profiling")
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{self.label}.txt"
        cmd = [py_spy, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        cmd += ["--format", "raw", "--threads", "--output", str(out), "--nonblocking"]
        if self.gil_only:
            cmd.append("--gil")
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # let it attach
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            log(f"profile written: {self.directory}/{self.label}.txt")


# --- database-specific bits ---------------------------------------------------------------


class Backend:
    name: str
    url: str

    def prepare(self) -> None: ...

    def cleanup(self) -> None: ...

    def size_bytes(self) -> dict[str, int]:
        raise NotImplementedError

    def run_count(self) -> int:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "headrace.db"
        self.url = f"sqlite:///{self.path}"

    def prepare(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def size_bytes(self) -> dict[str, int]:
        con = sqlite3.connect(self.path)
        try:
            busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            con.close()
        if busy:
            log("warning: wal_checkpoint(TRUNCATE) reported busy; WAL counted as is")
        wal = Path(f"{self.path}-wal")
        db = self.path.stat().st_size
        wal_size = wal.stat().st_size if wal.exists() else 0
        return {"total": db + wal_size, "db_file": db, "wal_file": wal_size}

    def run_count(self) -> int:
        con = sqlite3.connect(self.path)
        try:
            return int(con.execute("SELECT count(*) FROM runs").fetchone()[0])
        finally:
            con.close()


class PostgresBackend(Backend):
    name = "postgresql"
    TABLES = ("runs", "run_state_history", "experiments")

    def __init__(self, admin_url: str, database: str) -> None:
        import psycopg.conninfo

        self.admin_url = admin_url
        self.database = database
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        host, port, user = info.get("host"), info.get("port", 5432), info.get("user")
        self.url = f"postgresql+psycopg://{user}@{host}:{port}/{database}"
        self.db_conninfo = psycopg.conninfo.make_conninfo(admin_url, dbname=database)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as con:
            con.execute(sql)

    def prepare(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.database}"')

    def cleanup(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def size_bytes(self) -> dict[str, int]:
        import psycopg

        with psycopg.connect(self.db_conninfo, autocommit=True) as con:
            con.execute("VACUUM ANALYZE")
            sizes: dict[str, int] = {}
            total = 0
            for table in self.TABLES:
                row = con.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
                assert row is not None
                sizes[table] = int(row[0])
                total += int(row[0])
            row = con.execute("SELECT pg_database_size(current_database())").fetchone()
            assert row is not None
            sizes["pg_database_size"] = int(row[0])
        return {"total": total, **sizes}

    def run_count(self) -> int:
        import psycopg

        with psycopg.connect(self.db_conninfo) as con:
            row = con.execute("SELECT count(*) FROM runs").fetchone()
            assert row is not None
            return int(row[0])


# --- the phases ---------------------------------------------------------------------------


@dataclass
class Report:
    database: str
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, label: str, value: float | None, unit: str, floor: str, ok: bool | None) -> None:
        shown = "n/a" if value is None else f"{value:,.2f} {unit}".strip()
        verdict = "" if ok is None else ("PASS" if ok else "BELOW")
        self.rows.append((label, shown, floor, verdict))

    def render(self) -> str:
        header = ("figure", "measured", "floor", "verdict")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(4)]
        lines = [
            f"== Headrace API bench: {self.database} ==",
            "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
            "  ".join("-" * w for w in widths),
        ]
        for row in self.rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        return "\n".join(lines)


@contextmanager
def cpu_meter(server: Server, sink: dict[str, Any]) -> Iterator[None]:
    server_cpu, own_cpu, wall = proc_cpu_seconds(server.pid), self_cpu_seconds(), time.monotonic()
    machine, postgres = machine_cpu(), postgres_cpu_seconds()
    sink["load_before"] = loadavg()
    yield
    wall = time.monotonic() - wall
    after = machine_cpu()
    sink["postgres_cpu_s"] = postgres_cpu_seconds() - postgres
    sink["wall_s"] = wall
    sink["server_cpu_s"] = proc_cpu_seconds(server.pid) - server_cpu
    sink["bench_process_cpu_s"] = self_cpu_seconds() - own_cpu
    sink["server_cpu_pct_of_one_core"] = 100 * sink["server_cpu_s"] / wall
    total = max(after[2] - machine[2], 1e-9)
    other = (after[0] - machine[0]) - sink["server_cpu_s"] - sink["bench_process_cpu_s"]
    other -= sink["postgres_cpu_s"]
    sink["other_processes_cpu_pct"] = max(0.0, 100 * other / total)
    sink["machine_steal_pct"] = 100 * (after[1] - machine[1]) / total
    sink["load_after"] = loadavg()


def list_phase(
    server: Server,
    experiment_id: str,
    repetitions: int,
    target_page: int,
    profile_dir: Path | None,
) -> dict[str, Any]:
    params = {"experiment_id": experiment_id, "page_size": 20, "sort_by": "created_at desc"}
    result: dict[str, Any] = {}
    with httpx.Client(base_url=server.base_url + API, timeout=60) as client:

        def page(token: str | None) -> tuple[dict[str, Any], float]:
            query = dict(params, page_token=token) if token else params
            started = time.perf_counter()
            response = client.get("/runs", params=query)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            return response.json(), elapsed

        first, _ = page(None)
        result["total_size"] = first.get("total_size")
        # Walk to the target page, timing each hop (the "scroll" a UI would do).
        token: str | None = first.get("next_page_token")
        walk: list[float] = []
        seen = len(first.get("runs", []))
        for _ in range(target_page - 1):
            if not token:
                break
            body, elapsed = page(token)
            walk.append(elapsed)
            seen += len(body.get("runs", []))
            target_token, token = token, body.get("next_page_token")
        result["walk_pages"] = len(walk) + 1
        result["walk_runs_seen"] = seen
        result["walk"] = summarize_ms(walk) if walk else None
        if len(walk) != target_page - 1:
            result["error"] = f"only {len(walk) + 1} pages exist"
            return result
        # target_token is the token that fetched page `target_page`.
        for _ in range(20):  # warm-up, not counted
            page(None)
            page(target_token)
        first_times: list[float] = []
        target_times: list[float] = []
        with Profiler(profile_dir, server.pid, "list"), cpu_meter(server, result):
            for _ in range(repetitions):
                first_times.append(page(None)[1])
                target_times.append(page(target_token)[1])
        result["server_cpu_per_request_ms"] = 1000 * result["server_cpu_s"] / (2 * repetitions)
        result["postgres_cpu_per_request_ms"] = 1000 * result["postgres_cpu_s"] / (2 * repetitions)
        result["page_1"] = summarize_ms(first_times)
        result[f"page_{target_page}"] = summarize_ms(target_times)
    return result


def get_phase(
    server: Server, run_ids: list[str], repetitions: int, profile_dir: Path | None
) -> dict[str, Any]:
    rng = random.Random(7)
    result: dict[str, Any] = {}
    times: list[float] = []
    with httpx.Client(base_url=server.base_url + API, timeout=60) as client:
        for run_id in rng.sample(run_ids, min(50, len(run_ids))):  # warm-up
            client.get(f"/runs/{run_id}").raise_for_status()
        with Profiler(profile_dir, server.pid, "get"), cpu_meter(server, result):
            for _ in range(repetitions):
                run_id = rng.choice(run_ids)
                started = time.perf_counter()
                response = client.get(f"/runs/{run_id}")
                times.append(time.perf_counter() - started)
                response.raise_for_status()
    result["server_cpu_per_request_ms"] = 1000 * result["server_cpu_s"] / repetitions
    result["postgres_cpu_per_request_ms"] = 1000 * result["postgres_cpu_s"] / repetitions
    result["get"] = summarize_ms(times)
    return result


@dataclass(frozen=True)
class CreateJob:
    base_url: str
    body: dict[str, Any]
    start_at: float  # time.monotonic() (CLOCK_MONOTONIC: shared by all processes)
    measure_from: float
    stop_at: float
    worker: int
    own_process: bool  # True when the worker is a process of its own: report its CPU time


def create_worker(job: CreateJob) -> dict[str, Any]:
    """One client: POST /runs back to back on a keep-alive connection until stop_at."""
    samples: list[tuple[float, float, int]] = []  # (finished, latency, status)
    errors: dict[str, int] = {}
    cpu_from: float | None = None
    with httpx.Client(base_url=job.base_url + API, timeout=60) as client:
        client.get("/healthz")  # open the connection before the clock starts
        while time.monotonic() < job.start_at:
            time.sleep(0.001)
        n = 0
        while True:
            started = time.monotonic()
            if started >= job.stop_at:
                break
            if cpu_from is None and started >= job.measure_from:
                cpu_from = self_cpu_seconds()
            body = dict(job.body, display_name=f"bench-create-{job.worker}-{n}")
            n += 1
            try:
                status = client.post("/runs", json=body).status_code
            except httpx.HTTPError as exc:
                status = 0
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            finished = time.monotonic()
            samples.append((finished, finished - started, status))
    cpu = None
    if job.own_process and cpu_from is not None:
        cpu = self_cpu_seconds() - cpu_from
    return {"samples": samples, "errors": errors, "cpu_s": cpu}


class WindowCpu(threading.Thread):
    """CPU seconds of the server and of this process between two monotonic instants."""

    def __init__(self, pid: int, start: float, stop: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.start_at, self.stop_at = pid, start, stop
        self.server_s = 0.0
        self.own_s = 0.0
        self.machine_busy_s = self.machine_steal_s = self.machine_total_s = 0.0
        self.postgres_s = 0.0

    def run(self) -> None:
        time.sleep(max(0.0, self.start_at - time.monotonic()))
        server, own, machine = proc_cpu_seconds(self.pid), self_cpu_seconds(), machine_cpu()
        postgres = postgres_cpu_seconds()
        time.sleep(max(0.0, self.stop_at - time.monotonic()))
        self.server_s = proc_cpu_seconds(self.pid) - server
        self.own_s = self_cpu_seconds() - own
        after = machine_cpu()
        self.machine_busy_s = after[0] - machine[0]
        self.machine_steal_s = after[1] - machine[1]
        self.machine_total_s = after[2] - machine[2]
        self.postgres_s = postgres_cpu_seconds() - postgres


def create_phase(
    server: Server,
    body: dict[str, Any],
    clients: int,
    seconds: float,
    warmup: float,
    mode: str,
    profile_dir: Path | None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"clients": clients, "mode": mode, "seconds": seconds}
    start_at = time.monotonic() + (4.0 if mode == "processes" else 0.5)
    measure_from = start_at + warmup
    stop_at = measure_from + seconds
    jobs = [
        CreateJob(server.base_url, body, start_at, measure_from, stop_at, i, mode == "processes")
        for i in range(clients)
    ]
    window = WindowCpu(server.pid, measure_from, stop_at)
    window.start()
    result["load_before"] = loadavg()
    with Profiler(profile_dir, server.pid, f"create-{mode}"):
        if mode == "processes":
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(clients) as pool:
                outputs = pool.map(create_worker, jobs)
        else:
            with ThreadPoolExecutor(clients) as pool:
                outputs = list(pool.map(create_worker, jobs))
    window.join()
    result["load_after"] = loadavg()
    samples = [s for out in outputs for s in out["samples"]]
    # Requests that finished inside the measurement window (warm-up and tail excluded).
    measured = [s for s in samples if measure_from <= s[0] < stop_at]
    ok = [s for s in measured if 200 <= s[2] < 300]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
    result["requests_total"] = len(samples)
    result["requests_in_window"] = len(measured)
    result["status_counts"] = statuses
    result["non_2xx_total"] = sum(1 for s in samples if not 200 <= s[2] < 300)
    result["transport_errors"] = {k: v for out in outputs for k, v in out["errors"].items()}
    result["runs_per_s"] = len(ok) / seconds
    result["latency"] = summarize_ms([s[1] for s in ok]) if ok else None
    n = max(1, len(measured))
    own_cpu = [out["cpu_s"] or 0.0 for out in outputs]
    client_cpu = sum(own_cpu) if mode == "processes" else window.own_s
    result["client_cpu_s"] = client_cpu
    result["client_cpu_per_request_ms"] = 1000 * client_cpu / n
    result["server_cpu_s"] = window.server_s
    result["server_cpu_per_request_ms"] = 1000 * window.server_s / n
    result["server_cpu_pct_of_one_core"] = 100 * window.server_s / seconds
    cores = os.cpu_count() or 1
    result["machine_cpu_pct"] = 100 * (window.server_s + client_cpu) / (seconds * cores)
    # Everything else the machine did meanwhile (other tenants' jobs) and hypervisor steal.
    total = max(window.machine_total_s, 1e-9)
    result["machine_busy_pct"] = 100 * window.machine_busy_s / total
    result["machine_steal_pct"] = 100 * window.machine_steal_s / total
    result["postgres_cpu_per_request_ms"] = 1000 * window.postgres_s / n
    other = window.machine_busy_s - window.server_s - client_cpu - window.postgres_s
    result["other_processes_cpu_pct"] = max(0.0, 100 * other / total)
    return result


# --- the whole benchmark ------------------------------------------------------------------


@contextmanager
def seeded_server(
    args: argparse.Namespace, figures: dict[str, Any]
) -> Iterator[tuple[Backend, Server, Any]]:
    """A seeded database (``--runs`` runs; reused with ``--reuse``) and a ``headrace serve``
    on it; both are cleaned up on exit unless ``--keep``. Also used by ``bench_grpc.py``."""
    sys.path.insert(0, str(BENCH_DIR))
    from seed import find_seeded, seed

    workdir = Path(args.data_dir or tempfile.mkdtemp(prefix=f"headrace-bench-{args.database}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    backend: Backend
    if args.database == "sqlite":
        backend = SqliteBackend(workdir)
    else:
        backend = PostgresBackend(args.pg_admin_url, args.pg_database)
    figures["load_at_start"] = loadavg()
    server: Server | None = None
    try:
        seeded = find_seeded(backend.url) if args.reuse else None
        if seeded is not None:
            log(f"reusing the seeded database {backend.url} ({seeded.runs_total:,} runs)")
        else:
            backend.prepare()
            log(f"seeding {args.runs:,} runs into {backend.url} ...")
            seeded = seed(
                backend.url,
                workdir,
                runs=args.runs,
                other_experiments=args.other_experiments,
                other_runs=args.other_runs,
                quiet=True,
            )
        figures["seed"] = {
            "runs_in_measured_experiment": seeded.runs_in_experiment,
            "runs_total": seeded.runs_total,
            "other_experiments": len(seeded.other_experiment_ids),
            "seconds": round(seeded.seconds, 1),
        }
        log(f"seeded {seeded.runs_total:,} runs in {seeded.seconds:.1f} s; starting server")
        server = start_server(backend.url, workdir, args.log_level)
        figures["server_pid"] = server.pid
        yield backend, server, seeded
        figures["load_at_end"] = loadavg()
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            backend.cleanup()
        # The temp dir holds only the server log for PostgreSQL: keep it only for SQLite.
        if args.data_dir is None and (not args.keep or args.database == "postgresql"):
            shutil.rmtree(workdir, ignore_errors=True)
        if args.keep:
            log(f"kept the database {backend.url}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    report = Report(args.database)
    figures = report.figures
    with seeded_server(args, figures) as (backend, server, seeded):
        profile_dir = Path(args.profile_dir) / args.database if args.profile_dir else None

        phases = set(args.phases.split(","))
        if "list" in phases:
            log("phase 1: list runs")
            figures["list"] = list_phase(
                server, seeded.experiment_id, args.list_requests, args.target_page, profile_dir
            )
        if "get" in phases:
            log("phase 2: get run")
            figures["get"] = get_phase(
                server, seeded.sample_run_ids, args.get_requests, profile_dir
            )
        if "create" in phases:
            create_and_growth(args, backend, server, seeded, figures, profile_dir)

    fill_table(report, args)
    return {"database": args.database, "table": report.render(), "figures": figures}


def create_and_growth(
    args: argparse.Namespace,
    backend: Backend,
    server: Server,
    seeded: Any,
    figures: dict[str, Any],
    profile_dir: Path | None,
) -> None:
    log("phase 3: create runs")
    body = {
        "experiment_id": seeded.experiment_id,
        "pipeline_version_reference": {
            "pipeline_id": seeded.pipeline_id,
            "pipeline_version_id": seeded.pipeline_version_id,
        },
    }
    size_before = backend.size_bytes()
    count_before = backend.run_count()
    modes = ["processes", "threads"] if args.client_mode == "both" else [args.client_mode]
    creates = []
    for mode in modes:
        log(f"  {args.clients} clients ({mode}) for {args.create_seconds:.0f} s")
        creates.append(
            create_phase(
                server,
                body,
                args.clients,
                args.create_seconds,
                args.create_warmup,
                mode,
                profile_dir,
            )
        )
    figures["create"] = creates
    log("phase 4: growth")
    size_after = backend.size_bytes()
    count_after = backend.run_count()
    created = count_after - count_before
    figures["growth"] = {
        "runs_created": created,
        "size_before": size_before,
        "size_after": size_after,
        "bytes_per_run": (size_after["total"] - size_before["total"]) / created
        if created
        else None,
    }
    if args.database == "postgresql" and created:
        figures["growth"]["pg_database_size_bytes_per_run"] = (
            size_after["pg_database_size"] - size_before["pg_database_size"]
        ) / created
    figures["load_at_end"] = loadavg()


def fill_table(report: Report, args: argparse.Namespace) -> None:
    f = report.figures
    listing = f.get("list", {})
    target = f"page_{args.target_page}"
    for key, label in (
        ()
        if not listing
        else (
            ("page_1", "list runs page 1"),
            (target, f"list runs page {args.target_page}"),
        )
    ):
        stats = listing.get(key)
        if stats is None:
            report.add(f"{label} p95", None, "ms", f"<= {LIST_P95_MS:g} ms", False)
            continue
        report.add(f"{label} p50", stats["p50"], "ms", "", None)
        report.add(
            f"{label} p95",
            stats["p95"],
            "ms",
            f"<= {LIST_P95_MS:g} ms",
            stats["p95"] <= LIST_P95_MS,
        )
    if "get" in f:
        get = f["get"]["get"]
        report.add(
            "get run p50", get["p50"], "ms", f"<= {GET_P50_MS:g} ms", get["p50"] <= GET_P50_MS
        )
        report.add("get run p95", get["p95"], "ms", "", None)
    peer = PEER_RUNS_PER_S[args.database]
    for create in f.get("create", []):
        tag = f"({create['clients']} {create['mode']})"
        rate = create["runs_per_s"]
        report.add(
            f"create run {tag}",
            rate,
            "runs/s",
            f">= {CREATE_RUNS_PER_S:g} runs/s",
            rate >= CREATE_RUNS_PER_S,
        )
        lat = create["latency"] or {}
        report.add(f"create run {tag} p50", lat.get("p50"), "ms", "", None)
        report.add(f"create run {tag} p95", lat.get("p95"), "ms", "", None)
        non_2xx = create["non_2xx_total"]
        report.add(f"create run {tag} non-2xx", non_2xx, "", "= 0", non_2xx == 0)
        report.add(f"  vs Prefect ({peer:g} runs/s)", rate / peer, "x", "", None)
    if "growth" not in f:
        return
    growth = f["growth"]["bytes_per_run"]
    report.add(
        "DB growth per run",
        growth,
        "B",
        f"<= {GROWTH_BYTES_PER_RUN:g} B",
        None if growth is None else growth <= GROWTH_BYTES_PER_RUN,
    )


def add_seed_and_server_args(p: argparse.ArgumentParser, pg_database: str) -> None:
    """The options of ``seeded_server``: which database, how much data, what to keep."""
    p.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--runs", type=int, default=100_000, help="runs in the measured experiment")
    p.add_argument("--other-experiments", type=int, default=4)
    p.add_argument("--other-runs", type=int, default=5_000, help="runs per other experiment")
    p.add_argument("--target-page", type=int, default=500)
    p.add_argument("--log-level", default="INFO", help="server log level (access log is off)")
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--pg-database", default=pg_database)
    p.add_argument("--data-dir", help="work directory (default: a fresh temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the database and data dir")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="reuse a database seeded by an earlier --keep run (implies --keep)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seed_and_server_args(p, "headrace_bench")
    p.add_argument(
        "--phases", default="list,get,create", help="comma list of list,get,create (create+growth)"
    )
    p.add_argument("--list-requests", type=int, default=300, help="timed requests per page")
    p.add_argument("--get-requests", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--client-mode", choices=["processes", "threads", "both"], default="processes")
    p.add_argument("--create-seconds", type=float, default=20.0)
    p.add_argument("--create-warmup", type=float, default=2.0)
    p.add_argument("--profile-dir", help="py-spy record the server per phase into this dir")
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="profile only the GIL holder (Python CPU; hides C code that releases the GIL)",
    )
    p.add_argument("--json", help="also write all figures as JSON to this file")
    args = p.parse_args(argv)
    if args.reuse:
        args.keep = True
    return args


def fmt_stats(stats: dict[str, float] | None) -> str:
    if not stats:
        return "n/a"
    return ", ".join(f"{k} {v:.2f}" if k != "n" else f"n {v}" for k, v in stats.items())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Profiler.gil_only = args.profile_gil
    outcome = run(args)
    print(outcome["table"])
    print(
        f"load {outcome['figures']['load_at_start']} -> {outcome['figures']['load_at_end']}"
        f" (1/5/15 min); nproc {os.cpu_count()}"
    )
    figures = outcome["figures"]
    if "list" in figures:
        print(
            f"list: server CPU {figures['list'].get('server_cpu_per_request_ms', 0):.2f}"
            f" ms/request, postgres {figures['list'].get('postgres_cpu_per_request_ms', 0):.2f}"
            f" ms/request (other processes {figures['list'].get('other_processes_cpu_pct', 0):.0f}%"
            f" of the machine); total_size {figures['list'].get('total_size')}; walk to page"
            f" {figures['list'].get('walk_pages')}: {fmt_stats(figures['list'].get('walk'))}"
        )
    if "get" in figures:
        get = figures["get"]
        print(
            f"get: server CPU {get['server_cpu_per_request_ms']:.2f} ms/request, postgres"
            f" {get['postgres_cpu_per_request_ms']:.2f} ms/request (other"
            f" processes {get['other_processes_cpu_pct']:.0f}% of the machine)"
        )
    for create in figures.get("create", []):
        print(
            f"create ({create['mode']}): server CPU {create['server_cpu_per_request_ms']:.2f} ms"
            f"/request ({create['server_cpu_pct_of_one_core']:.0f}% of a core), clients CPU "
            f"{create['client_cpu_per_request_ms']:.2f} ms/request, postgres "
            f"{create['postgres_cpu_per_request_ms']:.2f} ms/request; machine busy "
            f"{create['machine_busy_pct']:.0f}% (bench {create['machine_cpu_pct']:.0f}%, other "
            f"processes {create['other_processes_cpu_pct']:.0f}%, steal "
            f"{create['machine_steal_pct']:.0f}%); statuses "
            f"{create['status_counts']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(outcome, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
