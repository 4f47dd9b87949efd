"""Logging a model (MLflow 3's way): a logged model entity plus its files.

0. check that the model can be saved with the options given (its serialization
   library installed, option values valid), so that one that cannot be saved
   leaves no logged model, run output or registry version behind;
1. create a logged model (PENDING) in the active run's experiment (or the active
   experiment when no run is active), its source run the active run;
2. record it as an output of the run (at ``step``);
3. save the model directory, with the logged model's id, run and artifact
   location in MLmodel, and upload it to the logged model's artifact location;
4. finalize it READY, or FAILED if anything above failed;
5. register it when ``registered_model_name`` is given.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrack.entities import LoggedModelOutput, LoggedModelStatus
from labtrack.models._save import check_can_save, save_model
from labtrack.models.flavors import get_flavor
from labtrack.models.flavors.base import Flavor
from labtrack.models.model import Model, ModelInfo
from labtrack.models.signature import ModelSignature

__all__ = ["log_model"]


def log_model(
    model: Any,
    name: str | None = None,
    *,
    flavor: str | Flavor,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    artifact_path: str | None = None,
    **flavor_options: Any,
) -> ModelInfo:
    """Log ``model`` as a new logged model of the active run; see the module docstring.

    ``artifact_path`` is MLflow 2's name for ``name``, kept so that scripts written for it
    run unchanged (with a warning, as MLflow 3 gives); ``runs:/<run_id>/<artifact_path>``
    then finds the model, as it does in MLflow 3.
    """
    name = _name_from_artifact_path(name, artifact_path)
    from labtrack.artifacts import get_artifact_repository
    from labtrack.models._uri import _for_client
    from labtrack.tracking import fluent

    chosen = get_flavor(flavor)
    check_can_save(chosen, model, input_example, flavor_options)
    fluent.flush()
    client = fluent._client()
    active = fluent.active_run()
    run = client.get_run(active.info.run_id) if active is not None else None
    experiment_id = run.info.experiment_id if run else fluent._active_experiment_id()
    logged = client.service.create_logged_model(
        experiment_id,
        name,
        source_run_id=run.info.run_id if run else None,
        model_type=model_type,
        tags=tags,
        params={
            **(run.data.params if run else {}),
            **{k: str(v) for k, v in (params or {}).items()},
        },
    )
    try:
        if run is not None:
            client.service.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, step)])
        mlmodel = Model(
            artifact_path=logged.artifact_location,
            run_id=run.info.run_id if run else None,
            model_id=logged.model_id,
            model_uuid=logged.model_id,
        )
        with tempfile.TemporaryDirectory(prefix="labtrack-log-model-") as tmp:
            local = Path(tmp) / "model"
            save_model(
                model,
                local,
                flavor=chosen,
                signature=signature,
                input_example=input_example,
                pip_requirements=pip_requirements,
                extra_pip_requirements=extra_pip_requirements,
                metadata=metadata,
                code_paths=code_paths,
                mlmodel=mlmodel,
                **flavor_options,
            )
            repo = get_artifact_repository(_for_client(logged.artifact_location, client))
            repo.log_artifacts(local)
    except BaseException:
        client.service.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.service.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    version = None
    if registered_model_name is not None:
        version = _register(f"models:/{logged.model_id}", registered_model_name)
    return mlmodel.get_model_info(name=logged.name, registered_model_version=version)


def _name_from_artifact_path(name: str | None, artifact_path: str | None) -> str | None:
    if artifact_path is None:
        return name
    if name is not None and name != artifact_path:
        from labtrack.errors import InvalidParameterValue

        raise InvalidParameterValue(
            f"log_model got name={name!r} and artifact_path={artifact_path!r}: give only "
            "name (artifact_path is its older spelling)"
        )
    import warnings

    warnings.warn(
        "log_model's artifact_path is deprecated (as in MLflow 3): use name instead",
        FutureWarning,
        stacklevel=4,
    )
    return artifact_path


def _register(model_uri: str, name: str) -> Any:
    from labtrack.tracking.fluent import register_model

    return register_model(model_uri, name).version
