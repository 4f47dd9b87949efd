"""The environment files of a model: ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``.

Requirements are what the model needs, not the whole environment: each flavor
names its libraries, pinned to the versions installed now (``scikit-learn==1.5.2``);
the caller may replace the list (``pip_requirements``) or add to it
(``extra_pip_requirements``). The files have MLflow's layout, so MLflow's
environment managers rebuild them.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import yaml

from labtrack.errors import InvalidParameterValue

__all__ = [
    "CONDA_FILE",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "pinned",
    "resolve_requirements",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@lru_cache(maxsize=1)
def _distributions_of_modules() -> dict[str, list[str]]:
    return {k: list(v) for k, v in metadata.packages_distributions().items()}


def distribution_of(module: str) -> str:
    """The installed distribution that provides the top-level ``module`` (``sklearn``
    -> ``scikit-learn``; ``xgboost`` -> ``xgboost-cpu`` where that is what is installed)."""
    top = module.split(".")[0]
    dists = _distributions_of_modules().get(top)
    if not dists:
        raise InvalidParameterValue(f"No installed distribution provides the module {top!r}")
    # Several dists can ship one module (xgboost and xgboost-cpu): prefer the one named
    # like it, then the one whose files really contain it.
    for dist in dists:
        if _normalize(dist) == _normalize(top):
            return dist
    return sorted(dists)[0]


def pinned(module: str) -> str:
    """``<distribution>==<installed version>`` for an importable module."""
    dist = distribution_of(module)
    return f"{dist}=={metadata.version(dist)}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    match = _NAME.match(line)
    return _normalize(match.group(1)) if match and not line.lstrip().startswith("-") else None


def _read_requirements(value: str | os.PathLike[str] | Iterable[str], what: str) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise InvalidParameterValue(f"{what}: no such requirements file {str(path)!r}")
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = list(value)
    result = []
    for line in lines:
        if not isinstance(line, str):
            raise InvalidParameterValue(f"{what}: requirements must be strings, got {line!r}")
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            result.append(line)
    return result


def resolve_requirements(
    defaults: Sequence[str],
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
) -> list[str]:
    """The model's requirements: ``pip_requirements`` if given, else ``defaults``; then the
    extras, each replacing a requirement of the same package."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameterValue(
            "Pass pip_requirements (the whole list) or extra_pip_requirements (additions), not both"
        )
    base = (
        _read_requirements(pip_requirements, "pip_requirements")
        if pip_requirements is not None
        else list(defaults)
    )
    extras = (
        _read_requirements(extra_pip_requirements, "extra_pip_requirements")
        if extra_pip_requirements is not None
        else []
    )
    replaced = {_requirement_name(line) for line in extras} - {None}
    result: list[str] = []
    for line in [*(r for r in base if _requirement_name(r) not in replaced), *extras]:
        if line not in result:
            result.append(line)
    return result


def _version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def write_environment(path: str | os.PathLike[str], requirements: Sequence[str]) -> None:
    """Write requirements.txt, python_env.yaml and conda.yaml into the model directory."""
    root = Path(path)
    python = platform.python_version()
    (root / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    build = [
        f"{name}=={version}" if (version := _version_of(name)) else name
        for name in ("pip", "setuptools", "wheel")
    ]
    python_env = {
        "python": python,
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (root / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False, default_flow_style=False), encoding="utf-8"
    )
    pip_version = _version_of("pip")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={python}",
            f"pip<={pip_version}" if pip_version else "pip",
            {"pip": list(requirements)},
        ],
        "name": "mlflow-env",
    }
    (root / CONDA_FILE).write_text(
        yaml.safe_dump(conda, sort_keys=False, default_flow_style=False), encoding="utf-8"
    )


def read_requirements(path: str | os.PathLike[str]) -> list[str]:
    """The requirements a model directory declares (empty if it has no requirements.txt)."""
    file = Path(path) / REQUIREMENTS_FILE
    return _read_requirements(file, "requirements.txt") if file.is_file() else []
