"""Measure the embedded engine's figures against a ``headrace serve`` this script starts.

1. **Orchestration overhead per task** on a chain of ``--chain`` (50) trivial container
   components (``true``, each after the previous): run wall time (the run's ``finished_at``
   minus ``created_at``, from the server) minus the tasks' own process time, divided by the
   tasks. The tasks' own process time is measured in the same sitting by spawning the same
   command the same number of times in a row with no orchestrator. p50 over ``--repeat``
   runs. Floor: p50 <= 25 ms.
2. **Fan-out**: a ``ParallelFor`` of ``--fanout`` (1,000) trivial container tasks with
   parallelism 16 (``sh -c '"$@"' <item> true``), against spawning the same 1,000 processes
   16 at a time with no orchestrator, measured in the same run. Floor: ratio <= 1.5.
   ``--fanout-sleep S`` makes each task ``sleep S`` instead of ``true`` (with ``true`` the raw
   baseline is well under a millisecond per task, so the ratio is almost all engine time).
   Beside it, a lower bound (``write_floor``): the same spawns with only the writes the
   engine must make for them (each task's rows, copied from the fan-out's run, in one
   transaction per round) and no engine at all, against a raw baseline of its own.
3. **Against kfp.local**: the same chain of trivial Python components (``--python-chain``)
   under kfp.local's SubprocessRunner (``use_venv=False``, its fastest mode; it refuses
   container components) and under Headrace (after one warm-up run that builds the task
   environment). The ratio is reported; the goal is Headrace faster.

Caching is off on every task, so repeated runs execute. The baselines (raw spawns,
kfp.local) run first and are printed before the server is involved; ``--only baselines``
stops there. ``--only fanout`` measures the fan-out figure alone (its raw baseline beside it,
no chains, no kfp.local), for iterating on it; ``--profile-dir D`` records the server with
py-spy (``--profile-gil``: only the thread holding the GIL) during the fan-out. If a run
does not reach SUCCEEDED the script says which, shows the server log's tail, and exits 1.
It measures and prints; it never asserts a floor.

    .venv/bin/python bench/bench_engine.py
    .venv/bin/python bench/bench_engine.py --repeat 3 --fanout 200 --json /tmp/engine.json
    .venv/bin/python bench/bench_engine.py --only baselines
    .venv/bin/python bench/bench_engine.py --only fanout --profile-dir /tmp/prof --profile-gil
"""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import write_floor  # noqa: E402 - a sibling module, importable once on the path
from bench_api import (  # noqa: E402 - the sibling module, importable once on the path
    API,
    Profiler,
    Server,
    loadavg,
    log,
    percentile,
    proc_times,
    start_server,
)

OVERHEAD_P50_MS = 25.0
FANOUT_RATIO = 1.5
FANOUT_PARALLELISM = 16
TRIVIAL_COMMAND = ["true"]
#: How often the bench asks whether a run has ended.
POLL_SECONDS = 0.25
#: A run the engine has not started by then means no engine is running.
PENDING_LIMIT_S = 60.0


def fanout_command(sleep: float) -> list[str]:
    """The fan-out task's command: ``true``, or ``sleep S`` for tasks that take time."""
    return ["sleep", f"{sleep:g}"] if sleep > 0 else TRIVIAL_COMMAND


def fanout_item_command(item: int, sleep: float) -> list[str]:
    """What a fan-out task runs for ``item``, as the raw baseline spawns it."""
    return ["sh", "-c", '"$@"', str(item), *fanout_command(sleep)]


warnings.filterwarnings("ignore", category=FutureWarning)  # kfp's base_image notice


class BenchError(RuntimeError):
    """A benchmark could not produce its figure (a run did not succeed, ...)."""


# --- the pipelines -------------------------------------------------------------------------


def build_pipelines(
    chain: int, fanout: int, python_chain: int, fanout_sleep: float
) -> dict[str, Any]:
    """The three pipelines, built for the requested sizes (kfp objects, not yet compiled)."""
    from kfp import dsl

    @dsl.container_component
    def trivial():
        return dsl.ContainerSpec(image="busybox:1.36", command=TRIVIAL_COMMAND)

    @dsl.container_component
    def trivial_item(item: int):
        # `sh -c '"$@"' <item> cmd...` runs cmd with the item as $0: each task resolves its
        # own input, and spawns exactly what the raw baseline spawns.
        return dsl.ContainerSpec(
            image="busybox:1.36",
            command=["sh", "-c", '"$@"', item, *fanout_command(fanout_sleep)],
        )

    @dsl.component
    def increment(x: int) -> int:
        return x + 1

    @dsl.pipeline(name="bench-container-chain")
    def container_chain():
        previous = trivial().set_caching_options(False)
        for _ in range(chain - 1):
            previous = trivial().set_caching_options(False).after(previous)

    @dsl.pipeline(name="bench-fanout")
    def fan_out():
        with dsl.ParallelFor(list(range(fanout)), parallelism=FANOUT_PARALLELISM) as item:
            trivial_item(item=item).set_caching_options(False)

    @dsl.pipeline(name="bench-python-chain")
    def python_chain_pipeline(start: int = 0) -> int:
        previous = increment(x=start).set_caching_options(False)
        for _ in range(python_chain - 1):
            previous = increment(x=previous.output).set_caching_options(False)
        return previous.output

    return {
        "container_chain": container_chain,
        "fanout": fan_out,
        "python_chain": python_chain_pipeline,
    }


def compile_spec(pipeline: Any, folder: Path) -> dict[str, Any]:
    from kfp import compiler

    path = folder / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


# --- baselines: no orchestrator -------------------------------------------------------------


def spawn_sequential(count: int) -> float:
    """Seconds to run the trivial command ``count`` times in a row."""
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(TRIVIAL_COMMAND, check=True)
    return time.perf_counter() - started


def spawn_parallel(count: int, parallelism: int, sleep: float) -> float:
    """Seconds to run ``count`` fan-out task commands, ``parallelism`` at a time."""

    def one(item: int) -> None:
        subprocess.run(fanout_item_command(item, sleep), check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def kfp_local_chain(pipeline: Any, workdir: Path, length: int) -> float:
    """Seconds kfp.local's SubprocessRunner takes for the Python chain; checks the result."""
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "local"))
    # kfp.local echoes every task's output; keep the figures readable.
    with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
        started = time.perf_counter()
        task = pipeline(start=0)
        took = time.perf_counter() - started
    if task.output != length:
        raise BenchError(f"kfp.local chain returned {task.output!r}, expected {length}")
    return took


# --- Headrace ----------------------------------------------------------------------------


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Runner:
    """Submits compiled specs to the server and waits for them to succeed."""

    def __init__(self, server: Server, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.client = httpx.Client(base_url=server.base_url + API, timeout=60)
        response = self.client.post("/experiments", json={"display_name": "engine bench"})
        response.raise_for_status()
        self.experiment_id = response.json()["experiment_id"]

    def run(
        self, spec: dict[str, Any], name: str, on_end: Callable[[], object] | None = None
    ) -> dict[str, Any]:
        """Create a run, wait for SUCCEEDED; returns the run with ``server_wall_s`` and
        ``client_wall_s`` (submit to observed end) added. BenchError otherwise. ``on_end``
        is called as soon as the run is seen ended, before its details are read."""
        body = {
            "display_name": name,
            "experiment_id": self.experiment_id,
            "pipeline_spec": spec,
            "runtime_config": {"parameters": {}},
        }
        started = time.perf_counter()
        response = self.client.post("/runs", json=body)
        if response.status_code != 200:
            raise BenchError(f"creating {name} failed: {response.status_code} {response.text}")
        run_id = response.json()["run_id"]
        deadline = time.monotonic() + self.timeout
        # Poll the list (a run without its task details), four times a second: fetching a
        # 2,000-task run's details, or the list twenty times a second (3-4 ms of the
        # server's CPU each), would load the server the bench is measuring. The figure comes
        # from the server's own timestamps, so polling latency is harmless.
        only_this = json.dumps(
            {"predicates": [{"key": "run_id", "operation": "EQUALS", "string_value": run_id}]}
        )
        while True:
            page = self.client.get(
                "/runs", params={"experiment_id": self.experiment_id, "filter": only_this}
            ).json()
            listed = (page.get("runs") or [{}])[0]
            if listed.get("state") in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
                if on_end is not None:
                    on_end()
                run: dict[str, Any] = self.client.get(f"/runs/{run_id}").json()
                break
            run = listed
            waited = time.perf_counter() - started
            if run.get("state") == "PENDING" and waited > PENDING_LIMIT_S:
                raise BenchError(
                    f"run {name} ({run_id}) still PENDING after {waited:.0f} s: no engine"
                    " picked it up (is the embedded engine configured?)"
                )
            if time.monotonic() > deadline:
                raise BenchError(
                    f"run {name} ({run_id}) still {run.get('state')} after {self.timeout:g} s"
                )
            time.sleep(POLL_SECONDS)
        client_wall = time.perf_counter() - started
        if run["state"] != "SUCCEEDED":
            raise BenchError(f"run {name} ({run_id}) ended {run['state']}: {run.get('error')}")
        run["client_wall_s"] = client_wall
        run["server_wall_s"] = (
            _timestamp(run["finished_at"]) - _timestamp(run["created_at"])
        ).total_seconds()
        return run

    def close(self) -> None:
        self.client.close()


# --- the figures ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


def measure_baselines(args: argparse.Namespace, pipelines: dict, workdir: Path) -> dict:
    results: dict[str, Any] = {}
    if args.only == "fanout":
        return results  # its raw baseline is measured beside the run
    log(f"raw spawn: {args.chain} sequential, {args.fanout} at parallelism 16")
    results["raw_chain_s"] = [spawn_sequential(args.chain) for _ in range(args.repeat)]
    results["raw_fanout_s"] = spawn_parallel(args.fanout, FANOUT_PARALLELISM, args.fanout_sleep)
    log(f"kfp.local: chain of {args.python_chain} Python components")
    results["kfp_local_s"] = kfp_local_chain(pipelines["python_chain"], workdir, args.python_chain)
    print("\n== baselines (no orchestrator / kfp.local) ==")
    chain_ms = [1000 * s / args.chain for s in results["raw_chain_s"]]
    print(f"  raw spawn of `true`, sequential: {statistics.median(chain_ms):.2f} ms per process")
    command = " ".join(fanout_command(args.fanout_sleep))
    print(
        f"  raw spawn of `sh -c '\"$@\"' <item> {command}`, {args.fanout} processes 16 at a"
        f" time: {results['raw_fanout_s']:.2f} s"
    )
    local_s = results["kfp_local_s"]
    print(
        f"  kfp.local SubprocessRunner, {args.python_chain} Python tasks: {local_s:.2f} s"
        f" ({1000 * local_s / args.python_chain:.0f} ms per task)"
    )
    sys.stdout.flush()
    return results


def measure_engine(args: argparse.Namespace, pipelines: dict, workdir: Path) -> dict:
    specs = {key: compile_spec(pipeline, workdir) for key, pipeline in pipelines.items()}
    data_dir = workdir / "data"
    data_dir.mkdir()
    server = start_server(
        f"sqlite:///{data_dir / 'headrace.db'}", data_dir, "WARNING", run_engine="embedded"
    )
    results: dict[str, Any] = {"server_log": str(server.log_path)}
    runner = Runner(server, args.run_timeout)
    fanout_only = args.only == "fanout"
    try:
        log("warm-up: one container chain and one Python chain (environment build)")
        runner.run(specs["container_chain"], "warm-up container chain")
        if fanout_only:
            return _measure_fanout(args, runner, server, specs, results, data_dir)
        runner.run(specs["python_chain"], "warm-up python chain")

        overheads_ms = []
        cpu_before = orchestration_cpu(server.pid)
        for attempt in range(args.repeat):
            run = runner.run(specs["container_chain"], f"container chain {attempt}")
            own = spawn_sequential(args.chain)  # the tasks' own time, measured alongside
            overheads_ms.append(1000 * (run["server_wall_s"] - own) / args.chain)
            log(f"  chain {attempt}: {run['server_wall_s']:.2f} s wall, {own:.3f} s own")
        results["server_cpu_ms_per_chain_task"] = (
            1000 * (orchestration_cpu(server.pid) - cpu_before) / (args.repeat * args.chain)
        )
        results["overhead_ms"] = overheads_ms

        _measure_fanout(args, runner, server, specs, results, data_dir)

        log(f"Python chain of {args.python_chain}")
        python = runner.run(specs["python_chain"], "python chain")
        results["python_chain_s"] = python["server_wall_s"]
    except BenchError as exc:
        tail = server.log_path.read_text(errors="replace")[-3000:]
        raise BenchError(f"{exc}\n--- server log (tail) ---\n{tail}") from exc
    finally:
        runner.close()
        server.stop()
    return results


def _measure_fanout(
    args: argparse.Namespace,
    runner: Runner,
    server: Server,
    specs: dict,
    results: dict,
    data_dir: Path,
) -> dict:
    log(f"fan-out of {args.fanout}")
    raw = spawn_parallel(args.fanout, FANOUT_PARALLELISM, args.fanout_sleep)
    Profiler.gil_only = args.profile_gil
    profile_dir = Path(args.profile_dir) if args.profile_dir else None
    cpu_before = proc_cpu_split(server.pid)
    rounds_before = engine_rounds(runner.client, server)
    # CPU up to the run's end, not the reading of its 1,000 tasks' details after it.
    ended: list[tuple[float, ...]] = []
    with Profiler(profile_dir, server.pid, "fanout"):
        fanout = runner.run(
            specs["fanout"], "fan-out", on_end=lambda: ended.append(proc_cpu_split(server.pid))
        )
    cpu_after = ended[0]
    cpu = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    rounds = engine_rounds(runner.client, server)
    results["fanout_rounds"] = {k: v - rounds_before.get(k, 0.0) for k, v in rounds.items()}
    results["fanout_server_cpu_s"] = cpu[0] + cpu[1]
    results["fanout_server_cpu_split"] = cpu
    results["fanout_s"] = fanout["server_wall_s"]
    results["fanout_raw_s"] = raw
    # The same spawns with only the writes the engine must make (see write_floor), against
    # a raw baseline measured beside it.
    results["write_floor"] = write_floor.measure(
        data_dir / "headrace.db",
        fanout["run_id"],
        args.fanout,
        FANOUT_PARALLELISM,
        lambda item: fanout_item_command(item, args.fanout_sleep),
    )
    results["write_floor_raw_s"] = spawn_parallel(
        args.fanout, FANOUT_PARALLELISM, args.fanout_sleep
    )
    return results


def engine_rounds(client: httpx.Client, server: Server) -> dict[str, float]:
    """The engine's control-thread round counters from the server's /metrics."""
    text = client.get(server.base_url + "/metrics").text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("headrace_engine_round_seconds_total{"):
            phase = line.split('phase="', 1)[1].split('"', 1)[0]
            found[phase] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("headrace_engine_rounds_total "):
            found["rounds"] = float(line.rsplit(" ", 1)[1])
    return found


def proc_cpu_split(pid: int) -> tuple[float, float, float, float, float]:
    """(user, system, helpers, task user, task system) CPU seconds, from /proc: the server's
    own, its live child processes' (the task starter), and what the task processes cost
    (the reaped children of the server and of its helpers)."""
    user, system, task_user, task_system = proc_times(pid)
    helpers = 0.0
    for child in _live_children(pid):
        try:
            child_user, child_system, child_task_user, child_task_system = proc_times(child)
        except OSError:  # it ended meanwhile
            continue
        helpers += child_user + child_system
        task_user += child_task_user
        task_system += child_task_system
    return user, system, helpers, task_user, task_system


def orchestration_cpu(pid: int) -> float:
    """CPU seconds of the server and its task starters (not of the tasks)."""
    user, system, helpers, _, _ = proc_cpu_split(pid)
    return user + system + helpers


def _live_children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def fanout_row(args: argparse.Namespace, engine: dict) -> str:
    ratio = engine["fanout_s"] / engine["fanout_raw_s"]
    return (
        f"| ParallelFor of {args.fanout}, parallelism 16, vs raw spawn | <= {FANOUT_RATIO:g}x"
        f" | {engine['fanout_s']:.2f} s vs {engine['fanout_raw_s']:.2f} s = {ratio:.2f}x"
        f" | {verdict(ratio <= FANOUT_RATIO)} |"
    )


def write_floor_row(args: argparse.Namespace, engine: dict) -> str:
    floor, raw = engine["write_floor"], engine["write_floor_raw_s"]
    return (
        f"| raw spawn + only the engine's writes ({floor['rows_per_task']:.0f} rows per task,"
        f" {floor['rounds']} rounds), no engine | (lower bound) | {floor['wall_s']:.2f} s vs"
        f" {raw:.2f} s = {floor['wall_s'] / raw:.2f}x (CPU {floor['cpu_s']:.2f} s, of which"
        f" the writes {floor['writes_cpu_s']:.2f} s) | |"
    )


def report_fanout(args: argparse.Namespace, engine: dict) -> str:
    user, system, helpers, task_user, task_system = engine["fanout_server_cpu_split"]
    phases = {"rounds": 0, "commands": 0, "finished": 0, "write": 0, "act": 0}
    phases |= engine["fanout_rounds"]
    return (
        f"{fanout_row(args, engine)}\n"
        f"{write_floor_row(args, engine)}\n"
        f"\nserver CPU during the fan-out (to its end): {engine['fanout_server_cpu_s']:.2f} s (user"
        f" {user:.2f} s, system {system:.2f} s; its task starter: {helpers:.2f} s; its task"
        f" processes: user {task_user:.2f} s,"
        f" system {task_system:.2f} s); load {loadavg()}\n"
        f"engine control thread: {phases['rounds']:.0f} rounds; commands"
        f" {phases['commands']:.2f} s, lineage and outcomes {phases['finished']:.2f} s, writing"
        f" transitions {phases['write']:.2f} s, acting {phases['act']:.2f} s"
    )


def report(args: argparse.Namespace, baselines: dict, engine: dict) -> str:
    p50 = percentile(engine["overhead_ms"], 50)
    local_ratio = baselines["kfp_local_s"] / engine["python_chain_s"]
    rows = [
        "| figure | floor | measured | |",
        "|---|---|---|---|",
        f"| overhead per task, {args.chain}-task container chain, p50 of {args.repeat}"
        f" | <= {OVERHEAD_P50_MS:g} ms | {p50:.1f} ms (all: "
        + ", ".join(f"{v:.1f}" for v in engine["overhead_ms"])
        + f") | {verdict(p50 <= OVERHEAD_P50_MS)} |",
        fanout_row(args, engine),
        write_floor_row(args, engine),
        f"| {args.python_chain}-task Python chain: kfp.local / Headrace | > 1x (goal)"
        f" | {baselines['kfp_local_s']:.2f} s / {engine['python_chain_s']:.2f} s"
        f" = {local_ratio:.2f}x | {verdict(local_ratio > 1)} |",
    ]
    rows.append(
        "\nserver and task starters' CPU per chain task:"
        f" {engine['server_cpu_ms_per_chain_task']:.1f} ms;"
        f" load {loadavg()}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=int, default=50, help="container chain length")
    parser.add_argument("--fanout", type=int, default=1000, help="ParallelFor items")
    parser.add_argument(
        "--fanout-sleep", type=float, default=0.0, help="fan-out tasks sleep S s (0: `true`)"
    )
    parser.add_argument("--python-chain", type=int, default=50, help="Python chain length")
    parser.add_argument("--repeat", type=int, default=5, help="container chain runs")
    parser.add_argument("--run-timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--only", choices=["baselines", "fanout", "all"], default="all")
    parser.add_argument("--profile-dir", help="py-spy the server during the fan-out, here")
    parser.add_argument(
        "--profile-gil", action="store_true", help="profile only the thread holding the GIL"
    )
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args(argv)

    print(f"== engine benchmark: load {loadavg()}, {os.cpu_count()} CPUs ==")
    with tempfile.TemporaryDirectory(prefix="headrace-bench-engine-") as tmp:
        workdir = Path(tmp)
        pipelines = build_pipelines(args.chain, args.fanout, args.python_chain, args.fanout_sleep)
        try:
            baselines = measure_baselines(args, pipelines, workdir)
            engine = {}
            if args.only in ("all", "fanout"):
                engine = measure_engine(args, pipelines, workdir)
        except BenchError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
    if args.only == "fanout":
        table = report_fanout(args, engine) if engine else ""
    else:
        table = report(args, baselines, engine) if engine else ""
    if table:
        print("\n== figures ==")
        print(table)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"baselines": baselines, "engine": engine, "table": table}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
