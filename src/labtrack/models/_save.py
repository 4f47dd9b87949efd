"""Saving a model directory: the flavor's files, MLmodel, environment, example, code."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._environment import (
    CONDA_FILE,
    PYTHON_ENV_FILE,
    pinned,
    resolve_requirements,
    write_environment,
)
from labtrack.models._trust import Trust
from labtrack.models.flavors import get_flavor
from labtrack.models.flavors.base import Flavor
from labtrack.models.model import PYFUNC, Model
from labtrack.models.signature import ModelSignature

__all__ = ["check_can_save", "save_model"]

CODE_DIR = "code"


def _prepare(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidParameterValue(
            f"Cannot save a model to {str(path)!r}: it exists and is not empty"
        )
    path.mkdir(parents=True, exist_ok=True)


def _copy_code(code_paths: Iterable[str | os.PathLike[str]], path: Path) -> str:
    target = path / CODE_DIR
    target.mkdir()
    for item in code_paths:
        source = Path(item)
        if not source.exists():
            raise InvalidParameterValue(f"code_paths: {str(source)!r} does not exist")
        dest = target / source.resolve().name
        if source.is_dir():
            shutil.copytree(
                source,
                dest,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(source, dest)
    return CODE_DIR


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _infer_from_example(
    flavor: Flavor, path: Path, conf: dict[str, Any], example: Any, params: Any
) -> ModelSignature | None:
    """The signature of the model as it answers its input example (read back from ``path``)."""
    import numpy as np
    import pandas as pd

    from labtrack.models._infer import infer_params_schema, infer_schema

    inputs = infer_schema(example)
    predictor = flavor.pyfunc(path, conf, Trust(everything=True))
    data = example
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        data = pd.DataFrame(data)
    try:
        output = predictor.predict(data, params) if params else predictor.predict(data)
    except Exception as exc:
        raise InvalidParameterValue(
            f"Cannot infer the model's signature: predicting on its input example failed "
            f"({type(exc).__name__}: {exc}). Fix the example, or pass signature= (see "
            "labtrack.models.infer_signature) or signature=False"
        ) from exc
    if not inputs.is_tensor_spec() and isinstance(output, np.ndarray) and output.ndim == 1:
        output = pd.Series(output)
    try:
        outputs = infer_schema(output)
    except InvalidParameterValue:
        outputs = None
    return ModelSignature(inputs, outputs, infer_params_schema(params) if params else None)


def check_can_save(
    flavor: Flavor, model: Any, input_example: Any, flavor_options: Mapping[str, Any]
) -> None:
    """Raise what saving ``model`` would raise before its first file is written: the
    flavor's own checks (option values, its serialization library) and pandas for an
    input example (the signature is inferred through a DataFrame)."""
    try:
        flavor.check(model, **flavor_options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise InvalidParameterValue(f"Flavor {flavor.name!r}: {exc}") from exc
        raise
    if input_example is not None:
        from labtrack.models._dependencies import require

        require(
            "pandas",
            purpose="Saving a model with an input_example",
            install='pip install "labtrack[pandas]" (or pip install pandas)',
        )


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | Flavor,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
    mlmodel: Model | None = None,
    **flavor_options: Any,
) -> Model:
    """Save ``model`` as a model directory at ``path`` with the given flavor; return its MLmodel.

    ``signature``: a ModelSignature, None to infer it from ``input_example`` (when given),
    or False for none. The other options are the flavor's (see each flavor's save).
    """
    flavor = get_flavor(flavor)
    check_can_save(flavor, model, input_example, flavor_options)
    root = Path(path)
    _prepare(root)
    try:
        return _save(
            flavor,
            model,
            root,
            signature,
            input_example,
            pip_requirements,
            extra_pip_requirements,
            metadata,
            code_paths,
            mlmodel or Model(),
            flavor_options,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _save(
    flavor: Flavor,
    model: Any,
    root: Path,
    signature: ModelSignature | bool | None,
    input_example: Any,
    pip_requirements: Any,
    extra_pip_requirements: Any,
    metadata: Mapping[str, Any] | None,
    code_paths: Iterable[str | os.PathLike[str]] | None,
    mlmodel: Model,
    flavor_options: dict[str, Any],
) -> Model:
    if signature is not None and not isinstance(signature, (ModelSignature, bool)):
        raise InvalidParameterValue(
            f"signature must be a ModelSignature (see labtrack.models.infer_signature), "
            f"got {type(signature).__name__}"
        )
    try:
        conf = flavor.save(model, root, **flavor_options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise InvalidParameterValue(f"Flavor {flavor.name!r}: {exc}") from exc
        raise
    pyfunc_extra = dict(conf.pop(PYFUNC, None) or {})
    if code_paths:
        code = _copy_code(code_paths, root)
        conf["code"] = code
        pyfunc_extra["code"] = code
    pyfunc: dict[str, Any] = {"loader_module": flavor.loader_module}
    if flavor.loader_module == Flavor.loader_module and flavor.section != PYFUNC:
        pyfunc["flavor"] = flavor.name
    pyfunc.update(pyfunc_extra)
    if flavor.section == PYFUNC:
        pyfunc.update(conf)
    else:
        mlmodel.flavors[flavor.section] = conf
    pyfunc["env"] = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}
    pyfunc["python_version"] = platform.python_version()
    mlmodel.flavors[PYFUNC] = pyfunc

    if input_example is not None:
        from labtrack.models._example import save_input_example

        example, params = save_input_example(mlmodel, input_example, root)
        if signature is None:
            mlmodel.signature = _infer_from_example(
                flavor, root, mlmodel.flavors[flavor.section], example, params
            )
    if isinstance(signature, ModelSignature):
        mlmodel.signature = signature
    if metadata is not None:
        mlmodel.metadata = dict(metadata)

    requirements = flavor.requirements(model, mlmodel.flavors[flavor.section])
    inputs = mlmodel.signature.inputs if mlmodel.signature is not None else None
    if inputs is not None and not inputs.is_tensor_spec():  # the model takes DataFrames
        requirements.append(pinned("pandas"))
    write_environment(
        root, resolve_requirements(requirements, pip_requirements, extra_pip_requirements)
    )
    mlmodel.model_size_bytes = _size(root)
    mlmodel.save(root)
    return mlmodel
