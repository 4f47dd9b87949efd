"""The reserved tag names: MLflow's ``mlflow.*`` system tags and labtrack's own.

Tags under these names are written by the library (or read by MLflow's tools), so
they are spelled once, here. Constant names follow MLflow's ``mlflow_tags.py``
where MLflow has one, so code that knows MLflow reads the same names.
"""

from __future__ import annotations

# -- runs --------------------------------------------------------------------------------------
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_RUN_NOTE = "mlflow.note.content"
"""A run's (or an experiment's) description, in Markdown."""
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_USER = "mlflow.user"

# -- where a run came from ---------------------------------------------------------------------
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_GIT_DIRTY = "mlflow.source.git.dirty"
"""``"true"`` when the work tree had uncommitted changes (labtrack's; MLflow has none)."""

# -- what a run logged -------------------------------------------------------------------------
MLFLOW_LOGGED_MODELS = "mlflow.log-model.history"
"""JSON list of the models logged to a run (MLflow 2's record, still read by its UI)."""
MLFLOW_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
MLFLOW_DATASET_CONTEXT = "mlflow.data.context"
"""On a dataset input: what the run used it for (``training``, ``eval``...)."""

# -- the model registry ------------------------------------------------------------------------
MLFLOW_MODEL_VERSIONS = "mlflow.modelVersions"
"""On a logged model: JSON list of the registry versions made from it."""
MLFLOW_PROMPT_IS_PROMPT = "mlflow.prompt.is_prompt"
"""On a registered model: ``"true"`` for MLflow's prompts (MLflow's ``IS_PROMPT_TAG_KEY``)."""

# -- labtrack's own ----------------------------------------------------------------------------
LABTRACK_COMMAND = "labtrack.command"
LABTRACK_PYTHON_VERSION = "labtrack.python.version"
LABTRACK_CRASHED = "labtrack.crashed"
"""``"true"`` on a run marked KILLED because its process stopped sending heartbeats."""

SYSTEM_TAG_PREFIXES = ("mlflow.", "labtrack.")
"""Tags under these prefixes are the library's, shown apart from the user's own."""

UNKNOWN_USER = "unknown"
"""The user (``mlflow.user``, a registry event's author) when no name can be found (MLflow's
default)."""
