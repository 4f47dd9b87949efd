"""MLflow's ``mlflow.exceptions`` names, for code written against MLflow.

``MlflowException`` is :class:`labtrack.errors.LabtrackError` itself, the root of
labtrack's exception tree, so ``except MlflowException as exc`` catches every error
labtrack raises on purpose, and ``exc.error_code`` (``"RESOURCE_DOES_NOT_EXIST"``
...), ``exc.message`` and ``exc.get_http_status_code()`` read as in MLflow::

    import labtrack as mlflow
    from labtrack.exceptions import MlflowException

    try:
        mlflow.MlflowClient().get_run("no-such-run")
    except MlflowException as exc:
        print(exc.error_code)  # RESOURCE_DOES_NOT_EXIST

New code may as well catch the precise classes of :mod:`labtrack.errors`.
"""

from __future__ import annotations

from labtrack.errors import LabtrackError

__all__ = ["MlflowException"]

MlflowException = LabtrackError
