"""Measure the gRPC API's figures against one ``headrace serve`` over loopback, with the REST
figures of the same requests from the same run.

It seeds a database like ``bench_api.py`` (``--runs`` runs in one experiment plus others),
starts ``headrace serve`` on it (access log off) and times, with a client built from our
generated code and an httpx client, alternating the two request by request so that both
see the same machine:

1. GetRun of random seeded runs: p50 / p95 (floor: gRPC p50 <= 1.5 ms);
2. ListRuns of the experiment, page_size 20, "created_at desc": page 1 and page 500 (its
   token reached by walking next_page_token): p50 / p95 (floor: gRPC p95 <= 20 ms);

and the REST/gRPC ratio of each. It measures and prints; it never asserts.

    .venv/bin/python bench/bench_grpc.py --database sqlite --runs 100000
    .venv/bin/python bench/bench_grpc.py --database postgresql --profile-dir /tmp/prof
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from bench_api import (  # noqa: E402
    API,
    Profiler,
    Server,
    add_seed_and_server_args,
    cpu_meter,
    log,
    seeded_server,
    summarize_ms,
)

from api_server.grpc_api.generated import run_pb2, run_pb2_grpc  # noqa: E402

# Floors from the issue.
GET_P50_MS = 1.5
LIST_P95_MS = 20.0
PAGE_SIZE = 20
SORT = "created_at desc"


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class Clients:
    """One REST and one gRPC client on the server, each kept open for the whole run."""

    def __init__(self, server: Server) -> None:
        self.rest = httpx.Client(base_url=server.base_url + API, timeout=60)
        self.channel = grpc.insecure_channel(server.grpc_target)
        self.runs = run_pb2_grpc.RunServiceStub(self.channel)

    def close(self) -> None:
        self.rest.close()
        self.channel.close()

    def rest_get(self, run_id: str) -> None:
        self.rest.get(f"/runs/{run_id}").raise_for_status()

    def grpc_get(self, run_id: str) -> None:
        self.runs.GetRun(run_pb2.GetRunRequest(run_id=run_id), timeout=60)

    def rest_list(self, experiment_id: str, token: str) -> dict[str, Any]:
        params = {"experiment_id": experiment_id, "page_size": PAGE_SIZE, "sort_by": SORT}
        if token:
            params["page_token"] = token
        response = self.rest.get("/runs", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def grpc_list(self, experiment_id: str, token: str) -> run_pb2.ListRunsResponse:
        request = run_pb2.ListRunsRequest(
            experiment_id=experiment_id, page_size=PAGE_SIZE, sort_by=SORT, page_token=token
        )
        return self.runs.ListRuns(request, timeout=60)


def interleaved(
    calls: dict[str, Callable[[], object]], repetitions: int, server: Server, sink: dict[str, Any]
) -> None:
    """Each call once per repetition, in turn; latencies per call name into ``sink``."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    with cpu_meter(server, sink):
        for _ in range(repetitions):
            for name, call in calls.items():
                times[name].append(timed(call))
    for name, values in times.items():
        sink[name] = summarize_ms(values)


def get_phase(
    clients: Clients, server: Server, run_ids: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    rng = random.Random(11)
    for run_id in rng.sample(run_ids, min(100, len(run_ids))):  # warm-up, not counted
        clients.rest_get(run_id)
        clients.grpc_get(run_id)
    order = [rng.choice(run_ids) for _ in range(args.get_requests)]
    position = {"rest": 0, "grpc": 0}

    def next_id(transport: str) -> str:
        run_id = order[position[transport] % len(order)]
        position[transport] += 1
        return run_id

    result: dict[str, Any] = {}
    with Profiler(args.profile_dir, server.pid, "get"):
        interleaved(
            {
                "rest": lambda: clients.rest_get(next_id("rest")),
                "grpc": lambda: clients.grpc_get(next_id("grpc")),
            },
            args.get_requests,
            server,
            result,
        )
    return result


def list_phase(
    clients: Clients, server: Server, experiment_id: str, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    first = clients.grpc_list(experiment_id, "")
    result["total_size"] = first.total_size
    token, target_token = first.next_page_token, ""
    for _ in range(args.target_page - 1):
        if not token:
            result["error"] = "ran out of pages before the target page"
            return result
        target_token, token = token, clients.grpc_list(experiment_id, token).next_page_token
    # The two transports issue the same tokens: a REST walk would land on the same page.
    rest_page = clients.rest_list(experiment_id, target_token)
    grpc_page = clients.grpc_list(experiment_id, target_token)
    assert [r["run_id"] for r in rest_page["runs"]] == [r.run_id for r in grpc_page.runs]
    for _ in range(20):  # warm-up, not counted
        clients.rest_list(experiment_id, "")
        clients.grpc_list(experiment_id, target_token)
    with Profiler(args.profile_dir, server.pid, "list"):
        interleaved(
            {
                "rest_page_1": lambda: clients.rest_list(experiment_id, ""),
                "grpc_page_1": lambda: clients.grpc_list(experiment_id, ""),
                "rest_page_target": lambda: clients.rest_list(experiment_id, target_token),
                "grpc_page_target": lambda: clients.grpc_list(experiment_id, target_token),
            },
            args.list_requests,
            server,
            result,
        )
    return result


def verdict(value: float, floor: float) -> str:
    return "PASS" if value <= floor else "BELOW"


def render(database: str, figures: dict[str, Any], target_page: int) -> str:
    lines = [f"== Headrace gRPC bench: {database} =="]
    header = (
        f"{'figure':<30} {'gRPC p50/p95 ms':>16} {'REST p50/p95 ms':>16} {'REST/gRPC':>10}  floor"
    )
    lines += [header, "-" * len(header)]

    def row(
        label: str, grpc_stats: dict[str, float], rest_stats: dict[str, float], floor: str
    ) -> None:
        p50 = rest_stats["p50"] / grpc_stats["p50"]
        ratio = f"{p50:.2f}/{rest_stats['p95'] / grpc_stats['p95']:.2f}"
        lines.append(
            f"{label:<30} {grpc_stats['p50']:>7.2f}/{grpc_stats['p95']:<8.2f}"
            f" {rest_stats['p50']:>7.2f}/{rest_stats['p95']:<8.2f} {ratio:>10}  {floor}"
        )

    get = figures.get("get")
    if get:
        row(
            "GetRun",
            get["grpc"],
            get["rest"],
            f"gRPC p50 <= {GET_P50_MS} ms: {verdict(get['grpc']['p50'], GET_P50_MS)}",
        )
    listing = figures.get("list")
    if listing and "grpc_page_1" in listing:
        for key, label in (
            ("page_1", "ListRuns page 1"),
            ("page_target", f"ListRuns page {target_page}"),
        ):
            grpc_stats = listing[f"grpc_{key}"]
            row(
                label,
                grpc_stats,
                listing[f"rest_{key}"],
                f"gRPC p95 <= {LIST_P95_MS} ms: {verdict(grpc_stats['p95'], LIST_P95_MS)}",
            )
    lines.append("(ratios are p50/p95; above 1 means gRPC is faster)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seed_and_server_args(p, "headrace_bench_grpc")
    p.add_argument("--phases", default="get,list", help="comma list of get,list")
    p.add_argument("--get-requests", type=int, default=2000, help="timed requests per transport")
    p.add_argument(
        "--list-requests", type=int, default=300, help="timed requests per page and transport"
    )
    p.add_argument("--profile-dir", type=Path, help="py-spy record the server per phase here")
    p.add_argument("--json", help="also write all figures as JSON to this file")
    args = p.parse_args(argv)
    if args.reuse:
        args.keep = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {}
    with seeded_server(args, figures) as (_, server, seeded):
        if args.profile_dir:
            args.profile_dir = args.profile_dir / args.database
        clients = Clients(server)
        try:
            phases = set(args.phases.split(","))
            if "get" in phases:
                log("phase 1: GetRun, REST and gRPC interleaved")
                figures["get"] = get_phase(clients, server, seeded.sample_run_ids, args)
            if "list" in phases:
                log("phase 2: ListRuns, REST and gRPC interleaved")
                figures["list"] = list_phase(clients, server, seeded.experiment_id, args)
        finally:
            clients.close()
    table = render(args.database, figures, args.target_page)
    print(table)
    print(f"load {figures.get('load_at_start')} -> {figures.get('load_at_end')} (1/5/15 min)")
    for phase in ("get", "list"):
        if phase in figures:
            f = figures[phase]
            print(
                f"{phase}: server CPU {1000 * f['server_cpu_s']:.0f} ms over {f['wall_s']:.1f} s"
                f" wall; other processes {f['other_processes_cpu_pct']:.0f}% of the machine,"
                f" steal {f['machine_steal_pct']:.0f}%"
            )
    if args.json:
        outcome = {"database": args.database, "table": table, "figures": figures}
        Path(args.json).write_text(json.dumps(outcome, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
