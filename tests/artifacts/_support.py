"""Helpers shared by the artifact repository tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labtrack.artifacts import ArtifactRepository

S3_PREFIX = "exp/1/run/artifacts"


def tree(path: Path) -> dict[str, bytes | None]:
    """Every entry under ``path``: relative posix path -> bytes (files) or None (dirs)."""
    out: dict[str, bytes | None] = {}
    for p in sorted(path.rglob("*")):
        out[p.relative_to(path).as_posix()] = None if p.is_dir() else p.read_bytes()
    return out


def read(repo: ArtifactRepository, path: str) -> bytes:
    with repo.open(path) as stream:
        return stream.read()


def walk(repo: ArtifactRepository, path: str = "") -> dict[str, bytes | None]:
    """Everything under ``path`` through the repository API: path -> bytes, or None for dirs."""
    out: dict[str, bytes | None] = {}
    for info in repo.list_artifacts(path):
        if info.is_dir:
            out[info.path] = None
            out.update(walk(repo, info.path))
        else:
            out[info.path] = read(repo, info.path)
    return out


def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS/S3 setting from the developer's environment or ~/.aws leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith(("LABTRACK_S3_", "MLFLOW_S3_")):
            monkeypatch.delenv(name)
    # Fixed values: the shared client is keyed by the AWS_* variables, so a
    # per-test path would cost every test a new client.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no slow instance-metadata probe
