"""The suite's own guarantee: no mlflow state reaches the next test.

The check needs three tests run in order in one process, which xdist does not promise,
so it runs ``isolation_scenario.py`` with pytest in a fresh interpreter, without xdist,
and asserts that all three passed (none skipped).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

_HERE = Path(__file__).parent


@pytest.mark.labtrack_only
def test_no_mlflow_state_reaches_the_next_test(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "--basetemp",
            str(tmp_path / "basetemp"),
            str(_HERE / "isolation_scenario.py"),
        ],
        cwd=_HERE.parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "3 passed" in output, output
    assert "skipped" not in output, output
