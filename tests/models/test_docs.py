"""docs/models.md covers the public surface of labtrack.models and the flavor namespaces."""

from __future__ import annotations

from pathlib import Path

import pytest

import labtrack.models

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


@pytest.mark.parametrize("name", labtrack.models.__all__)
def test_every_public_name_is_documented(name: str) -> None:
    assert f"`{name}" in DOC.read_text(), f"labtrack.models.{name} is missing from docs/models.md"


@pytest.mark.parametrize("namespace", ["sklearn", "xgboost", "lightgbm", "pyfunc"])
def test_every_flavor_namespace_is_documented(namespace: str) -> None:
    assert f"`lt.{namespace}`" in DOC.read_text()
