"""The registry service on its own, over a real SQLite store.

(tests/store/test_registry.py runs the registry through every store; this file checks
the service's part: its rules, the user it records, and that TrackingService holds one.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labtrack.entities import ModelVersionStage, RegistryAction
from labtrack.errors import InvalidParameterValue, NotImplementedYet, ResourceDoesNotExist
from labtrack.store.sql.store import SqlStore
from labtrack.tracking._registry_service import ACTING_USER, RegistryService, acting_user
from labtrack.tracking.service import TrackingService


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return SqlStore(f"sqlite:///{tmp_path / 'registry.db'}", (tmp_path / "artifacts").as_uri())


@pytest.fixture
def registry(store: SqlStore) -> RegistryService:
    return RegistryService(store)


@pytest.fixture(autouse=True)
def _as_alice() -> Iterator[None]:
    token = ACTING_USER.set("alice")
    yield
    ACTING_USER.reset(token)


def test_create_and_get_a_model(registry: RegistryService) -> None:
    created = registry.create_registered_model("churn", {"team": "ml", "n": 3}, "Predicts churn")
    assert (created.name, created.description, created.user_id) == (
        "churn",
        "Predicts churn",
        "alice",
    )
    assert created.tags == {"team": "ml", "n": "3"}  # values become strings
    assert registry.get_registered_model("churn") == created


def test_versions_are_numbered_from_one(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    first = registry.create_model_version("churn", "s3://bucket/churn/1", tags={"k": "v"})
    second = registry.create_model_version("churn", "s3://bucket/churn/2")
    assert (first.version, second.version) == (1, 2)
    assert first.tags == {"k": "v"}
    assert first.current_stage == ModelVersionStage.NONE
    assert registry.get_model_version("churn", "2").source == "s3://bucket/churn/2"  # digits too
    assert registry.get_model_version_download_uri("churn", 1) == "s3://bucket/churn/1"
    page = registry.search_model_versions("name = 'churn'", max_results=1)
    assert len(page) == 1
    assert page.token is not None
    rest = registry.search_model_versions("name = 'churn'", max_results=1, page_token=page.token)
    assert len(rest) == 1
    assert rest.token is None


def test_aliases(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    registry.create_model_version("churn", "s3://b/1")
    registry.create_model_version("churn", "s3://b/2")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.set_registered_model_alias("churn", "champion", "2")  # moves it
    assert registry.get_model_version_by_alias("churn", "champion").version == 2
    assert registry.get_registered_model("churn").aliases == {"champion": 2}
    registry.delete_registered_model_alias("churn", "champion")
    with pytest.raises(
        InvalidParameterValue, match=r"^Registered model alias champion not found\.$"
    ):
        registry.get_model_version_by_alias("churn", "champion")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", r"'latest' alias name \(case insensitive\) is reserved\."),
        ("v3", r"Version alias name 'v3' is reserved\."),
        ("a b", r"Invalid alias name: 'a b'\. Names may only contain alphanumerics"),
        ("", r"Registered model alias name cannot be empty\."),
    ],
)
def test_reserved_and_bad_aliases(registry: RegistryService, alias: str, message: str) -> None:
    registry.create_registered_model("churn")
    registry.create_model_version("churn", "s3://b/1")
    with pytest.raises(InvalidParameterValue, match=message):
        registry.set_registered_model_alias("churn", alias, 1)


def test_stages(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    for n in (1, 2, 3):
        registry.create_model_version("churn", f"s3://b/{n}")
    registry.transition_model_version_stage("churn", 1, "production")  # any case
    registry.transition_model_version_stage("churn", 2, "Staging")
    registry.transition_model_version_stage(
        "churn", 3, "Production", archive_existing_versions=True
    )
    stages = {v: registry.get_model_version("churn", v).current_stage for v in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Staging", 3: "Production"}
    assert [v.version for v in registry.get_latest_versions("churn", "Production")] == [3]
    with pytest.raises(InvalidParameterValue, match="'Archived' is not an Active stage"):
        registry.transition_model_version_stage(
            "churn", 1, "Archived", archive_existing_versions=True
        )
    with pytest.raises(InvalidParameterValue, match="expected true or false"):
        registry.transition_model_version_stage("churn", 1, "Staging", "yes")  # type: ignore[arg-type]


def test_every_change_is_an_event_by_the_acting_user(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    registry.create_model_version("churn", "s3://b/1")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.rename_registered_model("churn", "attrition")
    events = list(registry.get_registry_events("attrition"))
    assert [e.action for e in events] == [
        RegistryAction.MODEL_CREATED,
        RegistryAction.VERSION_CREATED,
        RegistryAction.ALIAS_SET,
        RegistryAction.MODEL_RENAMED,
    ]
    assert {e.claimed_user for e in events} == {"alice"}
    first = registry.get_registry_events(max_results=3)
    assert len(first) == 3
    rest = registry.get_registry_events(max_results=3, page_token=first.token)
    assert [e.action for e in rest] == [RegistryAction.MODEL_RENAMED]
    assert rest.token is None
    with pytest.raises(InvalidParameterValue, match=r"^Invalid registry action 'nope': expected"):
        registry.get_registry_events(actions="nope")
    with pytest.raises(InvalidParameterValue, match=r"^Invalid page token 'x"):
        registry.get_registry_events(page_token="x")


def test_the_acting_user_is_cut_to_its_column_and_never_empty() -> None:
    ACTING_USER.set("")
    assert acting_user() == "unknown"
    ACTING_USER.set("a" * 300)
    assert acting_user() == "a" * 256


def test_missing_names_and_versions(registry: RegistryService) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"^Registered Model with name=nope not found$"):
        registry.get_registered_model("nope")
    with pytest.raises(ResourceDoesNotExist, match=r"^Registered Model with name=nope not found$"):
        registry.create_model_version("nope", "s3://b/1")
    registry.create_registered_model("churn")
    with pytest.raises(
        ResourceDoesNotExist, match=r"^Model Version \(name=churn, version=7\) not found$"
    ):
        registry.get_model_version("churn", 7)
    with pytest.raises(
        ResourceDoesNotExist, match=r"^Model Version \(name=churn, version=7\) not found$"
    ):
        registry.delete_model_version("churn", 7)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("one", r"^Parameter 'version' must be an integer, got 'one'\.$"),
        (0, r"^Parameter 'version' must be a positive integer, got '0'\.$"),
        (2**63, r"^Parameter 'version' must fit in 64 bits, got '9223372036854775808'\. "),
    ],
)
def test_invalid_versions(registry: RegistryService, version: object, message: str) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValue, match=message):
        registry.get_model_version("churn", version)  # type: ignore[arg-type]


def test_the_largest_version_number_is_valid_but_absent(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(ResourceDoesNotExist, match=r"version=9223372036854775807\) not found"):
        registry.get_model_version("churn", 2**63 - 1)


def test_a_version_needs_a_source(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(
        InvalidParameterValue, match=r"^Missing value for required parameter 'source'"
    ):
        registry.create_model_version("churn", "")


def test_the_tracking_service_holds_one_over_its_store(store: SqlStore) -> None:
    service = TrackingService(store)
    assert isinstance(service.registry, RegistryService)
    assert service.registry is service.registry
    assert service.registry.store is store
    service.registry.create_registered_model("churn")
    assert service.registry.get_registered_model("churn").name == "churn"
    assert not hasattr(service, "get_registered_model")  # one way in: service.registry


def test_a_store_without_a_registry() -> None:
    service = TrackingService(object())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedYet, match=r"^object has no model registry$"):
        service.registry.get_registered_model("churn")
