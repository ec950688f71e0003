"""A pipeline spec's DAGs laid out for drawing, and a run's tasks mapped onto them.

Pure code (no I/O): the run page draws each DAG (the root's and every sub-DAG's) as SVG
from ``pipeline_graph`` and colours its nodes from ``node_statuses``. Layout is layered:
a task sits one row below the lowest of the tasks it waits for, and within a row tasks are
ordered by the mean position of their upstream tasks, which keeps most edges uncrossed.

A run's tasks are matched to the spec by name along their parent chain. A task whose name
is not a task of the DAG it sits in (the run's root task, a ParallelFor iteration) is a
wrapper: it adds no step to the key, and under a loop it counts as one iteration. Several
tasks on one node (a loop's iterations) are collapsed into one state with counts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.states import RuntimeState

NODE_WIDTH = 200
NODE_HEIGHT = 48
GAP_X = 36
GAP_Y = 56
MARGIN = 20

# When several tasks share a node, the first state here that any of them has wins,
# except that the node is SUCCEEDED/SKIPPED only when all are finished.
_ACTIVE_ORDER = ("FAILED", "RUNNING", "CANCELING", "PAUSED", "PENDING")
# A task whose outputs came from the cache; some backends report it as a state of its own.
CACHED = "CACHED"


@dataclass(frozen=True)
class GraphNode:
    key: str  # the task's path through sub-DAGs: "for-loop-3/square-2"
    name: str  # the task's key in its DAG
    label: str  # taskInfo.name, what people read
    kind: str  # task | dag | loop
    is_exit_handler: bool
    condition: str | None
    detail: str
    child: str | None  # key of the sub-DAG this node opens, for dag and loop nodes
    x: int
    y: int


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    path: str  # SVG path data


@dataclass(frozen=True)
class DagView:
    key: str  # "" for the root DAG
    title: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    width: int
    height: int


@dataclass
class NodeStatus:
    state: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    task_ids: list[str] = field(default_factory=list)
    iterations: int = 0

    @property
    def summary(self) -> str:
        """``3 of 5 succeeded, 1 running`` for collapsed tasks; empty for a single task."""
        total = sum(self.counts.values())
        if total <= 1:
            return ""
        parts = [f"{n} {state.lower()}" for state, n in sorted(self.counts.items())]
        return f"{total} tasks: " + ", ".join(parts)


def _spec_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The bare PipelineSpec from either wire shape (bare, or wrapper with platform spec)."""
    inner = document.get("pipeline_spec")
    return inner if isinstance(inner, Mapping) else document


def _component_dag(spec: Mapping[str, Any], task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = (task.get("componentRef") or {}).get("name")
    component = (spec.get("components") or {}).get(ref) or {}
    dag = component.get("dag")
    return dag if isinstance(dag, Mapping) else None


def upstream_tasks(task: Mapping[str, Any]) -> set[str]:
    """The tasks this one waits for: dependentTasks plus every producer it reads from."""
    names = set(task.get("dependentTasks") or [])
    inputs = task.get("inputs") or {}
    for binding in (inputs.get("parameters") or {}).values():
        for key in ("taskOutputParameter", "taskFinalStatus"):
            producer = (binding.get(key) or {}).get("producerTask")
            if producer:
                names.add(producer)
    for binding in (inputs.get("artifacts") or {}).values():
        producer = (binding.get("taskOutputArtifact") or {}).get("producerTask")
        if producer:
            names.add(producer)
    return names


def _iterator_detail(task: Mapping[str, Any]) -> str:
    iterator = task.get("parameterIterator") or task.get("artifactIterator") or {}
    items = iterator.get("items") or {}
    if "raw" in items:
        try:
            count = len(json.loads(items["raw"]))
            text = f"ParallelFor over {count} items"
        except (TypeError, ValueError):
            text = "ParallelFor"
    else:
        source = items.get("inputParameter") or items.get("inputArtifact") or "an input"
        text = f"ParallelFor over {source.removeprefix('pipelinechannel--')}"
    limit = (task.get("iteratorPolicy") or {}).get("parallelismLimit")
    return f"{text}, {limit} at a time" if limit else text


def _layers(tasks: Mapping[str, Any]) -> list[list[str]]:
    """Rows of task names: each task one row below its deepest upstream task."""
    upstream = {name: upstream_tasks(task) & tasks.keys() for name, task in tasks.items()}
    depth: dict[str, int] = {}
    remaining = sorted(tasks)
    # Kahn-style passes: the spec was validated acyclic, so each pass places at least one.
    while remaining:
        placed = [n for n in remaining if all(u in depth for u in upstream[n])]
        if not placed:  # defensive: draw what is left on one row rather than loop forever
            placed = remaining
        for name in placed:
            depth[name] = 1 + max((depth[u] for u in upstream[name] if u in depth), default=-1)
        remaining = [n for n in remaining if n not in depth]
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    position: dict[str, float] = {}
    for row_index in range(len(rows)):
        names = [n for n in sorted(tasks) if depth[n] == row_index]

        def mean_upstream(name: str) -> float:
            ups = [position[u] for u in upstream[name] if u in position]
            return sum(ups) / len(ups) if ups else float("inf")

        names.sort(key=lambda n: (mean_upstream(n), n))
        for index, name in enumerate(names):
            position[name] = index
        rows[row_index] = names
    return rows


def _edge_path(x1: float, y1: float, x2: float, y2: float) -> str:
    middle = (y1 + y2) / 2
    return f"M{x1:.0f},{y1:.0f} C{x1:.0f},{middle:.0f} {x2:.0f},{middle:.0f} {x2:.0f},{y2:.0f}"


def _layout_dag(
    spec: Mapping[str, Any], dag: Mapping[str, Any], prefix: str, title: str, out: list[DagView]
) -> None:
    tasks: Mapping[str, Any] = dag.get("tasks") or {}
    rows = _layers(tasks)
    widest = max((len(r) for r in rows), default=0)
    width = max(widest * (NODE_WIDTH + GAP_X) - GAP_X + 2 * MARGIN, NODE_WIDTH + 2 * MARGIN)
    height = max(len(rows) * (NODE_HEIGHT + GAP_Y) - GAP_Y + 2 * MARGIN, NODE_HEIGHT)
    nodes: list[GraphNode] = []
    centres: dict[str, tuple[int, int]] = {}
    children: list[tuple[str, Mapping[str, Any], str]] = []
    for row_index, names in enumerate(rows):
        row_width = len(names) * (NODE_WIDTH + GAP_X) - GAP_X
        left = (width - row_width) // 2
        for index, name in enumerate(names):
            task = tasks[name]
            key = f"{prefix}{name}"
            x = left + index * (NODE_WIDTH + GAP_X)
            y = MARGIN + row_index * (NODE_HEIGHT + GAP_Y)
            centres[name] = (x + NODE_WIDTH // 2, y)
            label = str((task.get("taskInfo") or {}).get("name") or name)
            sub = _component_dag(spec, task)
            is_loop = bool(task.get("parameterIterator") or task.get("artifactIterator"))
            trigger = task.get("triggerPolicy") or {}
            is_exit = trigger.get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED"
            condition = trigger.get("condition") or None
            if is_loop:
                kind, detail = "loop", _iterator_detail(task)
            elif sub is not None:
                kind, detail = "dag", "sub-DAG"
            else:
                kind, detail = "task", str((task.get("componentRef") or {}).get("name") or "")
            if is_exit:
                detail = "exit handler: runs when upstream ends"
            elif condition:
                detail = "runs if a condition holds"
            nodes.append(
                GraphNode(
                    key=key,
                    name=name,
                    label=label,
                    kind=kind,
                    is_exit_handler=is_exit,
                    condition=condition,
                    detail=detail,
                    child=key if sub is not None else None,
                    x=x,
                    y=y,
                )
            )
            if sub is not None:
                children.append((key, sub, label))
    edges = []
    for name, task in sorted(tasks.items()):
        for up in sorted(upstream_tasks(task) & tasks.keys()):
            x1, y1 = centres[up]
            x2, y2 = centres[name]
            edges.append(
                GraphEdge(
                    f"{prefix}{up}", f"{prefix}{name}", _edge_path(x1, y1 + NODE_HEIGHT, x2, y2)
                )
            )
    out.append(DagView(prefix.rstrip("/"), title, nodes, edges, width, height))
    for key, sub, label in children:
        _layout_dag(spec, sub, f"{key}/", label, out)


def pipeline_graph(document: Mapping[str, Any]) -> list[DagView]:
    """Every DAG of the spec, the root's first, then sub-DAGs depth-first."""
    spec = _spec_of(document)
    root_dag = (spec.get("root") or {}).get("dag") or {}
    name = str((spec.get("pipelineInfo") or {}).get("name") or "pipeline")
    out: list[DagView] = []
    _layout_dag(spec, root_dag, "", name, out)
    return out


def aggregate_state(states: Sequence[str]) -> str | None:
    """One state for the tasks collapsed on a node (a loop's iterations)."""
    if not states:
        return None
    present = set(states)
    for state in _ACTIVE_ORDER:
        if state in present:
            return state
    for only in (RuntimeState.SKIPPED.value, CACHED):
        if present == {only}:
            return only
    if RuntimeState.CANCELED.value in present:
        return RuntimeState.CANCELED.value
    return RuntimeState.SUCCEEDED.value


def _dag_names(spec: Mapping[str, Any], dag: Mapping[str, Any] | None) -> dict[str, str]:
    """Names a task may carry in ``dag`` (its key or its taskInfo.name) -> its key."""
    tasks = (dag or {}).get("tasks") or {}
    # Backends report taskInfo.name (what set_display_name sets), so it wins over a key.
    names = {
        str(task["taskInfo"]["name"]): key
        for key, task in tasks.items()
        if (task.get("taskInfo") or {}).get("name")
    }
    for key in tasks:
        names.setdefault(key, key)
    return names


class TaskLike(Protocol):
    """What colouring the graph reads of a task: a ``Task``, or a stored row of one."""

    @property
    def task_id(self) -> str: ...
    @property
    def parent_task_id(self) -> str | None: ...
    @property
    def display_name(self) -> str: ...
    @property
    def state(self) -> str: ...


def node_statuses(document: Mapping[str, Any], tasks: Sequence[TaskLike]) -> dict[str, NodeStatus]:
    """Node key -> the state of the run's tasks on it (collapsed with counts)."""
    spec = _spec_of(document)
    root_dag: Mapping[str, Any] = (spec.get("root") or {}).get("dag") or {}
    by_id = {t.task_id: t for t in tasks}
    children: dict[str | None, list[TaskLike]] = defaultdict(list)
    for task in tasks:
        parent = task.parent_task_id if task.parent_task_id in by_id else None
        children[parent].append(task)
    statuses: dict[str, NodeStatus] = defaultdict(NodeStatus)
    # (task, the DAG its children live in, key prefix, key of the loop it iterates, if any)
    stack: list[tuple[TaskLike, Mapping[str, Any] | None, str, str | None]] = []
    for top in children[None]:
        stack.append((top, root_dag, "", None))
    while stack:
        task, dag, prefix, loop_key = stack.pop()
        names = _dag_names(spec, dag)
        name = names.get(task.display_name)
        if name is None:
            # A wrapper (the root task, an iteration): its children stay in the same DAG.
            if loop_key is not None:
                statuses[loop_key].iterations += 1
            for child in children[task.task_id]:
                stack.append((child, dag, prefix, None))
            continue
        key = f"{prefix}{name}"
        status = statuses[key]
        status.counts[task.state] += 1
        status.task_ids.append(task.task_id)
        spec_task = ((dag or {}).get("tasks") or {})[name]
        sub = _component_dag(spec, spec_task)
        is_loop = bool(spec_task.get("parameterIterator") or spec_task.get("artifactIterator"))
        for child in children[task.task_id]:
            stack.append((child, sub, f"{key}/", key if is_loop else None))
    for status in statuses.values():
        status.state = aggregate_state(list(status.counts.elements()))
    return dict(statuses)
