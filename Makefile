# `make test` is the one command that installs what the tests need and runs them all:
# lint (ruff; lint-imports checks the layers in pyproject's [tool.importlinter]), types (mypy)
# and the test suite (pytest) with its coverage, which must not fall below
# [tool.coverage.report] fail_under in pyproject.toml. CI runs exactly this.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The real MLflow, in a venv of its own, that the compatibility tests run side by side
# with labtrack (its server's answers, its scoring server's predictions); the benchmarks
# in bench/ use the same one.
MLFLOW_VENV := bench/.work/mlflow-venv
MLFLOW_REFERENCE ?= mlflow==3.17.2

.PHONY: test lint typecheck pytest clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

test: lint typecheck pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.installed
	$(BIN)/mypy

$(MLFLOW_VENV)/bin/mlflow:
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet "$(MLFLOW_REFERENCE)"

pytest: $(BIN)/.installed $(MLFLOW_VENV)/bin/mlflow
	$(BIN)/pytest -n 2 --cov=labtrack --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
