"""The proxied-artifact API (``/api/2.0/mlflow-artifacts/...``).

Most tests run the app in-process through httpx's ASGI transport. Hostile paths are also sent
as raw ASGI requests built the way uvicorn builds them (``path`` percent-decoded once,
``raw_path`` untouched), because httpx itself would normalise ``..`` away before sending. A
real server process checks streaming memory use, raw hostile requests over a socket, and
MLflow's own client end to end (including multipart uploads).
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

import anyio
import httpx
import pytest

from labtrack import artifacts as artifacts_pkg
from labtrack.artifacts.base import ArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.server import _downloads, _multipart, artifacts_api
from labtrack.server.app import ServerConfig, create_app

pytestmark = pytest.mark.anyio

API = "/api/2.0/mlflow-artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts"
RUN = "1/0123abcd/artifacts"
SECRET = b"outside secret\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Env:
    tmp: Path
    dest: Path
    outside: Path  # a file next to the destination that must never be touched
    app: Any
    client: httpx.AsyncClient

    def staging(self) -> Path:
        return self.dest / _multipart.STAGING_DIR

    def staged(self) -> list[str]:
        staging = self.staging()
        return sorted(os.listdir(staging)) if staging.exists() else []


def make_app(tmp: Path, dest: str, **kwargs: Any) -> Any:
    return create_app(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp / 'db.db'}",
            artifacts_destination=dest,
            allowed_hosts=("testserver",),  # httpx's in-process requests name this host
            **kwargs,
        )
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    dest = tmp_path / "artifacts"
    dest.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(SECRET)
    app = make_app(tmp_path, str(dest))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Env(tmp_path, dest, outside, app, client)


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_call(
    app: Any,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    messages: list[dict[str, Any]] | None = None,
) -> RawResponse:
    """Call the ASGI app with ``target`` exactly as a client sent it (no normalisation)."""
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(raw_path),  # what uvicorn does
        "raw_path": raw_path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": [
            (b"host", b"testserver"),
            *(
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in (headers or {}).items()
            ),
        ],
    }
    incoming = (
        list(messages)
        if messages is not None
        else [{"type": "http.request", "body": body, "more_body": False}]
    )
    sent: list[dict[str, Any]] = []
    finished = anyio.Event()

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return RawResponse(
        start["status"],
        {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def files_outside(env: Env) -> list[str]:
    """Everything under tmp that is not the destination, the database or the outside file."""
    found = []
    for root, dirs, names in os.walk(env.tmp):
        if Path(root) == env.dest or env.dest in Path(root).parents:
            continue
        for name in names + dirs:
            path = Path(root) / name
            if path == env.dest or path == env.outside or name.startswith("db.db"):
                continue
            found.append(str(path.relative_to(env.tmp)))
    return sorted(found)


# -- upload and download ------------------------------------------------------------------------
async def test_binary_round_trip(env: Env) -> None:
    data = bytes(range(256)) * 4096 + os.urandom(3 * 1024 * 1024 + 17)
    put = await env.client.put(f"{API}/artifacts/{RUN}/model/weights.bin", content=data)
    assert put.status_code == 200
    assert put.json() == {}
    assert (env.dest / RUN / "model" / "weights.bin").read_bytes() == data
    got = await env.client.get(f"{API}/artifacts/{RUN}/model/weights.bin")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["content-type"] == "application/octet-stream"


async def test_empty_file_round_trip(env: Env) -> None:
    assert (await env.client.put(f"{API}/artifacts/{RUN}/empty.txt", content=b"")).json() == {}
    got = await env.client.get(f"{API}/artifacts/{RUN}/empty.txt")
    assert got.status_code == 200
    assert got.content == b""
    assert got.headers["content-length"] == "0"
    listing = await env.client.get(f"{API}/artifacts", params={"path": RUN})
    assert listing.json() == {"files": [{"path": "empty.txt", "is_dir": False, "file_size": 0}]}


async def test_nested_upload_creates_directories_and_overwrite_replaces(env: Env) -> None:
    url = f"{API}/artifacts/{RUN}/a/b/c/deep.txt"
    await env.client.put(url, content=b"first version")
    await env.client.put(url, content=b"second")
    assert (await env.client.get(url)).content == b"second"
    assert sorted(os.listdir(env.dest / RUN / "a" / "b" / "c")) == ["deep.txt"]  # no temp files
    assert env.staged() == []


async def test_ui_base_path_serves_the_same_api(env: Env) -> None:
    await env.client.put(f"{AJAX}/artifacts/{RUN}/x.txt", content=b"via ajax")
    assert (await env.client.get(f"{API}/artifacts/{RUN}/x.txt")).content == b"via ajax"
    listing = await env.client.get(f"{AJAX}/artifacts", params={"path": RUN})
    assert listing.json()["files"][0]["path"] == "x.txt"


async def test_names_with_spaces_percent_and_unicode(env: Env) -> None:
    for name in ["with space.txt", "100%25 done.txt", "résumé ü.txt", "a?b#c.txt"]:
        encoded = quote(unquote(name) if "%25" in name else name)
        await env.client.put(f"{API}/artifacts/{RUN}/{encoded}", content=name.encode())
    names = sorted(os.listdir(env.dest / RUN))
    assert names == sorted(["with space.txt", "100% done.txt", "résumé ü.txt", "a?b#c.txt"])
    got = await env.client.get(f"{API}/artifacts/{RUN}/{quote('résumé ü.txt')}")
    assert got.content == "résumé ü.txt".encode()
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%C3%BC.txt" in disposition


async def test_control_characters_in_names_cannot_inject_headers(env: Env) -> None:
    # Starlette's path routes do not match a newline at all: nothing is stored.
    put = await env.client.put(f"{API}/artifacts/{RUN}/evil%0D%0ASet-Cookie: x=1", content=b"x")
    assert error_of(put) == (404, "ENDPOINT_NOT_FOUND")
    assert not (env.dest / RUN).exists()
    # Other control characters do reach the handler; the header stays one clean line.
    await env.client.put(f"{API}/artifacts/{RUN}/tab%09and%7Fdel.txt", content=b"x")
    got = await env.client.get(f"{API}/artifacts/{RUN}/tab%09and%7Fdel.txt")
    assert got.status_code == 200
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"tab_and_del.txt\"; filename*=UTF-8''tab%09and%7Fdel.txt"
    )
    header = _downloads.content_disposition('a"b\\c\r\nSet-Cookie: x')
    assert "\r" not in header
    assert "\n" not in header
    assert header.startswith('attachment; filename="a_b_c__Set-Cookie: x"; filename*=')


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("notes.txt", "text/plain"),
        ("MLmodel", "text/plain"),
        ("conda.yaml", "text/plain"),
        ("metrics.json", "text/plain"),
        ("page.html", "text/html"),
        ("drawing.svg", "image/svg+xml"),
        ("plot.png", "image/png"),
        ("table.csv.gz", "application/gzip"),
        ("model.unknownext", "application/octet-stream"),
        ("no_extension", "application/octet-stream"),
    ],
)
async def test_content_types_and_safety_headers(env: Env, name: str, content_type: str) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/{name}", content=b"<script>alert(1)</script>")
    got = await env.client.get(f"{API}/artifacts/{RUN}/{name}")
    assert got.status_code == 200
    assert got.headers["content-type"].split(";")[0] == content_type
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["content-disposition"] == f'attachment; filename="{name}"'


async def test_range_requests(env: Env) -> None:
    url = f"{API}/artifacts/{RUN}/digits.txt"
    await env.client.put(url, content=b"0123456789")
    part = await env.client.get(url, headers={"Range": "bytes=2-4"})
    assert (part.status_code, part.content) == (206, b"234")
    assert part.headers["content-range"] == "bytes 2-4/10"
    assert part.headers["content-length"] == "3"
    assert (await env.client.get(url, headers={"Range": "bytes=7-"})).content == b"789"
    assert (await env.client.get(url, headers={"Range": "bytes=-2"})).content == b"89"
    assert (await env.client.get(url, headers={"Range": "bytes=8-100"})).content == b"89"
    unsatisfiable = await env.client.get(url, headers={"Range": "bytes=10-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == "bytes */10"
    whole = await env.client.get(url, headers={"Range": "bytes=0-1,4-5"})  # several: ignored
    assert (whole.status_code, whole.content) == (200, b"0123456789")
    assert (await env.client.get(url, headers={"Range": "lines=1-2"})).status_code == 200
    assert (await env.client.get(url)).headers["accept-ranges"] == "bytes"


async def test_missing_file_is_404_and_directory_is_400(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/dir/file.txt", content=b"x")
    assert error_of(await env.client.get(f"{API}/artifacts/{RUN}/nope.txt")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error_of(await env.client.get(f"{API}/artifacts/{RUN}/dir")) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert error_of(await env.client.get(f"{API}/artifacts/")) == (400, "INVALID_PARAMETER_VALUE")


async def test_upload_onto_a_directory_or_under_a_file_is_refused(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/dir/file.txt", content=b"x")
    onto_dir = await env.client.put(f"{API}/artifacts/{RUN}/dir", content=b"y")
    assert error_of(onto_dir) == (400, "INVALID_PARAMETER_VALUE")
    assert "directory" in onto_dir.json()["message"]
    under_file = await env.client.put(f"{API}/artifacts/{RUN}/dir/file.txt/child", content=b"y")
    assert error_of(under_file) == (400, "INVALID_PARAMETER_VALUE")
    assert (env.dest / RUN / "dir" / "file.txt").read_bytes() == b"x"
    assert error_of(await env.client.put(f"{API}/artifacts/", content=b"y")) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert env.staged() == []


async def test_overlong_path_is_a_400_not_a_500(env: Env) -> None:
    long_name = "x" * 5000
    for method in ("GET", "PUT", "DELETE"):
        response = await env.client.request(method, f"{API}/artifacts/{RUN}/{long_name}")
        assert error_of(response) == (400, "INVALID_PARAMETER_VALUE"), method
        assert "too long" in response.json()["message"]
    listing = await env.client.get(f"{API}/artifacts", params={"path": long_name})
    assert error_of(listing) == (400, "INVALID_PARAMETER_VALUE")
    assert "too long" in listing.json()["message"]
    assert env.staged() == []


# -- listing and deleting --------------------------------------------------------------------------
async def test_listing_uses_names_relative_to_the_listed_directory(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/model/MLmodel", content=b"abc")
    await env.client.put(f"{API}/artifacts/{RUN}/model/data/w.bin", content=b"12345")
    await env.client.put(f"{API}/artifacts/{RUN}/top.txt", content=b"1")
    top = await env.client.get(f"{API}/artifacts", params={"path": RUN})
    assert top.json() == {
        "files": [
            {"path": "model", "is_dir": True},
            {"path": "top.txt", "is_dir": False, "file_size": 1},
        ]
    }
    model = await env.client.get(f"{API}/artifacts", params={"path": f"{RUN}/model"})
    assert model.json() == {
        "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 3},
            {"path": "data", "is_dir": True},
        ]
    }
    root = await env.client.get(f"{API}/artifacts")  # the destination's root, staging hidden
    assert root.json() == {"files": [{"path": "1", "is_dir": True}]}
    assert (await env.client.get(f"{API}/artifacts", params={"path": "nope"})).json() == {}
    a_file = await env.client.get(f"{API}/artifacts", params={"path": f"{RUN}/top.txt"})
    assert a_file.json() == {}


async def test_listing_hides_the_staging_area(env: Env) -> None:
    create = await env.client.post(
        f"{API}/mpu/create/{RUN}", json={"path": "/local/big.bin", "num_parts": 1}
    )
    assert create.status_code == 200
    assert env.staging().is_dir()
    root = await env.client.get(f"{API}/artifacts")
    assert root.json() == {}
    meta = f"{_multipart.STAGING_DIR}/mpu-{create.json()['upload_id']}/meta.json"
    for method in ("GET", "PUT", "DELETE"):
        response = await env.client.request(method, f"{API}/artifacts/{meta}", content=b"x")
        assert error_of(response) == (400, "INVALID_PARAMETER_VALUE"), method
    listing = await env.client.get(f"{API}/artifacts", params={"path": _multipart.STAGING_DIR})
    assert error_of(listing) == (400, "INVALID_PARAMETER_VALUE")
    assert (env.dest / meta).is_file()


async def test_delete_file_directory_and_missing(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/keep.txt", content=b"k")
    await env.client.put(f"{API}/artifacts/{RUN}/gone.txt", content=b"g")
    await env.client.put(f"{API}/artifacts/{RUN}/tree/a/b.txt", content=b"b")
    assert (await env.client.delete(f"{API}/artifacts/{RUN}/gone.txt")).json() == {}
    assert (await env.client.delete(f"{API}/artifacts/{RUN}/tree")).json() == {}
    assert (await env.client.delete(f"{API}/artifacts/{RUN}/never-there")).json() == {}
    assert sorted(os.listdir(env.dest / RUN)) == ["keep.txt"]
    refused = await env.client.delete(f"{API}/artifacts/")
    assert error_of(refused) == (400, "INVALID_PARAMETER_VALUE")
    assert (env.dest / RUN / "keep.txt").exists()


async def test_artifact_routes_are_absent_when_not_serving_artifacts(tmp_path: Path) -> None:
    app = make_app(tmp_path, str(tmp_path / "a"), serve_artifacts=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get(f"{API}/artifacts")
    assert error_of(response) == (404, "ENDPOINT_NOT_FOUND")


async def test_presigned_download_on_a_local_destination_is_mlflows_501(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/f.bin", content=b"x")
    response = await env.client.get(f"{API}/presigned/{RUN}/f.bin")
    assert response.status_code == 501
    assert response.json() == {
        "error_code": "NOT_IMPLEMENTED",
        "message": artifacts_api.MULTIPART_DOWNLOAD_UNSUPPORTED,
    }


# -- hostile paths ----------------------------------------------------------------------------
# Each is the raw text after ".../artifacts/" in the request line, as a client may send it.
HOSTILE = [
    "../outside.txt",
    "../../outside.txt",
    "..%2foutside.txt",
    "..%2Foutside.txt",
    "%2e%2e%2foutside.txt",
    "%2e%2e/outside.txt",
    ".%2e/outside.txt",
    "x/../../outside.txt",
    "x/%2e%2e/%2e%2e/outside.txt",
    "%252e%252e%252foutside.txt",
    "..%252foutside.txt",
    "%25252e%25252e/outside.txt",
    "/outside.txt",
    "%2Foutside.txt",
    "%2f%2e%2e/outside.txt",
    "..%5coutside.txt",
    "x%5c..%5c..%5coutside.txt",
    "x%255c..%255coutside.txt",
    "x%00.txt",
    "x%2500.txt",
    "C:%5cWindows",
    "c:/outside.txt",
    "...",
    ". .",
    ".labtrack-tmp-server",
    ".labtrack-tmp-server/mpu-00000000000000000000000000000000/meta.json",
    "%2elabtrack-tmp-server/x",
    ".LABTRACK-TMP-server/x",
    "1/2/.labtrack-tmp-abc",
]


def outside_untouched(env: Env) -> None:
    assert env.outside.read_bytes() == SECRET
    assert files_outside(env) == []


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_hostile_paths_are_refused_everywhere(env: Env, hostile: str) -> None:
    calls: list[tuple[str, str, bytes]] = [
        ("GET", f"{API}/artifacts/{hostile}", b""),
        ("PUT", f"{API}/artifacts/{hostile}", b"pwned"),
        ("DELETE", f"{API}/artifacts/{hostile}", b""),
        ("GET", f"{API}/artifacts?path={hostile}", b""),
        ("GET", f"{AJAX}/artifacts/{hostile}", b""),
        ("GET", f"{API}/presigned/{hostile}", b""),
    ]
    mpu_body = json.dumps({"path": "/l/f.bin", "num_parts": 1, "upload_id": "0" * 32})
    for op in ("create", "complete", "abort"):
        calls.append(("POST", f"{API}/mpu/{op}/{hostile}", mpu_body.encode()))
    for method, target, body in calls:
        response = await raw_call(env.app, method, target, body=body)
        assert response.status == 400, (method, target, response.status, response.body)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", (method, target)
    outside_untouched(env)
    assert [p.name for p in env.dest.iterdir() if p.name != _multipart.STAGING_DIR] == []


@pytest.mark.parametrize(
    "local_file", ["..", "/", "C:\\", ".labtrack-tmp-server", "x/.labtrack-tmp-1", ""]
)
async def test_hostile_multipart_file_names_are_refused(env: Env, local_file: str) -> None:
    response = await env.client.post(
        f"{API}/mpu/create/{RUN}", json={"path": local_file, "num_parts": 1}
    )
    assert error_of(response) == (400, "INVALID_PARAMETER_VALUE")


async def test_multipart_file_name_is_only_the_base_name(env: Env) -> None:
    for local_file in ["../../outside.txt", "C:\\Users\\ana\\..\\outside.txt"]:
        create = await env.client.post(
            f"{API}/mpu/create/{RUN}", json={"path": local_file, "num_parts": 1}
        )
        assert create.status_code == 200, create.text
        upload = create.json()
        part = await env.client.put(upload["credentials"][0]["url"], content=b"inside")
        done = await env.client.post(
            f"{API}/mpu/complete/{RUN}",
            json={
                "path": local_file,
                "upload_id": upload["upload_id"],
                "parts": [{"part_number": 1, "etag": part.headers["etag"]}],
            },
        )
        assert done.status_code == 200, done.text
    assert (env.dest / RUN / "outside.txt").read_bytes() == b"inside"
    outside_untouched(env)


async def test_hostile_part_urls(env: Env) -> None:
    bad_id = await env.client.put(f"{API}/mpu/part/not-an-upload-id/1", content=b"x")
    assert error_of(bad_id) == (400, "INVALID_PARAMETER_VALUE")
    unknown = await env.client.put(f"{API}/mpu/part/{'a' * 32}/1", content=b"x")
    assert error_of(unknown) == (404, "RESOURCE_DOES_NOT_EXIST")
    for target in [f"{API}/mpu/part/..%2f..%2foutside.txt/1", f"{API}/mpu/part/../x/1"]:
        response = await raw_call(env.app, "PUT", target, body=b"pwned")
        # the decoded ``/`` makes the path no upload-part route at all: no handler ever sees it
        assert response.status == 404, target
        assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND", target
    outside_untouched(env)


async def test_symlinks_out_of_the_destination_are_refused(env: Env) -> None:
    outside_dir = env.tmp / "outside_dir"
    outside_dir.mkdir()
    (outside_dir / "secret.txt").write_bytes(SECRET)
    (env.dest / "1").mkdir()
    os.symlink(outside_dir, env.dest / "1" / "linkdir")
    os.symlink(env.outside, env.dest / "1" / "linkfile.txt")
    targets = ["1/linkdir/secret.txt", "1/linkfile.txt", "1/linkdir"]
    for path in targets:
        for method, body in (("GET", b""), ("PUT", b"pwned"), ("DELETE", b"")):
            response = await env.client.request(method, f"{API}/artifacts/{path}", content=body)
            assert error_of(response) == (400, "INVALID_PARAMETER_VALUE"), (method, path)
    new_file = await env.client.put(f"{API}/artifacts/1/linkdir/new.txt", content=b"pwned")
    assert error_of(new_file) == (400, "INVALID_PARAMETER_VALUE")
    listing = await env.client.get(f"{API}/artifacts", params={"path": "1/linkdir"})
    assert error_of(listing) == (400, "INVALID_PARAMETER_VALUE")
    assert (await env.client.get(f"{API}/artifacts", params={"path": "1"})).json() == {}
    create = await env.client.post(
        f"{API}/mpu/create/1/linkdir", json={"path": "big.bin", "num_parts": 1}
    )
    assert error_of(create) == (400, "INVALID_PARAMETER_VALUE")
    assert sorted(os.listdir(outside_dir)) == ["secret.txt"]
    assert (outside_dir / "secret.txt").read_bytes() == SECRET
    assert env.outside.read_bytes() == SECRET


async def test_a_symlinked_staging_area_is_not_used(env: Env) -> None:
    outside_dir = env.tmp / "elsewhere"
    outside_dir.mkdir()
    os.symlink(outside_dir, env.staging())
    response = await env.client.put(f"{API}/artifacts/{RUN}/f.txt", content=b"x")
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert list(outside_dir.iterdir()) == []


# -- interrupted and short uploads -------------------------------------------------------------
def body_then_disconnect(*chunks: bytes) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    return [*messages, {"type": "http.disconnect"}]


async def test_an_interrupted_upload_leaves_nothing_behind(env: Env) -> None:
    target = env.dest / RUN / "model.bin"
    response = await raw_call(
        env.app,
        "PUT",
        f"{API}/artifacts/{RUN}/model.bin",
        headers={"content-length": str(10 * 1024 * 1024)},
        messages=body_then_disconnect(b"a" * 1024 * 1024, b"b" * 2 * 1024 * 1024),
    )
    assert response.status == 400
    assert not target.exists()
    assert env.staged() == []
    assert not (env.dest / RUN).exists()  # not even the parent directories


async def test_an_interrupted_overwrite_keeps_the_old_file(env: Env) -> None:
    await env.client.put(f"{API}/artifacts/{RUN}/model.bin", content=b"old and complete")
    response = await raw_call(
        env.app,
        "PUT",
        f"{API}/artifacts/{RUN}/model.bin",
        messages=body_then_disconnect(b"new but partial"),
    )
    assert response.status == 400
    assert (env.dest / RUN / "model.bin").read_bytes() == b"old and complete"
    assert sorted(os.listdir(env.dest / RUN)) == ["model.bin"]
    assert env.staged() == []


async def test_a_body_shorter_than_its_content_length_is_refused(env: Env) -> None:
    response = await raw_call(
        env.app,
        "PUT",
        f"{API}/artifacts/{RUN}/short.bin",
        headers={"content-length": "100"},
        body=b"only ten b",
    )
    assert response.status == 400
    assert "incomplete" in response.json()["message"]
    assert not (env.dest / RUN / "short.bin").exists()
    assert env.staged() == []


async def test_an_interrupted_part_leaves_nothing_behind(env: Env) -> None:
    create = await env.client.post(
        f"{API}/mpu/create/{RUN}", json={"path": "big.bin", "num_parts": 2}
    )
    upload_id = create.json()["upload_id"]
    response = await raw_call(
        env.app,
        "PUT",
        f"{API}/mpu/part/{upload_id}/1",
        messages=body_then_disconnect(b"p" * 100_000),
    )
    assert response.status == 400
    assert os.listdir(env.staging() / f"mpu-{upload_id}") == ["meta.json"]


# -- multipart uploads --------------------------------------------------------------------------
async def create_upload(env: Env, directory: str, local_file: str, num_parts: int) -> Any:
    response = await env.client.post(
        f"{API}/mpu/create/{directory}", json={"path": local_file, "num_parts": num_parts}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_multipart_round_trip_is_byte_identical(env: Env) -> None:
    chunk = 256 * 1024
    data = os.urandom(chunk * 3 + 1234)
    upload = await create_upload(env, f"{RUN}/large", "/home/ana/data/big.bin", 4)
    assert set(upload) == {"upload_id", "credentials"}
    credentials = upload["credentials"]
    assert [c["part_number"] for c in credentials] == [1, 2, 3, 4]
    assert all(
        c["url"] == f"http://testserver{API}/mpu/part/{upload['upload_id']}/{c['part_number']}"
        for c in credentials
    )
    etags: dict[int, str] = {}
    for credential in reversed(credentials):  # order of arrival does not matter
        n = credential["part_number"]
        body = data[(n - 1) * chunk : n * chunk]
        part = await env.client.put(credential["url"], content=body)
        assert part.status_code == 200
        assert part.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
        etags[n] = part.headers["etag"]
    assert not (env.dest / RUN / "large").exists()  # nothing visible before completion
    done = await env.client.post(
        f"{API}/mpu/complete/{RUN}/large",
        json={
            "path": "/home/ana/data/big.bin",
            "upload_id": upload["upload_id"],
            "parts": [
                {"part_number": c["part_number"], "etag": etags[c["part_number"]], "url": c["url"]}
                for c in credentials
            ],
        },
    )
    assert (done.status_code, done.json()) == (200, {})
    assert (env.dest / RUN / "large" / "big.bin").read_bytes() == data
    assert os.listdir(env.dest / RUN / "large") == ["big.bin"]
    assert env.staged() == []
    again = await env.client.post(
        f"{API}/mpu/complete/{RUN}/large",
        json={"path": "big.bin", "upload_id": upload["upload_id"], "parts": []},
    )
    assert error_of(again) == (404, "RESOURCE_DOES_NOT_EXIST")


async def test_multipart_into_the_destination_root_and_with_zero_parts(env: Env) -> None:
    upload = await create_upload(env, "", "empty.bin", 0)
    assert upload["credentials"] == []
    done = await env.client.post(
        f"{API}/mpu/complete/",
        json={"path": "empty.bin", "upload_id": upload["upload_id"], "parts": []},
    )
    assert done.status_code == 200, done.text
    assert (env.dest / "empty.bin").read_bytes() == b""


async def test_multipart_abort_cleans_up_and_is_idempotent(env: Env) -> None:
    upload = await create_upload(env, RUN, "big.bin", 2)
    await env.client.put(upload["credentials"][0]["url"], content=b"part one")
    assert env.staged() == [f"mpu-{upload['upload_id']}"]
    body = {"path": "big.bin", "upload_id": upload["upload_id"]}
    assert (await env.client.post(f"{API}/mpu/abort/{RUN}", json=body)).json() == {}
    assert env.staged() == []
    assert not (env.dest / RUN / "big.bin").exists()
    late_part = await env.client.put(upload["credentials"][1]["url"], content=b"part two")
    assert error_of(late_part) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert (await env.client.post(f"{API}/mpu/abort/{RUN}", json=body)).json() == {}
    assert env.staged() == []


async def test_multipart_complete_checks_parts_and_etags(env: Env) -> None:
    upload = await create_upload(env, RUN, "big.bin", 2)
    upload_id = upload["upload_id"]
    one = await env.client.put(upload["credentials"][0]["url"], content=b"one")
    two = await env.client.put(upload["credentials"][1]["url"], content=b"two")
    e1, e2 = one.headers["etag"], two.headers["etag"]

    async def complete(parts: list[Any], path: str = "big.bin") -> httpx.Response:
        body = {"path": path, "upload_id": upload_id, "parts": parts}
        return await env.client.post(f"{API}/mpu/complete/{RUN}", json=body)

    bad: list[list[Any]] = [
        [{"part_number": 1, "etag": e1}],  # a part missing
        [{"part_number": 2, "etag": e2}, {"part_number": 1, "etag": e1}],  # out of order
        [{"part_number": 1, "etag": e1}, {"part_number": 2, "etag": e1}],  # wrong etag
        [{"part_number": 1, "etag": e1}, {"part_number": 2, "etag": "../../x"}],
        [{"part_number": 1, "etag": e1}, {"part_number": 2}],
        [{"part_number": "x", "etag": e1}],
        ["not an object"],
    ]
    for parts in bad:
        assert error_of(await complete(parts)) == (400, "INVALID_PARAMETER_VALUE"), parts
    good = [{"part_number": 1, "etag": e1}, {"part_number": 2, "etag": e2.strip('"')}]
    wrong_target = await complete(good, path="other.bin")
    assert error_of(wrong_target) == (400, "INVALID_PARAMETER_VALUE")
    assert env.staged() == [f"mpu-{upload_id}"]  # still there: failures keep the upload
    assert (await complete(good)).status_code == 200
    assert (env.dest / RUN / "big.bin").read_bytes() == b"onetwo"


async def test_a_reuploaded_part_uses_the_etag_the_client_completes_with(env: Env) -> None:
    upload = await create_upload(env, RUN, "big.bin", 1)
    url = upload["credentials"][0]["url"]
    await env.client.put(url, content=b"first try")
    second = await env.client.put(url, content=b"second try")
    body = {
        "path": "big.bin",
        "upload_id": upload["upload_id"],
        "parts": [{"part_number": 1, "etag": second.headers["etag"]}],
    }
    assert (await env.client.post(f"{API}/mpu/complete/{RUN}", json=body)).status_code == 200
    assert (env.dest / RUN / "big.bin").read_bytes() == b"second try"
    assert env.staged() == []


async def test_multipart_request_validation(env: Env) -> None:
    missing_path = await env.client.post(f"{API}/mpu/create/{RUN}", json={"num_parts": 1})
    assert error_of(missing_path) == (400, "INVALID_PARAMETER_VALUE")
    assert "'path'" in missing_path.json()["message"]
    for num_parts in (-1, 10_001, "many", True):
        response = await env.client.post(
            f"{API}/mpu/create/{RUN}", json={"path": "f", "num_parts": num_parts}
        )
        assert error_of(response) == (400, "INVALID_PARAMETER_VALUE"), num_parts
    as_string = await env.client.post(
        f"{API}/mpu/create/{RUN}", json={"path": "f", "num_parts": "2"}
    )
    assert len(as_string.json()["credentials"]) == 2
    not_json = await env.client.post(f"{API}/mpu/create/{RUN}", content=b"{nope")
    assert error_of(not_json) == (400, "BAD_REQUEST")
    upload = await create_upload(env, RUN, "f", 2)
    for part_number in ("0", "3", "x", "-1"):
        response = await env.client.put(
            f"{API}/mpu/part/{upload['upload_id']}/{part_number}", content=b"x"
        )
        assert error_of(response) == (400, "INVALID_PARAMETER_VALUE"), part_number
    no_id = await env.client.post(f"{API}/mpu/complete/{RUN}", json={"path": "f", "parts": []})
    assert error_of(no_id) == (400, "INVALID_PARAMETER_VALUE")
    bad_id = await env.client.post(
        f"{API}/mpu/abort/{RUN}", json={"path": "f", "upload_id": "../../etc"}
    )
    assert error_of(bad_id) == (400, "INVALID_PARAMETER_VALUE")
    await env.client.put(f"{API}/artifacts/{RUN}/d/f.txt", content=b"x")
    onto_dir = await env.client.post(f"{API}/mpu/create/{RUN}", json={"path": "d", "num_parts": 1})
    assert error_of(onto_dir) == (400, "INVALID_PARAMETER_VALUE")


async def test_a_symlink_planted_before_complete_is_refused(env: Env) -> None:
    upload = await create_upload(env, f"{RUN}/d", "big.bin", 1)
    part = await env.client.put(upload["credentials"][0]["url"], content=b"pwned")
    outside_dir = env.tmp / "outside_dir"
    outside_dir.mkdir()
    (env.dest / RUN).mkdir(parents=True)
    os.symlink(outside_dir, env.dest / RUN / "d")
    done = await env.client.post(
        f"{API}/mpu/complete/{RUN}/d",
        json={
            "path": "big.bin",
            "upload_id": upload["upload_id"],
            "parts": [{"part_number": 1, "etag": part.headers["etag"]}],
        },
    )
    assert error_of(done) == (400, "INVALID_PARAMETER_VALUE")
    assert list(outside_dir.iterdir()) == []


async def test_abandoned_uploads_are_swept(env: Env) -> None:
    upload = await create_upload(env, RUN, "old.bin", 1)
    await env.client.put(upload["credentials"][0]["url"], content=b"x")
    old = time.time() - _multipart.STALE_UPLOAD_SECONDS - 60
    staged = env.staging() / f"mpu-{upload['upload_id']}"
    for path in [*staged.iterdir(), staged]:
        os.utime(path, (old, old))
    fresh = await create_upload(env, RUN, "new.bin", 1)
    assert env.staged() == sorted([staged.name, f"mpu-{fresh['upload_id']}"])  # swept hourly
    other = make_app(env.tmp, str(env.dest))  # a new worker process sweeps on first use
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other), base_url="http://testserver"
    ) as client:
        await client.post(f"{API}/mpu/create/{RUN}", json={"path": "x", "num_parts": 1})
    assert staged.name not in env.staged()
    assert f"mpu-{fresh['upload_id']}" in env.staged()


# -- a destination that is not a local directory ------------------------------------------------
class FakeObjectStore(ArtifactRepository):
    """An in-memory object store; optional multipart and presigning features per class."""

    objects: dict[str, bytes] = {}
    calls: list[tuple[Any, ...]] = []

    def _stat(self, path: str) -> FileInfo | None:
        if path in self.objects:
            return FileInfo(path, False, len(self.objects[path]))
        if any(k.startswith(path + "/") for k in self.objects):
            return FileInfo(path, True, None)
        return None

    def _list_dir(self, path: str) -> list[FileInfo]:
        prefix = f"{path}/" if path else ""
        children: dict[str, FileInfo] = {}
        for key, value in self.objects.items():
            if key.startswith(prefix):
                name, _, rest = key[len(prefix) :].partition("/")
                child = prefix + name
                children[child] = FileInfo(child, bool(rest), None if rest else len(value))
        return list(children.values())

    def _open_read(self, path: str) -> BinaryIO:
        if path not in self.objects:
            if self._stat(path) is not None:
                raise InvalidParameterValue(f"{path} is a directory")
            raise ResourceDoesNotExist(f"{path} does not exist")
        return _Unseekable(self.objects[path])

    def _put_file(self, local_file: str, path: str) -> None:
        self.objects[path] = Path(local_file).read_bytes()

    def _put_bytes(self, data: bytes, path: str) -> None:
        self.objects[path] = data

    def _delete(self, path: str) -> None:
        for key in list(self.objects):
            if key == path or key.startswith(path + "/"):
                del self.objects[key]


class FakeObjectStoreWithMultipart(FakeObjectStore):
    def multipart_upload_create(self, path: str, num_parts: int) -> tuple[str, list[str]]:
        self.calls.append(("create", path, num_parts))
        return "s3-upload-1", [f"https://bucket.example/{path}?part={n}" for n in range(1, 3)]

    def multipart_upload_complete(
        self, path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        self.calls.append(("complete", path, upload_id, parts))

    def multipart_upload_abort(self, path: str, upload_id: str) -> None:
        self.calls.append(("abort", path, upload_id))

    def presigned_download_url(self, path: str, expires_in: int) -> str:
        return f"https://bucket.example/{path}?expires={expires_in}"


class _Unseekable(io.BytesIO):
    def seekable(self) -> bool:
        return False


@pytest.fixture
async def store_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[httpx.AsyncClient, type[FakeObjectStore]]]:
    cls: type[FakeObjectStore] = getattr(request, "param", FakeObjectStore)
    monkeypatch.setattr(cls, "objects", {})
    monkeypatch.setattr(cls, "calls", [])
    monkeypatch.setitem(artifacts_pkg._REPOSITORIES, "fakestore", f"{__name__}:{cls.__name__}")
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(system_tmp))
    app = make_app(tmp_path, "fakestore://bucket/prefix")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client, cls
    assert list(system_tmp.iterdir()) == []  # every upload's temp file was removed


async def test_object_store_upload_download_list_delete(
    store_env: tuple[httpx.AsyncClient, type[FakeObjectStore]],
) -> None:
    client, store = store_env
    data = os.urandom(3 * 1024 * 1024)
    assert (await client.put(f"{API}/artifacts/{RUN}/m/w.bin", content=data)).json() == {}
    assert store.objects == {f"{RUN}/m/w.bin": data}
    got = await client.get(f"{API}/artifacts/{RUN}/m/w.bin", headers={"Range": "bytes=0-1"})
    assert (got.status_code, got.content) == (200, data)  # not seekable: ranges ignored
    assert "accept-ranges" not in got.headers
    listing = await client.get(f"{API}/artifacts", params={"path": f"{RUN}/m"})
    assert listing.json() == {"files": [{"path": "w.bin", "is_dir": False, "file_size": len(data)}]}
    assert (await client.delete(f"{API}/artifacts/{RUN}/m")).json() == {}
    assert store.objects == {}
    interrupted = await client.put(f"{API}/artifacts/{RUN}/x", headers={"content-length": "9"})
    assert interrupted.status_code == 400
    assert store.objects == {}


async def test_object_store_without_multipart_answers_mlflows_not_supported(
    store_env: tuple[httpx.AsyncClient, type[FakeObjectStore]],
) -> None:
    client, _ = store_env
    body = {"path": "big.bin", "num_parts": 2, "upload_id": "u", "parts": []}
    for op in ("create", "complete", "abort"):
        response = await client.post(f"{API}/mpu/{op}/{RUN}", json=body)
        assert response.status_code == 501
        # MLflow's client falls back to a plain PUT when the message starts like this.
        assert response.json()["message"].startswith(artifacts_api.MULTIPART_UPLOAD_UNSUPPORTED)
    assert (await client.get(f"{API}/presigned/{RUN}/x")).status_code == 501


@pytest.mark.parametrize("store_env", [FakeObjectStoreWithMultipart], indirect=True)
async def test_object_store_multipart_and_presigned_delegate_to_the_repository(
    store_env: tuple[httpx.AsyncClient, type[FakeObjectStore]],
) -> None:
    client, store = store_env
    create = await client.post(f"{API}/mpu/create/{RUN}", json={"path": "/l/b.bin", "num_parts": 2})
    assert create.json() == {
        "upload_id": "s3-upload-1",
        "credentials": [
            {"url": f"https://bucket.example/{RUN}/b.bin?part=1", "part_number": 1},
            {"url": f"https://bucket.example/{RUN}/b.bin?part=2", "part_number": 2},
        ],
    }
    parts = [{"part_number": 1, "etag": '"e1"', "url": "u1"}, {"part_number": 2, "etag": '"e2"'}]
    body = {"path": "/l/b.bin", "upload_id": "s3-upload-1", "parts": parts}
    assert (await client.post(f"{API}/mpu/complete/{RUN}", json=body)).json() == {}
    assert (await client.post(f"{API}/mpu/abort/{RUN}", json=body)).json() == {}
    assert store.calls == [
        ("create", f"{RUN}/b.bin", 2),
        ("complete", f"{RUN}/b.bin", "s3-upload-1", [(1, '"e1"'), (2, '"e2"')]),
        ("abort", f"{RUN}/b.bin", "s3-upload-1"),
    ]
    store.objects[f"{RUN}/f.bin"] = b"12345"
    presigned = await client.get(f"{API}/presigned/{RUN}/f.bin")
    assert presigned.json() == {
        "url": f"https://bucket.example/{RUN}/f.bin?expires={artifacts_api.PRESIGNED_URL_SECONDS}",
        "headers": {},
        "file_size": 5,
    }
    assert error_of(await client.get(f"{API}/presigned/{RUN}/nope")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    part_url = await client.put(f"{API}/mpu/part/{'a' * 32}/1", content=b"x")
    assert part_url.status_code == 501


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Any, str, Any]]:
    for name in list(os.environ):
        if name.startswith(("AWS_", "LABTRACK_S3_", "MLFLOW_S3_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LABTRACK_S3_ENDPOINT_URL", moto_endpoint)
    from labtrack.artifacts import s3

    bucket = f"labtrack-{os.urandom(6).hex()}"
    client = s3.get_s3_client()
    client.create_bucket(Bucket=bucket)
    app = make_app(tmp_path, f"s3://{bucket}/dest")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http, client, bucket, app


async def test_s3_destination_end_to_end(
    s3_env: tuple[httpx.AsyncClient, Any, str, Any],
) -> None:
    http, s3_client, bucket, app = s3_env
    data = os.urandom(2 * 1024 * 1024 + 3)
    assert (await http.put(f"{API}/artifacts/{RUN}/m/w.bin", content=data)).json() == {}
    stored = s3_client.get_object(Bucket=bucket, Key=f"dest/{RUN}/m/w.bin")["Body"].read()
    assert stored == data
    got = await http.get(f"{API}/artifacts/{RUN}/m/w.bin")
    assert (got.status_code, got.content) == (200, data)
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["x-content-type-options"] == "nosniff"
    listing = await http.get(f"{API}/artifacts", params={"path": f"{RUN}/m"})
    assert listing.json() == {"files": [{"path": "w.bin", "is_dir": False, "file_size": len(data)}]}
    presigned = await http.get(f"{API}/presigned/{RUN}/m/w.bin")
    assert presigned.status_code == 200
    body = presigned.json()
    assert body["file_size"] == len(data)
    assert body["headers"] == {}
    async with httpx.AsyncClient() as direct:
        assert (await direct.get(body["url"])).content == data
    assert error_of(await http.get(f"{API}/artifacts/{RUN}/missing")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error_of(await http.get(f"{API}/artifacts/{RUN}/m")) == (400, "INVALID_PARAMETER_VALUE")
    create = await http.post(f"{API}/mpu/create/{RUN}", json={"path": "big.bin", "num_parts": 2})
    assert create.status_code == 501
    assert create.json()["message"] == artifacts_api.MULTIPART_UPLOAD_UNSUPPORTED
    for hostile in ("..%2f..%2fother", "%2e%2e/x", ".labtrack-tmp-server/x"):
        response = await raw_call(app, "PUT", f"{API}/artifacts/{hostile}", body=b"x")
        assert response.status == 400
    assert (await http.delete(f"{API}/artifacts/{RUN}/m")).json() == {}
    assert s3_client.list_objects_v2(Bucket=bucket).get("Contents", []) == []


# -- a real server process ---------------------------------------------------------------------
@dataclass
class Live:
    url: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    dest: Path
    log: Path

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LABTRACK_", "MLFLOW_"))}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp / 'db.db'}",
        artifacts_destination=str(tmp / "artifacts"),
    )
    port = _free_port()
    log = tmp / "server.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "labtrack.server.app:app_from_environment",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            env={**_clean_environ(), **config.to_environ()},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text())
            time.sleep(0.05)
        yield Live(url, "127.0.0.1", port, proc, tmp / "artifacts", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


def _raw_http(live: Live, method: str, target: str, body: bytes = b"") -> tuple[int, Any]:
    connection = http.client.HTTPConnection(live.host, live.port, timeout=30)
    try:
        connection.request(method, target, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_live_server_refuses_raw_traversal(live: Live, tmp_path: Path) -> None:
    victim = live.dest.parent / "victim.txt"
    victim.write_bytes(SECRET)
    for target in [
        f"{API}/artifacts/../victim.txt",
        f"{API}/artifacts/..%2fvictim.txt",
        f"{API}/artifacts/%2e%2e/victim.txt",
        f"{API}/artifacts/%252e%252e%252fvictim.txt",
        f"{API}/artifacts?path=..%2f..",
    ]:
        for method in ("GET", "PUT", "DELETE"):
            if "?" in target and method != "GET":
                continue
            status, body = _raw_http(live, method, target, b"pwned" if method == "PUT" else b"")
            assert status == 400, (method, target, status, body)
            assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert victim.read_bytes() == SECRET


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_live_server_streams_large_uploads_and_downloads(live: Live, tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    url = f"{live.url}{API}/artifacts/9/streaming/artifacts/big.bin"
    with httpx.Client(timeout=120) as client:
        client.put(url, content=b"warm up").raise_for_status()
        client.get(url).raise_for_status()
        before = live.peak_rss_kib()

        def body() -> Iterator[bytes]:
            for _ in range(size // len(block)):
                yield block

        client.put(url, content=body(), headers={"content-length": str(size)}).raise_for_status()
        digest = hashlib.sha256()
        received = 0
        with client.stream("GET", url) as response:
            assert response.headers["content-length"] == str(size)
            for chunk in response.iter_bytes():
                digest.update(chunk)
                received += len(chunk)
        after = live.peak_rss_kib()
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(block * (size // len(block))).hexdigest()
    grown_mib = (after - before) / 1024
    assert grown_mib < 24, f"server peak RSS grew by {grown_mib:.1f} MiB for a 64 MiB file"


_MLFLOW_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import mlflow
    from mlflow import MlflowClient

    src, big, out_dir = sys.argv[1:4]
    result = {}
    with mlflow.start_run() as run:
        mlflow.log_artifact(os.path.join(src, "hello.txt"))
        mlflow.log_artifacts(src, artifact_path="tree")
        mlflow.log_artifact(big, artifact_path="large")
    run_id = run.info.run_id
    result["run_id"] = run_id
    result["experiment_id"] = run.info.experiment_id
    result["artifact_uri"] = run.info.artifact_uri
    client = MlflowClient()
    listed = client.list_artifacts(run_id)
    result["root"] = [[f.path, f.is_dir, f.file_size] for f in listed]
    listed = mlflow.artifacts.list_artifacts(artifact_uri=run.info.artifact_uri + "/tree")
    result["tree"] = [[f.path, f.is_dir, f.file_size] for f in listed]
    try:
        listed = client.list_artifacts(run_id, "tree/sub")
        result["client_tree_sub"] = [[f.path, f.is_dir, f.file_size] for f in listed]
    except Exception as exc:
        result["client_tree_sub"] = f"{type(exc).__name__}: {exc}"
    result["big"] = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="large/big.bin", dst_path=os.path.join(out_dir, "a")
    )
    result["tree_dir"] = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="tree", dst_path=os.path.join(out_dir, "b")
    )
    print("RESULT " + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def mlflow_session(live: Live, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """MLflow's own client logging, listing and downloading through the live server."""
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("the mlflow client (pip install mlflow-skinny) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow_client")
    src = tmp / "src"
    (src / "sub").mkdir(parents=True)
    (src / "hello.txt").write_text("hello\n")
    (src / "sub" / "data.bin").write_bytes(os.urandom(4096))
    (src / "sub" / "empty.txt").write_bytes(b"")
    big = tmp / "big.bin"
    big.write_bytes(os.urandom(30 * 1024 * 1024))
    script = tmp / "client.py"
    script.write_text(_MLFLOW_SCRIPT)
    env = {
        **_clean_environ(),
        "HOME": str(tmp),
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(4 * 1024 * 1024),
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(1024 * 1024),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, str(script), str(src), str(big), str(tmp / "out")],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0, (
        f"mlflow client failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}\n"
        f"server log:\n{live.log.read_text()[-3000:]}"
    )
    assert lines, done.stdout[-3000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["src"], result["big_source"] = str(src), str(big)
    return result


def test_real_mlflow_client_round_trip(live: Live, mlflow_session: dict[str, Any]) -> None:
    r = mlflow_session
    assert r["artifact_uri"] == f"mlflow-artifacts:/{r['experiment_id']}/{r['run_id']}/artifacts"
    stored = live.dest / r["experiment_id"] / r["run_id"] / "artifacts"
    big = Path(r["big_source"]).read_bytes()
    assert (stored / "large" / "big.bin").read_bytes() == big
    assert Path(r["big"]).read_bytes() == big
    assert r["root"] == [["hello.txt", False, 6], ["large", True, None], ["tree", True, None]]
    assert r["tree"] == [
        ["tree/hello.txt", False, 6],
        ["tree/sub", True, None],
    ]
    assert r["client_tree_sub"] == [  # MlflowClient().list_artifacts(run_id, "tree/sub")
        ["tree/sub/data.bin", False, 4096],
        ["tree/sub/empty.txt", False, 0],
    ]
    downloaded = Path(r["tree_dir"])
    assert (downloaded / "hello.txt").read_text() == "hello\n"
    assert (downloaded / "sub" / "data.bin").read_bytes() == (
        Path(r["src"]) / "sub" / "data.bin"
    ).read_bytes()
    assert (downloaded / "sub" / "empty.txt").read_bytes() == b""
    log = live.log.read_text()
    assert log.count(f"PUT {API}/mpu/part/") >= 8  # 30 MiB in 4 MiB parts: multipart was used
    assert f"POST {API}/mpu/complete/" in log
    assert "mpu-" not in "".join(os.listdir(live.dest / _multipart.STAGING_DIR))
