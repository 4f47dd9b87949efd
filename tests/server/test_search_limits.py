"""What one search may cost the server: bounded filters and lists (400s naming the limit,
never a database's 500), long filters that stay cheap, and the statement timeout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from labtrack.entities import Metric
from labtrack.errors import QueryTimeout
from labtrack.store.rest import RestStore
from livesrv import serve_in_thread

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("limits")
    with (
        serve_in_thread(f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts")) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    return str(body["message"])


def and_of(count: int) -> str:
    return " and ".join(f"metrics.m{i} > 0" for i in range(count))


def test_a_filter_of_too_many_comparisons_is_refused(http: httpx.Client) -> None:
    # 1,001 of them made SQLite fail with "Expression tree is too large" (a 500).
    requests: list[tuple[str, dict[str, Any]]] = [
        ("POST", {"json": {"experiment_ids": ["0"], "filter": and_of(1001)}}),
        ("GET", {"params": {"experiment_ids": "0", "filter": and_of(201)}}),
    ]
    for method, kwargs in requests:
        message = refusal(http.request(method, f"{API}/runs/search", **kwargs))
        assert "more than the limit of 200 (setting search_max_filter_terms)" in message
    found = http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": and_of(200)})
    assert found.status_code == 200


def test_a_filter_too_long_is_refused(http: httpx.Client) -> None:
    # 50,000 comparisons overflowed PostgreSQL's 65,535 bound values (a 500).
    text = " and ".join(f"metrics.m{i} > 0" for i in range(50_000))
    message = refusal(
        http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": text})
    )
    assert f"it is {len(text):,} characters long" in message
    assert "more than the limit of 50,000 (setting search_max_filter_length)" in message
    for path, body in [
        ("/experiments/search", {"filter": text}),
        ("/logged-models/search", {"experiment_ids": ["0"], "filter": text}),
    ]:
        assert "search_max_filter_length" in refusal(http.post(f"{API}{path}", json=body))
    # The registry's searches are GETs (a URL holds less): the same parser, the same limits.
    tags = " and ".join(["tags.k = 'v'"] * 201)
    for path in ("/registered-models/search", "/model-versions/search"):
        response = http.get(f"{API}{path}", params={"filter": tags})
        assert "search_max_filter_terms" in refusal(response)


def test_too_many_experiments_are_refused(http: httpx.Client) -> None:
    # 70,000 overflowed PostgreSQL's bound values too.
    ids = [str(i) for i in range(70_000)]
    for path in ("/runs/search", "/logged-models/search"):
        message = refusal(http.post(f"{API}{path}", json={"experiment_ids": ids}))
        assert message == (
            "A search may name at most 1,000 experiments, not 70,000 "
            "(setting search_max_experiments)"
        )


def test_too_many_order_by_clauses_are_refused(http: httpx.Client) -> None:
    # A few dozen metrics in an ORDER BY crashed SQLite 3.40 (the server's process).
    order_by = [f"metrics.m{i} DESC" for i in range(30)]
    message = refusal(
        http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "order_by": order_by})
    )
    assert message == "Invalid order_by: 30 clauses, more than the limit of 10"
    found = http.post(
        f"{API}/runs/search", json={"experiment_ids": ["0"], "order_by": order_by[:10]}
    )
    assert found.status_code == 200


def test_the_web_ui_shows_a_filter_over_the_limit_as_a_filter_error(http: httpx.Client) -> None:
    page = http.get("/runs", params={"experiments": "0", "filter": and_of(201), "format": "json"})
    assert page.status_code == 200
    assert "search_max_filter_terms" in page.json()["filter_error"]["message"]
    many = http.get("/runs", params={"experiments": ",".join(map(str, range(1001)))})
    assert many.status_code == 400
    assert "at most 1,000 experiments" in many.text


# -- long filters on every database -------------------------------------------------------
def test_a_filter_at_the_limit_answers_well_within_the_statement_timeout(
    db_uri: str, artifact_root: str, tmp_path: Path
) -> None:
    """On PostgreSQL an AND of 100 metric comparisons took seconds to plan and 200 far
    longer (one semi-join each); now it is a few subqueries on every database."""
    from labtrack.store.sql.store import SqlStore

    store = SqlStore(db_uri, artifact_root)
    for name, keys in (("all", 200), ("most", 199)):
        run_id = store.create_run("0", "u", 1, [], name).info.run_id
        store.log_batch(run_id, metrics=[Metric(f"m{i}", 1.0, 1, 0) for i in range(keys)])
    with (
        serve_in_thread(db_uri, str(tmp_path / "artifacts"), statement_timeout=10) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        for text in (and_of(200), " and ".join(["metrics.m199 > 0"] * 200)):
            found = http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": text})
            assert found.status_code == 200, found.text
            assert [r["info"]["run_name"] for r in found.json()["runs"]] == ["all"]


# -- the statement timeout ----------------------------------------------------------------
@contextlib.contextmanager
def runs_locked(db_uri: str) -> Iterator[None]:
    """Until exit, the runs table is locked: a server's search of runs waits."""
    from labtrack.store.sql.engine import normalize_db_url

    engine = sqlalchemy.create_engine(normalize_db_url(db_uri))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            else:
                conn.exec_driver_sql("LOCK TABLES runs WRITE")
            yield
            if engine.dialect.name != "postgresql":
                conn.exec_driver_sql("UNLOCK TABLES")
            conn.rollback()
    finally:
        engine.dispose()


def test_a_search_past_the_statement_timeout_is_a_clear_error(
    db_uri: str, artifact_root: str, tmp_path: Path
) -> None:
    from labtrack.store.sql.store import SqlStore

    store = SqlStore(db_uri, artifact_root)
    sqlite = db_uri.startswith("sqlite")
    for i in range(600 if sqlite else 3):
        store.create_run("0", "u", i, [], f"r{i}")
    # SQLite cannot be made to wait for a read: there the timeout is a microsecond, which
    # any statement of more than a few thousand steps (this search's) outlasts.
    timeout = 1e-6 if sqlite else 0.5
    text = "attributes.run_name LIKE 'r%'"
    search = {"experiment_ids": ["0"], "filter": text}
    with (
        serve_in_thread(db_uri, str(tmp_path / "artifacts"), statement_timeout=timeout) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        with contextlib.nullcontext() if sqlite else runs_locked(db_uri):
            stopped = http.post(f"{API}/runs/search", json=search)
            # labtrack's client raises the same error, and does not send the query again.
            with pytest.raises(QueryTimeout, match="took longer than"):
                RestStore(url).search_runs(["0"], text, 1, 1000, None, None)
        assert stopped.status_code == 400
        body = stopped.json()
        assert body["error_code"] == "DEADLINE_EXCEEDED"
        assert body["message"].startswith(f"The query took longer than {timeout:g} s")
        # The server carries on, on the same pool of connections.
        assert http.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code == 200
        if not sqlite:
            found = http.post(f"{API}/runs/search", json=search)
            assert found.status_code == 200
            assert len(found.json()["runs"]) == 3
