"""Fixtures of the artifact repository tests: a moto S3 server, a labtrack server's
artifact proxy, and ``any_repo``, the same contract on every kind of repository.

boto3 and moto are imported inside the fixtures, so without them only the tests that
need S3 are skipped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtrack.artifacts import ArtifactRepository, path_to_file_uri

from ._support import S3_PREFIX, clean_aws_env

REPOSITORY_KINDS = ("local", "s3", "http")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto S3 server running for the whole session."""
    moto_server = pytest.importorskip("moto.server")
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug_log.setLevel(level)


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS settings that point the S3 repositories at the moto server."""
    clean_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LABTRACK_S3_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def client(s3_env: str) -> Any:
    """The shared boto3 client the S3 repositories use in this environment."""
    pytest.importorskip("boto3")
    from labtrack.artifacts import s3

    return s3.get_s3_client()


@pytest.fixture
def bucket(client: Any) -> str:
    """A new, empty bucket of this test's own."""
    name = f"labtrack-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_repo(bucket: str) -> Any:
    from labtrack.artifacts.s3 import S3ArtifactRepository

    return S3ArtifactRepository(f"s3://{bucket}/{S3_PREFIX}")


@pytest.fixture(scope="session")
def artifact_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a labtrack server (in a thread) that proxies a local directory."""
    from livesrv import serve_in_thread

    workdir = tmp_path_factory.mktemp("artifact-proxy")
    with serve_in_thread(f"sqlite:///{workdir / 'server.db'}", str(workdir / "artifacts")) as url:
        yield url


@pytest.fixture
def http_repo(artifact_proxy: str) -> ArtifactRepository:
    """A repository of this test's own behind the server's artifact proxy."""
    from labtrack.artifacts.http import PROXY_API, HttpArtifactRepository

    return HttpArtifactRepository(f"{artifact_proxy}{PROXY_API}/{uuid.uuid4().hex}/artifacts")


@pytest.fixture(params=REPOSITORY_KINDS)
def any_repo(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactRepository:
    """Each kind of repository: a local directory, S3, and a tracking server's proxy."""
    if request.param == "local":
        from labtrack.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(path_to_file_uri(tmp_path / "local-root"))
    repo: ArtifactRepository = request.getfixturevalue(f"{request.param}_repo")
    return repo


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A small directory tree to log: a file at the top, one below, one deeper."""
    src = tmp_path / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.json").write_bytes(b'{"b": 1}')
    (src / "sub" / "deep" / "c.bin").write_bytes(bytes(range(256)) * 10)
    return src
