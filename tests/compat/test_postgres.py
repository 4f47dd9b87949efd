"""A subset of the suite again, with the server on PostgreSQL instead of SQLite.

The tests are the other modules' own (imported here, so pytest collects them again in
this module, whose server runs on PostgreSQL); they cover what depends on the database:
NaN and infinities, search and ordering, paging, long histories, uniqueness and
immutability errors, datasets and logged models. Skipped when
``LABTRACK_TEST_POSTGRES_URL`` is unset.
"""

from __future__ import annotations

import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

pytestmark = pytest.mark.parametrize(
    "tracking_server", ["postgresql"], indirect=True, scope="module"
)

# ruff: noqa: E402, F401  (imported to be collected here; fixtures are found by name)
from compat.test_client_experiments import (
    test_delete_and_restore_experiment,
    test_search_experiments_filter_and_order,
    test_search_experiments_pages,
)
from compat.test_client_runs import (
    test_delete_and_restore_run,
    test_log_batch,
    test_log_inputs_and_search_by_dataset,
    test_long_values_are_truncated,
    test_metric_history_pages_past_25000_points,
)
from compat.test_errors import (
    test_duplicate_experiment_name,
    test_missing_run,
    test_param_overwrite_with_another_value,
    test_too_many_metrics_in_one_batch,
)
from compat.test_fluent import (
    test_artifacts_through_the_proxy,
    test_exception_inside_a_run_marks_it_failed,
    test_infinities_are_kept,
    test_log_metric_steps_and_timestamps,
    test_nan_and_infinite_metrics,
    test_nested_runs_carry_the_parent_tag,
)
from compat.test_models import data, test_sklearn_log_and_load
from compat.test_search_runs import (
    runs,
    test_filter_on_run_ids,
    test_filters,
    test_order_by,
    test_pages_visit_every_run_once,
)
