"""Helpers shared by the compatibility suite's modules."""

from __future__ import annotations

MLFLOW_MISSING = "the mlflow client is not installed (pip install -e '.[test]' installs it)"
