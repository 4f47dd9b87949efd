"""labtrack's API extensions, under ``/api/2.0/labtrack/`` (documented by the OpenAPI schema).

What MLflow's protocol cannot do well: columnar bulk logging in batches far larger than
log-batch's 1,000 items, with safe retries, and metric history as columns instead of one
object per point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from labtrack import _protocol as wire
from labtrack._gc import paused_gc
from labtrack._version import __version__
from labtrack.entities import Metric, Param, RunTag
from labtrack.errors import InvalidParameterValue
from labtrack.server._routes import Route
from labtrack.tracking.service import MAX_HEARTBEAT_RUNS
from labtrack.validation import validate_bulk_limits

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext

PREFIX = "/api/2.0/labtrack"
CAPABILITIES = ("runs/log-bulk", "metrics/history-columns", "runs/heartbeat")


class KeyValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: str


class MetricColumns(BaseModel):
    """Metric points as parallel columns; point i has key ``keys[key_index[i]]``."""

    model_config = ConfigDict(extra="forbid")
    keys: list[str] = Field(description="The distinct metric keys of this batch.")
    key_index: list[int] = Field(description="For each point, its key's index in `keys`.")
    values: list[float | str] = Field(
        description='Values; NaN and infinities as "NaN", "Infinity", "-Infinity".'
    )
    timestamps: list[int] = Field(description="Milliseconds since the epoch.")
    steps: list[int]


class LogBulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str
    request_id: str | None = Field(
        None,
        max_length=64,
        description="Idempotency key: a batch retried with the same id is applied once.",
    )
    metrics: MetricColumns | None = None
    params: list[KeyValue] = []
    tags: list[KeyValue] = []
    heartbeat: bool = Field(
        False, description="Also record that the run's process is alive (see runs/heartbeat)."
    )


class LogBulkResponse(BaseModel):
    metrics: int
    params: int
    tags: int


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_ids: list[str] = Field(
        description="Runs whose process is alive. A RUNNING run that has had heartbeats and "
        "then none for the server's heartbeat timeout is marked crashed (KILLED, tag "
        f"labtrack.crashed); a run that has ended ignores them. At most {MAX_HEARTBEAT_RUNS}.",
    )


class HeartbeatResponse(BaseModel):
    pass


class MetricHistoryColumns(BaseModel):
    run_id: str
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float | str]


class ServerInfo(BaseModel):
    name: str = "labtrack"
    version: str
    capabilities: list[str]


def metrics_from_columns(columns: MetricColumns) -> list[Metric]:
    n = len(columns.key_index)
    if not (len(columns.values) == len(columns.timestamps) == len(columns.steps) == n):
        raise InvalidParameterValue(
            "metrics columns have different lengths: key_index "
            f"{n}, values {len(columns.values)}, timestamps {len(columns.timestamps)}, "
            f"steps {len(columns.steps)}"
        )
    keys = columns.keys
    if n and (min(columns.key_index) < 0 or max(columns.key_index) >= len(keys)):
        raise InvalidParameterValue("metrics.key_index points outside metrics.keys")
    new = tuple.__new__
    to_float = wire.float_from_json
    with paused_gc():
        return [
            new(Metric, (keys[k], v if type(v) is float else to_float(v), ts, step))
            for k, v, ts, step in zip(
                columns.key_index, columns.values, columns.timestamps, columns.steps, strict=True
            )
        ]


def routes(ctx: ServerContext) -> list[Route]:
    """labtrack's own endpoints, shown in the OpenAPI document."""
    from starlette.concurrency import run_in_threadpool

    def server_info() -> ServerInfo:
        """What this server is, so clients can use labtrack's faster endpoints."""
        return ServerInfo(version=__version__, capabilities=list(CAPABILITIES))

    async def log_bulk(body: LogBulkRequest) -> LogBulkResponse:
        """Log metric points, params and tags to a run, atomically.

        Far larger batches than MLflow's log-batch (1,000 items): up to 200,000 metric
        points of up to 1,000 keys, 1,000 params and 1,000 tags, and 1,000,000 characters
        of param and tag keys and values. Send a `request_id` and a retry of the same
        batch is applied once.
        """
        columns = body.metrics
        # Counted on the columns before a point is made of them (the service counts again).
        validate_bulk_limits(
            len(columns.key_index) if columns else 0,
            len(set(columns.key_index)) if columns else 0,
            len(body.params),
            len(body.tags),
        )
        metrics = metrics_from_columns(columns) if columns else []
        params = [Param(p.key, p.value) for p in body.params]
        tags = [RunTag(t.key, t.value) for t in body.tags]
        await run_in_threadpool(
            ctx.service.log_batch,
            body.run_id,
            metrics,
            params,
            tags,
            limits="bulk",
            request_id=body.request_id,
            heartbeat=body.heartbeat,
        )
        return LogBulkResponse(metrics=len(metrics), params=len(params), tags=len(tags))

    async def heartbeat(body: HeartbeatRequest) -> HeartbeatResponse:
        """The processes running these runs are alive (labtrack's clients send this for
        the runs they run, when no logged data carried a heartbeat lately)."""
        await run_in_threadpool(ctx.service.heartbeat, body.run_ids)
        return HeartbeatResponse()

    def history_columns(
        run_id: str = Query(..., description="The run."),
        key: str = Query(..., description="The metric key."),
    ) -> Any:
        """A metric's whole history as three columns, ordered by step then timestamp."""
        from starlette.responses import JSONResponse

        ctx.service.get_run(run_id)  # validates the id; 404 if missing
        steps, stamps, values = ctx.store.get_metric_history_columns(run_id, key)
        to_json = wire.float_to_json
        return JSONResponse(
            {
                "run_id": run_id,
                "key": key,
                "steps": steps,
                "timestamps": stamps,
                "values": [to_json(v) for v in values],
            }
        )

    def route(path: str, method: str, endpoint: Any, model: Any, **options: Any) -> Route:
        return Route(
            PREFIX + path,
            (method,),
            endpoint,
            openapi=True,
            response_model=model,
            tags=("labtrack",),
            **options,
        )

    return [
        route("/server-info", "GET", server_info, ServerInfo),
        # The body is read (at most max_body_bytes) by the server's reader before FastAPI parses it.
        route(
            "/runs/log-bulk",
            "POST",
            log_bulk,
            LogBulkResponse,
            body_limit=ctx.config.max_body_bytes,
            heavy=True,
        ),
        route("/metrics/history-columns", "GET", history_columns, MetricHistoryColumns, heavy=True),
        route(
            "/runs/heartbeat",
            "POST",
            heartbeat,
            HeartbeatResponse,
            body_limit=64 * 1024,
        ),
    ]
