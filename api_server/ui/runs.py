"""Run pages: the runs list (filters, sort, keyset paging) and a run's detail."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from markdown_it import MarkdownIt

from api_server.services import ListQuery, run_states
from api_server.storage.runs import StoredTask
from domain.errors import InvalidArgument, NotFound
from domain.resources import Run, Task
from domain.states import RuntimeState

from . import artifacts, graph, lists
from .routing import PageRoute, UiServices, pages_of, services_of
from .templating import state_badge, state_tone

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RUN_SORTS = ("created_at", "display_name", "state", "finished_at", "scheduled_at")
RUN_STATES = [s.value for s in RuntimeState if s is not RuntimeState.RUNTIME_STATE_UNSPECIFIED]
# How many experiments and pipelines the filter drop-downs offer (the largest page).
CHOICES_LIMIT = 200


def run_filter(params: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """KFP predicates for the list form's fields, and the parsed values for the form."""
    tz = lists.parse_tz(params.get("tz"))
    after = lists.parse_local_time("created_after", params.get("created_after"), tz)
    before = lists.parse_local_time("created_before", params.get("created_before"), tz)
    predicates = lists.common_predicates(params, archivable=True)
    state = params.get("state") or ""
    if state:
        if state not in RUN_STATES:
            raise InvalidArgument(f"state: unknown state {state!r}")
        predicates.append(lists.predicate("state", "EQUALS", string_value=state))
    for key in ("pipeline_id", "recurring_run_id"):
        if params.get(key):
            predicates.append(lists.predicate(key, "EQUALS", string_value=params[key]))
    if after is not None:
        predicates.append(
            lists.predicate(
                "created_at", "GREATER_THAN_EQUALS", timestamp_value=lists.rfc3339(after)
            )
        )
    if before is not None:
        predicates.append(
            lists.predicate("created_at", "LESS_THAN_EQUALS", timestamp_value=lists.rfc3339(before))
        )
    return predicates, {"archived": lists.is_archive_view(params), "state": state}


@router.get("/", name="ui_home")
def home(request: Request) -> Response:
    return runs_list(request)


@router.get("/runs", name="ui_runs")
def runs_list(request: Request) -> Response:
    services = services_of(request)
    params = dict(request.query_params)
    predicates, parsed = run_filter(params)
    sort = lists.parse_sort(params.get("sort"), RUN_SORTS, "-created_at")
    page_size = lists.parse_page_size(params.get("page_size"))
    query = lists.list_query(params, predicates, sort)
    experiment_id = params.get("experiment_id") or None
    page = services.runs.list(query, experiment_id=experiment_id, namespace=None)
    experiments = services.experiments.list(
        ListQuery(sort_by="display_name", page_size=CHOICES_LIMIT), namespace=None
    ).items
    pipelines = services.pipelines.list(
        ListQuery(sort_by="display_name", page_size=CHOICES_LIMIT), namespace=None
    ).items
    known_experiments = {e.experiment_id: e.display_name for e in experiments}
    missing = {r.experiment_id for r in page.items} - known_experiments.keys()
    experiment_names = {**known_experiments, **lists.experiment_names(services, missing)}
    known_pipelines = {p.pipeline_id: p.display_name for p in pipelines}
    missing = {r.pipeline_id for r in page.items if r.pipeline_id} - known_pipelines.keys()
    pipeline_names = {**known_pipelines, **lists.pipeline_names(services, missing)}
    return pages_of(request).render(
        request,
        "runs_list.html",
        title="Runs",
        nav="runs",
        page=page,
        params=params,
        parsed=parsed,
        sort=sort,
        sorts=RUN_SORTS,
        states=RUN_STATES,
        page_size=page_size,
        page_sizes=lists.PAGE_SIZES,
        experiments=experiments,
        pipelines=pipelines,
        experiment_names=experiment_names,
        pipeline_names=pipeline_names,
        **lists.paging_links("/runs", params, page.next_page_token, sort),
    )


# --- a run's page ---------------------------------------------------------------------

POLL_SECONDS = 2


class _RunGraph(NamedTuple):
    """A run with its stored task rows, its graph, and the state of each graph node."""

    run: Run
    rows: list[StoredTask]
    dags: list[graph.DagView]
    statuses: dict[str, graph.NodeStatus]


def _run_graph(services: UiServices, run_id: str) -> _RunGraph:
    """What the page, its poll and a step's panel read of a run. Colouring the graph needs
    only each task's state and place: the stored rows, undecoded (a 2,000-task run's
    tasks took 120 ms to decode)."""
    run, rows = services.runs.get_stored(run_id)
    document = run.pipeline_spec or services.runs.pipeline_document(run)
    return _RunGraph(run, rows, graph.pipeline_graph(document), graph.node_statuses(document, rows))


def _run_context(request: Request, run_id: str) -> dict[str, Any]:
    services = services_of(request)
    run, _, dags, statuses = _run_graph(services, run_id)
    experiment = lists.experiment_names(services, [run.experiment_id])
    pipeline = lists.pipeline_names(services, [run.pipeline_id] if run.pipeline_id else [])
    return {
        "run": run,
        "dags": dags,
        "statuses": statuses,
        "is_active": not run_states.is_terminal(run.state),
        "can_terminate": run_states.can_terminate(run.state),
        "can_retry": run_states.can_retry(run.state),
        "experiment_name": experiment.get(run.experiment_id, run.experiment_id),
        "pipeline_name": pipeline.get(run.pipeline_id or "", run.pipeline_id),
        "parameters": (run.runtime_config or {}).get("parameters") or {},
    }


@router.get("/runs/{run_id}", name="ui_run")
def run_page(request: Request, run_id: str) -> Response:
    context = _run_context(request, run_id)
    return pages_of(request).render(
        request,
        "run.html",
        title=context["run"].display_name,
        nav="runs",
        poll_seconds=POLL_SECONDS,
        node_view=lambda status: _node_view(status, context["is_active"]),
        **context,
    )


def _node_view(status: graph.NodeStatus | None, run_active: bool) -> dict[str, Any]:
    state = status.state if status else None
    if state is None:
        state = RuntimeState.PENDING.value if run_active else "NOT_RUN"
    text = state.replace("_", " ").lower()
    if status and status.summary:
        text = status.summary
    if status and status.iterations:
        text = f"{status.iterations} iterations; {text}"
    return {"state": state, "tone": state_tone(state), "text": text}


@router.get("/runs/{run_id}/status", name="ui_run_status")
def run_status(request: Request, run_id: str) -> Response:
    """What the run page's poll needs: the run's state and every node's, in one read."""
    run, _, dags, statuses = _run_graph(services_of(request), run_id)
    active = not run_states.is_terminal(run.state)
    nodes = {
        node.key: _node_view(statuses.get(node.key), active) for dag in dags for node in dag.nodes
    }
    return JSONResponse(
        {
            "state": run.state,
            "state_html": str(state_badge(run.state)),
            "terminal": not active,
            "nodes": nodes,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/runs/{run_id}/nodes/{node_key:path}", name="ui_run_node")
def node_panel(
    request: Request, run_id: str, node_key: str, page: int = 1, state: str = ""
) -> Response:
    """The task panel of one graph node: its tasks (iterations) with inputs, outputs,
    attempts, timing, cache status, artifacts and log; PANEL_TASKS at a time (``page``,
    from 1), in the order they were created, those in ``state`` only if it is given (the
    three failures of a 1,000-iteration loop). Only the shown tasks are decoded, and only
    their logs are fetched by the page."""
    services = services_of(request)
    run, stored, dags, statuses = _run_graph(services, run_id)
    nodes = {n.key: n for dag in dags for n in dag.nodes}
    node = nodes.get(node_key)
    if node is None:
        raise NotFound(f"run {run_id!r} has no step {node_key!r}")
    status = statuses.get(node_key)
    wanted = set(status.task_ids) if status else set()
    rows = [row for row in stored if row.task_id in wanted]
    # A task is numbered by its place among all the step's tasks, filtered or not.
    numbers = {row.task_id: number for number, row in enumerate(rows, start=1)}
    states = sorted(status.counts.items()) if status and len(status.counts) > 1 else []
    if state and state in dict(states):
        rows = [row for row in rows if row.state == state]
    else:
        state = ""
    pages = max(1, -(-len(rows) // PANEL_TASKS))
    page = min(max(page, 1), pages)
    first = (page - 1) * PANEL_TASKS
    return pages_of(request).render(
        request,
        "node_panel.html",
        run=run,
        node=node,
        view=_node_view(status, not run_states.is_terminal(run.state)),
        tasks=services.runs.tasks_of(rows[first : first + PANEL_TASKS], stored),
        total=len(rows),
        all_tasks=len(wanted),
        numbers=numbers,
        first_index=first + 1,
        page=page,
        pages=pages,
        states=states,
        state=state,
        query=lambda **changes: (
            "?"
            + urlencode({k: v for k, v in ({"page": page, "state": state} | changes).items() if v})
        ),
        artifact_views=artifacts.artifact_views,
        cache_status=cache_status,
        failed_attempts=failed_attempts,
    )


#: Tasks shown at once in a step's panel (a ParallelFor may have thousands).
PANEL_TASKS = 20


def cache_status(task: Task) -> str:
    """Whether the task's outputs came from the cache, as far as its record says: a CACHED
    state, a flag in its executor detail, or a finished task that never ran."""
    detail = task.executor_detail or {}
    for key in ("cached", "cache_hit", "from_cache"):
        if key in detail:
            return "used cached outputs" if detail[key] else "executed (cache miss)"
    history = {entry.state for entry in task.state_history}
    if task.state == graph.CACHED or (
        task.state == RuntimeState.SUCCEEDED.value
        and history
        and RuntimeState.RUNNING.value not in history
    ):
        return "used cached outputs"
    if RuntimeState.RUNNING.value in history:
        return "executed"
    return "not recorded"


def failed_attempts(task: Task) -> list[Any]:
    """Earlier attempts of a retried task, as the backend lists them."""
    jobs = (task.executor_detail or {}).get("failed_main_jobs")
    return list(jobs) if isinstance(jobs, list) else []


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@router.post("/render/markdown", name="ui_render_markdown")
async def render_markdown(request: Request) -> Response:
    """Markdown artifact text -> HTML. Raw HTML in the text is escaped, and links that are
    not http(s)/mailto/relative are refused by markdown-it's link validation."""
    body = await request.body()
    if len(body) > MARKDOWN_LIMIT:
        raise InvalidArgument(f"markdown: larger than {MARKDOWN_LIMIT} bytes")
    html = _MARKDOWN.render(body.decode("utf-8", errors="replace"))
    return Response(html, media_type="text/html; charset=utf-8")


MARKDOWN_LIMIT = 2 * 1024 * 1024
