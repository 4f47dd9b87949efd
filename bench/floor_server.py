"""The `mlflow` client's floor: a server that answers MLflow's REST calls and does nothing else.

    python bench/floor_server.py PORT

Keeps experiments, runs and metric points in dicts (no database, no validation, no
disk) and answers with the JSON MLflow's server would send, over HTTP/1.1 keep-alive with
TCP_NODELAY, one write per answer. Timed with the real `mlflow` client, it is what the
client itself costs: no server can make those calls faster than this one does.
tracking_server.py runs it beside labtrack's and MLflow's servers and reports both as a
share of it. Standard library only. A path it does not know is answered 404 and counted;
`GET /floor/unknown` lists them, so a bench can tell when the client called something
the floor does not answer; `GET /floor/calls` counts every request by method and path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import uuid
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/api/2.0/mlflow/"
experiments: dict[str, dict[str, Any]] = {}
runs: dict[str, dict[str, Any]] = {}
history: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
unknown: Counter[str] = Counter()
calls: Counter[str] = Counter()  # every request, by method and path


def _now() -> int:
    return int(time.time() * 1000)


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    data = {
        "metrics": list(run["metrics"].values()),
        "params": [{"key": k, "value": v} for k, v in run["params"].items()],
        "tags": [{"key": k, "value": v} for k, v in run["tags"].items()],
    }
    return {"info": run["info"], "data": data, "inputs": {}, "outputs": {}}


def _log_metric(run_id: str, m: dict[str, Any]) -> None:
    point = {
        "key": m["key"],
        "value": m["value"],
        "timestamp": m.get("timestamp", 0),
        "step": m.get("step", 0),
    }
    history[(run_id, m["key"])].append(point)
    runs[run_id]["metrics"][m["key"]] = point


def handle(method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
    q = {k: v[0] for k, v in query.items()}
    if path in ("/health", "/version"):
        return "OK" if path == "/health" else "3.17.2"
    if path == "/floor/unknown":
        return dict(unknown)
    if path == "/floor/calls":
        return dict(calls)
    calls[f"{method} {path}"] += 1
    if not path.startswith(API):
        return None
    name = path[len(API) :]
    if name == "experiments/create":
        eid = str(len(experiments) + 1)
        experiments[eid] = {
            "experiment_id": eid,
            "name": body["name"],
            "artifact_location": f"mlflow-artifacts:/{eid}",
            "lifecycle_stage": "active",
            "tags": [],
        }
        return {"experiment_id": eid}
    if name == "experiments/get":
        return {"experiment": experiments[q["experiment_id"]]}
    if name == "runs/create":
        rid = uuid.uuid4().hex
        eid = body.get("experiment_id", "0")
        info = {
            "run_id": rid,
            "run_uuid": rid,
            "run_name": body.get("run_name") or f"run-{len(runs)}",
            "experiment_id": eid,
            "user_id": body.get("user_id", ""),
            "status": "RUNNING",
            "start_time": body.get("start_time", _now()),
            "artifact_uri": f"mlflow-artifacts:/{eid}/{rid}/artifacts",
            "lifecycle_stage": "active",
        }
        tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        runs[rid] = {"info": info, "tags": tags, "params": {}, "metrics": {}}
        return {"run": _run_json(runs[rid])}
    if name == "runs/get":
        return {"run": _run_json(runs[q.get("run_id") or q["run_uuid"]])}
    if name == "runs/update":
        info = runs[body.get("run_id") or body["run_uuid"]]["info"]
        info.update({k: body[k] for k in ("status", "end_time", "run_name") if k in body})
        return {"run_info": info}
    if name == "runs/log-metric":
        _log_metric(body["run_id"], body)
        return {}
    if name == "runs/log-batch":
        rid = body["run_id"]
        for m in body.get("metrics", []):
            _log_metric(rid, m)
        runs[rid]["params"].update({p["key"]: p["value"] for p in body.get("params", [])})
        runs[rid]["tags"].update({t["key"]: t["value"] for t in body.get("tags", [])})
        return {}
    if name == "runs/set-tag":
        runs[body["run_id"]]["tags"][body["key"]] = body["value"]
        return {}
    if name == "metrics/get-history":
        points = history[(q["run_id"], q["metric_key"])]
        start = int(q.get("page_token") or 0)
        size = int(q.get("max_results") or 25_000)
        out: dict[str, Any] = {"metrics": points[start : start + size]}
        if start + size < len(points):
            out["next_page_token"] = str(start + size)
        return out
    if name == "runs/search":
        # No filter or order: every run of the experiments, paged. The floor of a search
        # that returns this many runs.
        ids = set(body.get("experiment_ids", []))
        found = [r for r in runs.values() if r["info"]["experiment_id"] in ids]
        start = int(body.get("page_token") or 0)
        size = int(body.get("max_results") or 1000)
        out = {"runs": [_run_json(r) for r in found[start : start + size]]}
        if start + size < len(found):
            out["next_page_token"] = str(start + size)
        return out
    return None


class Http(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = b""
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            if len(self.buf) < head_end + 4 + length:
                return
            raw = self.buf[head_end + 4 : head_end + 4 + length]
            self.buf = self.buf[head_end + 4 + length :]
            method, target, _ = head[0].split(" ", 2)
            self.answer(method, target, raw)

    def answer(self, method: str, target: str, raw: bytes) -> None:
        parts = urlsplit(target)
        try:
            body = json.loads(raw) if raw else {}
            result = handle(method, parts.path, parse_qs(parts.query), body)
            status = "200 OK" if result is not None else "404 Not Found"
            if result is None:
                unknown[f"{method} {parts.path}"] += 1
                result = {"error_code": "ENDPOINT_NOT_FOUND", "message": parts.path}
        except (KeyError, ValueError) as exc:
            status, result = "400 Bad Request", {"error_code": "BAD_REQUEST", "message": str(exc)}
        payload = result.encode() if isinstance(result, str) else json.dumps(result).encode()
        ctype = "text/plain" if isinstance(result, str) else "application/json"
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
