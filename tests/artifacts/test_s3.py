"""S3ArtifactRepository against a real S3-compatible HTTP endpoint (moto's server mode).

One moto server per test session (per xdist worker), bound to 127.0.0.1 on a
free port; every test gets a bucket of its own (the fixtures are in conftest.py).
What every kind of repository does is tested in test_repository_contract.py; this
file tests what only S3 does.
"""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from labtrack.artifacts import get_artifact_repository
from labtrack.entities import FileInfo
from labtrack.errors import (
    ConfigurationError,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    PermissionDenied,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
)

from ._support import S3_PREFIX as PREFIX
from ._support import clean_aws_env
from ._support import read as _read
from .test_paths import HOSTILE

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

import labtrack.artifacts.s3 as s3mod  # noqa: E402 - needs boto3, checked just above
from labtrack.artifacts.s3 import S3ArtifactRepository, S3Settings, parse_s3_uri  # noqa: E402

MiB = 1024 * 1024


# -- the server and the environment --------------------------------------------------


def _keys(client: Any, bucket: str) -> list[str]:
    paginator = client.get_paginator("list_objects_v2")
    return sorted(
        obj["Key"] for page in paginator.paginate(Bucket=bucket) for obj in page.get("Contents", ())
    )


def _put_many(client: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(10) as pool:  # botocore's pool holds 10 connections
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"k"), keys))


@contextmanager
def _calls(client: Any) -> Iterator[list[str]]:
    """Names of the S3 operations ``client`` performs inside the block."""
    seen: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        seen.append(model.name)

    client.meta.events.register("before-call.s3", record)
    try:
        yield seen
    finally:
        client.meta.events.unregister("before-call.s3", record)


def _assert_one_line(err: LabtrackError) -> None:
    """A clean message, without a botocore exception chained to it."""
    assert "\n" not in err.message
    assert "Traceback" not in err.message
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


# -- URIs and dispatch ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b", ("bucket", "a/b")),
        ("s3://bucket/a/b/", ("bucket", "a/b")),
        ("s3://bucket//a//./b/", ("bucket", "a/b")),
        ("S3://my.bucket-1/x", ("my.bucket-1", "x")),
        ("s3://bucket/with space/100%25", ("bucket", "with space/100%25")),
    ],
)
def test_parse_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3:/bucket/x", "expected s3://"),
        ("gs://bucket/x", "Not an S3"),
        ("s3://bu cket/x", "not a valid bucket"),
        ("s3://bucket:9000/x", "not a valid bucket"),
        ("s3://bucket/a/../../x", "'..'"),
        ("s3://bucket/a\\b", "backslash"),
    ],
)
def test_parse_uri_refuses(uri: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        parse_s3_uri(uri)
    with pytest.raises(InvalidParameterValue, match=message):
        S3ArtifactRepository(uri)


def test_credentials_in_uri_are_refused_and_not_echoed() -> None:
    with pytest.raises(InvalidParameterValue, match="AWS_ACCESS_KEY_ID") as info:
        S3ArtifactRepository("s3://AKIAXXX:sup3rsecret@bucket/x")
    assert "sup3rsecret" not in info.value.message


def test_get_artifact_repository_dispatches_s3() -> None:
    repo = get_artifact_repository("s3://bucket/some/prefix")
    assert isinstance(repo, S3ArtifactRepository)
    assert (repo.bucket, repo.prefix) == ("bucket", "some/prefix")
    assert repo.artifact_uri == "s3://bucket/some/prefix"
    assert isinstance(get_artifact_repository("S3://bucket"), S3ArtifactRepository)
    with pytest.raises(InvalidParameterValue, match="no bucket"):
        get_artifact_repository("s3://")


def test_without_boto3_the_error_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "from labtrack.artifacts import get_artifact_repository\n"
        "from labtrack.errors import ConfigurationError\n"
        "try:\n"
        "    get_artifact_repository('s3://bucket/x')\n"
        "except ConfigurationError as exc:\n"
        "    print(exc.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "need boto3" in out
    assert "pip install 'labtrack[s3]'" in out


@pytest.mark.parametrize(
    ("uri", "key"),
    [("s3://{b}", "d/f.txt"), ("s3://{b}/", "d/f.txt"), ("s3://{b}//p//q/", "p/q/d/f.txt")],
)
def test_object_keys_have_no_empty_segments(client: Any, bucket: str, uri: str, key: str) -> None:
    repo = S3ArtifactRepository(uri.format(b=bucket))
    repo.log_bytes(b"x", "d//f.txt")
    assert _keys(client, bucket) == [key]
    assert repo.list_artifacts() == [FileInfo("d", True)]
    assert repo.list_artifacts("d/") == [FileInfo("d/f.txt", False, 1)]


# -- hostile paths --------------------------------------------------------------------


def _payload(tmp_path: Path) -> Path:
    f = tmp_path / "payload" / "payload.txt"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(b"PWNED")
    return f


S3_OPERATIONS: dict[str, Callable[[S3ArtifactRepository, str, Path], object]] = {
    "list": lambda r, p, t: r.list_artifacts(p),
    "get_file_info": lambda r, p, t: r.get_file_info(p),
    "download": lambda r, p, t: r.download_artifacts(p, t / "dl"),
    "open": lambda r, p, t: r.open(p).read(),
    "open_sized": lambda r, p, t: r.open_sized(p),
    "file_size": lambda r, p, t: r.file_size(p),
    "delete": lambda r, p, t: r.delete_artifacts(p),
    "log_bytes": lambda r, p, t: r.log_bytes(b"PWNED", p),
    "log_artifact": lambda r, p, t: r.log_artifact(_payload(t), p),
    "log_artifacts": lambda r, p, t: r.log_artifacts(_payload(t).parent, p),
    "presigned_download_url": lambda r, p, t: r.presigned_download_url(p),
    "presigned_upload_url": lambda r, p, t: r.presigned_upload_url(p),
}


@pytest.mark.parametrize("operation", sorted(S3_OPERATIONS))
@pytest.mark.parametrize("path", [pytest.param(p, id=repr(p)) for p in HOSTILE])
def test_hostile_path_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operation: str, path: str
) -> None:
    def no_client(*args: object) -> None:
        raise AssertionError("an S3 client was requested for a hostile path")

    monkeypatch.setattr(s3mod, "get_s3_client", no_client)
    repo = S3ArtifactRepository("s3://bucket/exp/run/artifacts")
    with pytest.raises(InvalidParameterValue, match=r"^Invalid artifact path '"):
        S3_OPERATIONS[operation](repo, path, tmp_path)
    assert not (tmp_path / "dl").exists()


def test_hostile_paths_leave_the_bucket_untouched(
    client: Any, bucket: str, s3_repo: S3ArtifactRepository, tmp_path: Path
) -> None:
    s3_repo.log_bytes(b"fine", "ok.txt")
    client.put_object(Bucket=bucket, Key="secret.txt", Body=b"TOP SECRET")
    client.put_object(Bucket=bucket, Key="exp/1/other-run/x.txt", Body=b"other")
    before = _keys(client, bucket)
    for path in ["../../../../secret.txt", "../../other-run", "%2e%2e/%2e%2e", "/secret.txt"]:
        for operation in S3_OPERATIONS.values():
            with pytest.raises(InvalidParameterValue, match=r"^Invalid artifact path '"):
                operation(s3_repo, path, tmp_path)
    assert _keys(client, bucket) == before


def test_key_too_long_is_refused_before_any_request(s3_repo: S3ArtifactRepository) -> None:
    with pytest.raises(InvalidParameterValue, match="too long for S3"):
        s3_repo.log_bytes(b"x", "d/" + "é" * 600)


# -- S3 specifics: listing and deleting many keys --------------------------------------


def test_listing_pages_through_more_than_1000_keys(
    client: Any, bucket: str, s3_repo: S3ArtifactRepository
) -> None:
    names = [f"many/f{i:04d}" for i in range(1100)] + [f"many/d{i}/x" for i in range(5)]
    _put_many(client, bucket, [f"{PREFIX}/{n}" for n in names])
    with _calls(client) as calls:
        listing = s3_repo.list_artifacts("many")
    assert calls.count("ListObjectsV2") == 2
    assert len(listing) == 1105
    assert listing[:5] == [FileInfo(f"many/d{i}", True) for i in range(5)]
    assert listing[5:] == [FileInfo(f"many/f{i:04d}", False, 1) for i in range(1100)]


def test_listing_page_size_is_injectable(s3_repo: S3ArtifactRepository, client: Any) -> None:
    for i in range(23):
        s3_repo.log_bytes(b"x" * i, f"p/{i:02d}.txt")
    for i in range(4):
        s3_repo.log_bytes(b"x", f"p/dir{i}/x.txt")
    s3_repo.list_page_size = 5
    with _calls(client) as calls:
        listing = s3_repo.list_artifacts("p")
    assert calls.count("ListObjectsV2") == 6  # 27 entries, 5 a page
    assert listing == [FileInfo(f"p/{i:02d}.txt", False, i) for i in range(23)] + [
        FileInfo(f"p/dir{i}", True) for i in range(4)
    ]


def test_delete_prefix_with_more_than_1000_keys(
    client: Any, bucket: str, s3_repo: S3ArtifactRepository
) -> None:
    keys = [f"{PREFIX}/big/{i:04d}" for i in range(1203)]
    _put_many(client, bucket, [*keys, f"{PREFIX}/big.txt", f"{PREFIX}/keep/x", "elsewhere/y"])
    with _calls(client) as calls:
        s3_repo.delete_artifacts("big")
    assert calls.count("DeleteObjects") == 2
    assert _keys(client, bucket) == ["elsewhere/y", f"{PREFIX}/big.txt", f"{PREFIX}/keep/x"]


def test_delete_batches_are_injectable(
    client: Any, bucket: str, s3_repo: S3ArtifactRepository
) -> None:
    _put_many(client, bucket, [f"{PREFIX}/d/{i:02d}" for i in range(25)] + ["other/z"])
    s3_repo.delete_batch_size = 10
    s3_repo.list_page_size = 7
    with _calls(client) as calls:
        s3_repo.delete_artifacts()
    assert calls.count("DeleteObjects") == 3
    assert _keys(client, bucket) == ["other/z"]  # only this root's keys


def test_delete_everything_at_bucket_root(client: Any, bucket: str) -> None:
    repo = S3ArtifactRepository(f"s3://{bucket}")
    _put_many(client, bucket, ["a", "b/c", "d/e/f"])
    repo.delete_artifacts("")
    assert _keys(client, bucket) == []


def test_delete_failures_are_reported(
    s3_repo: S3ArtifactRepository, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_repo.log_bytes(b"x", "d/f.txt")

    def refuse(**kwargs: Any) -> dict[str, Any]:
        return {
            "Errors": [
                {"Key": o["Key"], "Code": "AccessDenied", "Message": "Access Denied"}
                for o in kwargs["Delete"]["Objects"]
            ]
        }

    monkeypatch.setattr(client, "delete_objects", refuse)
    with pytest.raises(PermissionDenied, match=r"2 of 2 objects not deleted") as info:
        s3_repo.delete_artifacts("d")
    assert "\n" not in info.value.message


# -- S3 specifics: layout quirks -----------------------------------------------------


def test_directory_marker_objects(client: Any, bucket: str, s3_repo: S3ArtifactRepository) -> None:
    # Consoles and some tools store "folders" as empty objects whose key ends in "/".
    _put_many(client, bucket, [f"{PREFIX}/empty/", f"{PREFIX}/full/", f"{PREFIX}/full/f.txt"])
    assert s3_repo.list_artifacts() == [FileInfo("empty", True), FileInfo("full", True)]
    assert s3_repo.list_artifacts("empty") == []
    assert s3_repo.list_artifacts("full") == [FileInfo("full/f.txt", False, 1)]
    assert s3_repo.get_file_info("empty") == FileInfo("empty", True)
    with pytest.raises(InvalidParameterValue, match="directory"):
        s3_repo.open("empty")


def test_keys_with_empty_segments_are_skipped(
    client: Any, bucket: str, s3_repo: S3ArtifactRepository, caplog: pytest.LogCaptureFixture
) -> None:
    _put_many(client, bucket, [f"{PREFIX}/a//b", f"{PREFIX}/a/ok", f"{PREFIX}/a/../x"])
    assert s3_repo.list_artifacts("a") == [FileInfo("a/ok", False, 1)]  # ".." left out too


def test_object_shadowing_a_prefix_reads_as_a_file(s3_repo: S3ArtifactRepository) -> None:
    # Possible in S3 (never locally): an object "x" and objects under "x/".
    s3_repo.log_bytes(b"file", "x")
    s3_repo.log_bytes(b"below", "x/y")
    assert s3_repo.list_artifacts() == [FileInfo("x", False, 4)]
    assert s3_repo.get_file_info("x") == FileInfo("x", False, 4)
    assert s3_repo.list_artifacts("x") == [FileInfo("x/y", False, 5)]
    s3_repo.delete_artifacts("x")
    assert s3_repo.list_artifacts() == []


def test_roots_do_not_see_each_other(client: Any, bucket: str) -> None:
    run1 = S3ArtifactRepository(f"s3://{bucket}/exp/run1")
    run10 = S3ArtifactRepository(f"s3://{bucket}/exp/run10")
    run1.log_bytes(b"1", "f.txt")
    run10.log_bytes(b"10", "f.txt")
    assert run1.list_artifacts() == [FileInfo("f.txt", False, 1)]
    run1.delete_artifacts()
    assert _keys(client, bucket) == ["exp/run10/f.txt"]


# -- S3 specifics: transfers and streaming ---------------------------------------------


def test_big_file_uses_multipart_both_ways(
    tmp_path: Path, client: Any, bucket: str, s3_repo: S3ArtifactRepository
) -> None:
    s3_repo.transfer_config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * MiB))
    with _calls(client) as calls:
        s3_repo.log_artifact(big, "m")
    assert calls.count("UploadPart") == 3
    head = client.head_object(Bucket=bucket, Key=f"{PREFIX}/m/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload's ETag
    with _calls(client) as calls:
        local = s3_repo.download_artifacts("m", tmp_path / "dl")
    assert calls.count("GetObject") == 3  # ranged, in parallel
    assert (Path(local) / "big.bin").read_bytes() == big.read_bytes()
    assert sorted(os.listdir(local)) == ["big.bin"]


def test_open_is_a_streaming_get_and_sized_from_its_response(
    client: Any, s3_repo: S3ArtifactRepository
) -> None:
    s3_repo.log_bytes(b"0123456789" * 1000, "f.bin")
    with _calls(client) as calls:
        stream, size = s3_repo.open_sized("f.bin")
    assert calls == ["GetObject"]  # no HEAD for the size
    assert size == 10_000
    with stream:
        assert stream.read(5) == b"01234"
        assert stream.readable()
    assert stream.closed
    with pytest.raises(ValueError, match="closed"):
        stream.read(1)


def test_partly_read_streams_release_their_connections(
    client: Any, s3_env: str, s3_repo: S3ArtifactRepository
) -> None:
    s3_repo.log_bytes(os.urandom(2 * MiB), "f.bin")
    try:  # botocore internals: skip the pool check if they change
        pool = client._endpoint.http_session._manager.connection_from_url(s3_env)
        free_before = pool.pool.qsize()
    except AttributeError:  # pragma: no cover
        pool = None
    for _ in range(s3mod.MAX_POOL_CONNECTIONS + 10):
        with s3_repo.open("f.bin") as stream:
            assert len(stream.read(100)) == 100
    if pool is not None:
        # Closing a partly read body drops its socket but returns the slot; a
        # leaked slot each time would leave the pool empty before the loop ends.
        assert pool.pool.qsize() == free_before
    assert len(_read(s3_repo, "f.bin")) == 2 * MiB


def test_streams_without_readinto(s3_repo: S3ArtifactRepository) -> None:
    s3_repo.log_bytes(b"abcdef" * 100, "f.bin")
    with s3_repo.open("f.bin") as stream:
        assert isinstance(stream, io.BufferedReader)
        body = stream.raw._body

        class OldBody:  # botocore < 1.31: read() only
            read = body.read
            close = body.close

        stream.raw._body = OldBody()
        assert stream.read(4) == b"abcd"
        assert stream.read() == (b"abcdef" * 100)[4:]


def test_uploads_get_a_content_type(
    tmp_path: Path, client: Any, bucket: str, s3_repo: S3ArtifactRepository
) -> None:
    s3_repo.log_bytes(b"{}", "m.json")
    (tmp_path / "page.html").write_bytes(b"<p/>")
    s3_repo.log_artifact(tmp_path / "page.html")
    s3_repo.log_bytes(b"?", "blob")
    types = {
        name: client.head_object(Bucket=bucket, Key=f"{PREFIX}/{name}")["ContentType"]
        for name in ("m.json", "page.html", "blob")
    }
    assert types["m.json"] == "application/json"
    assert types["page.html"] == "text/html"
    assert types["blob"] in ("binary/octet-stream", "application/octet-stream")


# -- presigned URLs --------------------------------------------------------------------


def test_presigned_urls_round_trip(s3_repo: S3ArtifactRepository, s3_env: str) -> None:
    import httpx

    put_url = s3_repo.presigned_upload_url("up/data.csv", expires_in=60)
    assert put_url.startswith(f"{s3_env}/{s3_repo.bucket}/{PREFIX}/up/data.csv?")
    assert "X-Amz-Signature=" in put_url  # SigV4
    assert "X-Amz-Expires=60" in put_url
    assert httpx.put(put_url, content=b"a,b\n1,2\n").status_code == 200
    assert s3_repo.list_artifacts("up") == [FileInfo("up/data.csv", False, 8)]
    get_url = s3_repo.presigned_download_url("./up//data.csv")
    assert "X-Amz-Expires=3600" in get_url
    response = httpx.get(get_url)
    assert response.status_code == 200
    assert response.content == b"a,b\n1,2\n"


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 24 * 3600 + 1, 1.5, True, "60"])
def test_presigned_url_lifetime_is_checked(s3_repo: S3ArtifactRepository, expires_in: Any) -> None:
    with pytest.raises(InvalidParameterValue, match="expires_in"):
        s3_repo.presigned_download_url("f.txt", expires_in)


def test_presigned_url_needs_a_file(s3_repo: S3ArtifactRepository) -> None:
    with pytest.raises(InvalidParameterValue, match="artifact root"):
        s3_repo.presigned_upload_url("")


# -- errors ------------------------------------------------------------------------------


def test_missing_objects(tmp_path: Path, s3_repo: S3ArtifactRepository) -> None:
    for operation in (
        lambda: s3_repo.open("nope.txt"),
        lambda: s3_repo.open_sized("nope.txt"),
        lambda: s3_repo.file_size("nope.txt"),
        lambda: s3_repo.get_file_info("nope.txt"),
        lambda: s3_repo.download_artifacts("nope.txt", tmp_path / "dl"),
        lambda: s3_repo._get_file("nope.txt", str(tmp_path / "direct.txt")),
    ):
        with pytest.raises(ResourceDoesNotExist, match=r"nope\.txt") as info:
            operation()
        _assert_one_line(info.value)
    assert os.listdir(tmp_path) == []  # no partial or temporary file


def test_missing_bucket(tmp_path: Path, s3_env: str) -> None:
    repo = S3ArtifactRepository("s3://no-such-bucket-labtrack/x")
    (tmp_path / "f.txt").write_bytes(b"x")
    operations: list[Callable[[], object]] = [
        lambda: repo.list_artifacts(),
        lambda: repo.list_artifacts("d"),
        lambda: repo.get_file_info("f.txt"),
        lambda: repo.open("f.txt"),
        lambda: repo.log_bytes(b"x", "f.txt"),
        lambda: repo.log_artifact(tmp_path / "f.txt"),
        lambda: repo.download_artifacts("", tmp_path / "dl"),
        lambda: repo.delete_artifacts("d"),
    ]
    for operation in operations:
        with pytest.raises(ResourceDoesNotExist, match="bucket 'no-such-bucket-labtrack'") as info:
            operation()
        _assert_one_line(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_endpoint_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail fast; retries are botocore's business
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    repo = get_artifact_repository("s3://bucket/x")
    (tmp_path / "f.txt").write_bytes(b"x")
    operations: list[Callable[[], object]] = [
        lambda: repo.list_artifacts(),
        lambda: repo.get_file_info("f.txt"),
        lambda: repo.open("f.txt"),
        lambda: repo.log_bytes(b"x", "f.txt"),
        lambda: repo.log_artifact(tmp_path / "f.txt"),
        lambda: repo._get_file("f.txt", str(tmp_path / "g.txt")),
        lambda: repo.delete_artifacts(),
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(TemporarilyUnavailable, match="Cannot reach S3") as info:
            operation()
        assert time.monotonic() - started < 10
        _assert_one_line(info.value)
        assert "127.0.0.1" in info.value.message


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    clean_aws_env(monkeypatch)
    monkeypatch.setenv("LABTRACK_S3_ENDPOINT_URL", moto_endpoint)
    repo = S3ArtifactRepository("s3://bucket/x")
    for operation in (
        lambda: repo.list_artifacts(),
        lambda: repo.log_bytes(b"x", "f.txt"),
        lambda: repo.presigned_download_url("f.txt"),
    ):
        with pytest.raises(ConfigurationError, match="No usable AWS credentials") as info:
            operation()
        _assert_one_line(info.value)
        assert "AWS_ACCESS_KEY_ID" in info.value.message


def test_unknown_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ConfigurationError, match="no-such-profile") as info:
        S3ArtifactRepository("s3://bucket/x").list_artifacts()
    _assert_one_line(info.value)


def _client_error(code: str, status: int) -> Any:
    return botocore_exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ResourceDoesNotExist),
        ("404", 404, ResourceDoesNotExist),
        ("NoSuchBucket", 404, ResourceDoesNotExist),
        ("AccessDenied", 403, PermissionDenied),
        ("InvalidAccessKeyId", 403, PermissionDenied),
        ("SignatureDoesNotMatch", 403, PermissionDenied),
        ("403", 403, PermissionDenied),
        ("SlowDown", 503, TemporarilyUnavailable),
        ("InternalError", 500, TemporarilyUnavailable),
        ("KeyTooLongError", 400, InvalidParameterValue),
        ("SomethingNew", 400, InternalError),
    ],
)
def test_client_errors_are_mapped(code: str, status: int, expected: type[LabtrackError]) -> None:
    repo = S3ArtifactRepository("s3://bucket/x")
    error = _client_error(code, status)
    with pytest.raises(expected) as info, repo._s3("read", "f.txt"):
        raise error
    assert type(info.value) is expected
    assert "\n" not in info.value.message
    assert ("bucket 'bucket'" if code == "NoSuchBucket" else "f.txt") in info.value.message
    # Unexpected errors keep their botocore cause for the logs; expected ones do not.
    assert (info.value.__cause__ is error) == (expected is InternalError)


def test_tls_errors_suggest_the_switch() -> None:
    repo = S3ArtifactRepository("s3://bucket/x")
    error = botocore_exceptions.SSLError(endpoint_url="https://s3.local", error="bad cert")
    with (
        pytest.raises(TemporarilyUnavailable, match="LABTRACK_S3_IGNORE_TLS=true"),
        repo._s3("read", "f.txt"),
    ):
        raise error


def test_unrelated_exceptions_pass_through() -> None:
    repo = S3ArtifactRepository("s3://bucket/x")
    with pytest.raises(KeyError, match="a bug"), repo._s3("read", "f.txt"):
        raise KeyError("a bug")


# -- configuration and the shared clients ------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_aws_env(monkeypatch)
    assert S3Settings.from_env().endpoint_url is None
    assert S3Settings.from_env().verify_tls is True
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-minio:9000/")
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    settings = S3Settings.from_env()
    assert settings.endpoint_url == "http://mlflow-minio:9000"
    assert settings.client_kwargs()["verify"] is False
    assert settings.client_kwargs()["endpoint_url"] == "http://mlflow-minio:9000"
    monkeypatch.setenv("LABTRACK_S3_ENDPOINT_URL", "https://labtrack-minio")
    monkeypatch.setenv("LABTRACK_S3_IGNORE_TLS", "0")  # labtrack's own variables win
    settings = S3Settings.from_env()
    assert (settings.endpoint_url, settings.verify_tls) == ("https://labtrack-minio", True)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LABTRACK_S3_ENDPOINT_URL", "minio:9000", "http:// or https://"),
        ("MLFLOW_S3_ENDPOINT_URL", "ftp://x", "http:// or https://"),
        ("LABTRACK_S3_IGNORE_TLS", "maybe", "expected true or false"),
    ],
)
def test_bad_settings(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    clean_aws_env(monkeypatch)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message) as info:
        S3ArtifactRepository("s3://bucket/x").list_artifacts()
    assert name in info.value.message


def test_ignore_tls_reaches_the_client(monkeypatch: pytest.MonkeyPatch, s3_env: str) -> None:
    monkeypatch.setenv("LABTRACK_S3_IGNORE_TLS", "true")
    client = s3mod.get_s3_client()
    assert client._endpoint.http_session._verify is False
    assert client.meta.endpoint_url == s3_env


def test_region_comes_from_aws_default_region(monkeypatch: pytest.MonkeyPatch, s3_env: str) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert s3mod.get_s3_client().meta.region_name == "eu-west-3"


def test_one_client_per_configuration(
    monkeypatch: pytest.MonkeyPatch, s3_env: str, bucket: str
) -> None:
    s3mod._forget_clients()
    with ThreadPoolExecutor(16) as pool:
        clients = list(pool.map(lambda _: s3mod.get_s3_client(), range(64)))
    assert len({id(c) for c in clients}) == 1
    repo_a = S3ArtifactRepository(f"s3://{bucket}/a")
    repo_b = S3ArtifactRepository(f"s3://{bucket}/b")
    assert repo_a._client() is repo_b._client() is clients[0]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other-secret")
    other = s3mod.get_s3_client()
    assert other is not clients[0]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert s3mod.get_s3_client() is clients[0]
    monkeypatch.setenv("LABTRACK_S3_ENDPOINT_URL", s3_env + "/")  # same endpoint, normalised
    assert s3mod.get_s3_client() is clients[0]


def test_client_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, s3_env: str) -> None:
    s3mod._forget_clients()
    monkeypatch.setattr(s3mod, "_MAX_CLIENTS", 3)
    first = s3mod.get_s3_client()
    for i in range(4):
        monkeypatch.setenv("AWS_SESSION_TOKEN", f"token-{i}")
        s3mod.get_s3_client()
    assert len(s3mod._clients) == 3
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    assert s3mod.get_s3_client() is not first  # the oldest went first


def test_pid_change_drops_the_clients(monkeypatch: pytest.MonkeyPatch, s3_env: str) -> None:
    parent = s3mod.get_s3_client()
    monkeypatch.setattr(s3mod, "_clients_pid", -1)  # as if forked without the at-fork hook
    child = s3mod.get_s3_client()
    assert child is not parent
    assert s3mod._clients_pid == os.getpid()
    assert s3mod.get_s3_client() is child


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_makes_its_own_client(s3_repo: S3ArtifactRepository) -> None:
    s3_repo.log_bytes(b"from the parent", "f.txt")
    parent_client = s3mod.get_s3_client()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a multi-threaded process (moto's server
        # thread is running) may deadlock; the child below only makes S3 requests.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read_end)
            fresh = not s3mod._clients
            child_client = s3mod.get_s3_client()
            ok = fresh and child_client is not parent_client
            ok = ok and _read(s3_repo, "f.txt") == b"from the parent"
            os.write(write_end, b"ok" if ok else b"no")
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 60)
        answer = os.read(read_end, 16) if ready else b"timeout"
    finally:
        os.close(read_end)
        if answer == b"timeout":
            os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert answer == b"ok"
    assert s3mod.get_s3_client() is parent_client  # the parent's cache is untouched


def test_module_import_is_lazy_and_threads_share_the_client(s3_repo: S3ArtifactRepository) -> None:
    # The registry loads this module only for s3:// URIs (see test_uri); here, a
    # repository used from many threads at once keeps working on one client.
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            s3_repo.log_bytes(str(i).encode(), f"th/{i}.txt")
            assert _read(s3_repo, f"th/{i}.txt") == str(i).encode()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(s3_repo.list_artifacts("th")) == 20
