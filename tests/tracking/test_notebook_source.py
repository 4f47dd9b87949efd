"""The notebook a run starts in when a program executes it (nbconvert, papermill).

``jupyter nbconvert --execute`` and ``papermill`` start the kernel themselves and do not
tell it the notebook; labtrack reads their command line (the kernel's parent process).
The last test executes a real notebook with nbconvert when nbconvert and ipykernel are
installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtrack.tracking.context import (
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    _source,
    collect_run_context,
)


@pytest.fixture(autouse=True)
def _fresh_lookup() -> Iterator[None]:
    _source.clear_cache()
    yield
    _source.clear_cache()


class ZMQInteractiveShell:  # the class name is what marks a Jupyter kernel's shell
    def __init__(self, user_ns: dict[str, Any] | None = None) -> None:
        self.user_ns = user_ns or {}


def _install_kernel_shell(monkeypatch: pytest.MonkeyPatch, user_ns: dict[str, Any]) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: ZMQInteractiveShell(user_ns)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/python", "/venv/bin/jupyter-nbconvert", "--execute", "a.ipynb"], "a.ipynb"),
        (
            [
                "python",
                "/venv/bin/jupyter-nbconvert",
                "--to",
                "notebook",
                "--execute",
                "nb/train.ipynb",
                "--output",
                "done.ipynb",
            ],
            "nb/train.ipynb",
        ),
        (["jupyter-nbconvert", "--execute", "--output=out.ipynb", "x.ipynb"], "x.ipynb"),
        (["jupyter-nbconvert", "--execute", "a.ipynb", "b.ipynb"], None),  # which one runs?
        (
            ["/venv/bin/python", "/venv/bin/papermill", "in.ipynb", "out.ipynb", "-p", "a", "1"],
            "in.ipynb",
        ),
        (["python", "-m", "papermill", "-p", "alpha", "0.5", "eda.ipynb", "o.ipynb"], "eda.ipynb"),
        (["python", "/venv/bin/jupyter-execute", "report.ipynb"], "report.ipynb"),
        (["python", "train.py", "old.ipynb"], None),  # not an executor
        (["/usr/bin/bash"], None),
    ],
)
def test_notebook_from_executor_argv(argv: list[str], expected: str | None) -> None:
    assert _source.notebook_from_executor_argv(argv) == expected


@pytest.mark.parametrize("name", ["__session__", "PAPERMILL_INPUT_PATH"])
def test_notebook_from_the_kernel_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    """ipykernel's ``__session__`` (from JPY_SESSION_NAME) and papermill's injected
    ``PAPERMILL_INPUT_PATH`` name the notebook."""
    _install_kernel_shell(monkeypatch, {name: str(tmp_path / "eda.ipynb")})
    ctx = collect_run_context(environment=False, git=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "eda.ipynb"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"


def test_notebook_from_the_parent_s_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The parent's /proc entries, as nbconvert's kernel sees them: a relative notebook
    path, resolved against the parent's working directory, and only if that file exists."""
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "train.ipynb").write_text("{}")
    argv = ["python", "/venv/bin/jupyter-nbconvert", "--execute", "nb/train.ipynb"]
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "cwd").symlink_to(tmp_path)
    real_open, real_readlink = open, os.readlink
    parent = f"/proc/{os.getppid()}/"

    def fake(path: Any) -> Any:
        return proc / str(path)[len(parent) :] if str(path).startswith(parent) else path

    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(fake(path), *a, **k))
    monkeypatch.setattr(os, "readlink", lambda path: real_readlink(fake(path)))
    assert _source._notebook_path_from_executor() == str(tmp_path / "nb" / "train.ipynb")
    (tmp_path / "nb" / "train.ipynb").unlink()
    assert _source._notebook_path_from_executor() is None


NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "import labtrack as lt\n",
                "with lt.start_run() as run:\n",
                "    pass\n",
                "print(run.info.run_id)",
            ],
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.mark.slow
def test_nbconvert_execute_records_the_notebook(tmp_path: Path) -> None:
    """A real ``jupyter nbconvert --execute``: the run's source is the notebook's file."""
    pytest.importorskip("nbconvert")
    pytest.importorskip("ipykernel")
    if not sys.platform.startswith("linux"):
        pytest.skip("the executor's command line is read from /proc")
    import labtrack as lt

    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "train.ipynb").write_text(json.dumps(NOTEBOOK))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "notebooks/train.ipynb",
            "--output",
            "executed.ipynb",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    executed = json.loads((folder / "executed.ipynb").read_text())
    run_id = "".join(executed["cells"][0]["outputs"][0]["text"]).strip()
    tags = lt.get_run(run_id).data.tags
    assert tags[MLFLOW_SOURCE_NAME] == "train.ipynb"
    assert tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"
