"""What loading trusts: no pickle unless the caller says so; only known types from skops."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

import labtrack as lt
from labtrack.models import UntrustedModelError

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("skops")


class Doubler(lt.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input * 2


def test_cloudpickled_python_model_needs_trust(tmp_path: Path) -> None:
    lt.pyfunc.save_model(Doubler(), tmp_path / "m")
    file = tmp_path / "m" / "python_model.pkl"
    with pytest.raises(UntrustedModelError) as caught:
        lt.pyfunc.load_model(tmp_path / "m")
    message = str(caught.value)
    assert str(file) in message
    assert "cloudpickle file" in message
    assert "runs any code" in message
    assert "trust_pickle=True" in message
    assert "LABTRACK_TRUST_PICKLE=1" in message
    model = lt.pyfunc.load_model(tmp_path / "m", trust_pickle=True)
    assert model.predict(pd.DataFrame({"x": [1]}))["x"].tolist() == [2]


def test_trust_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lt.pyfunc.save_model(Doubler(), tmp_path / "m")
    monkeypatch.setenv("LABTRACK_TRUST_PICKLE", "1")
    assert lt.pyfunc.load_model(tmp_path / "m").predict(np.array([1]))[0] == 2
    # an explicit False wins over the environment
    with pytest.raises(UntrustedModelError, match="it is a cloudpickle file"):
        lt.pyfunc.load_model(tmp_path / "m", trust_pickle=False)


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle"])
def test_pickled_sklearn_model_needs_trust(
    tmp_path: Path, sk_model: Any, frame: Any, fmt: str
) -> None:
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", serialization_format=fmt)
    with pytest.raises(UntrustedModelError, match=re.escape(f"it is a {fmt} file")):
        lt.sklearn.load_model(tmp_path / "m")
    with pytest.raises(UntrustedModelError, match=re.escape(f"it is a {fmt} file")):
        lt.pyfunc.load_model(tmp_path / "m")
    loaded = lt.pyfunc.load_model(tmp_path / "m", trust_pickle=True)
    assert loaded.predict(features).tolist() == sk_model.predict(features).tolist()


def _clipping_pipeline(frame: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    features, target = frame
    clip = FunctionTransformer(np.clip, kw_args={"a_min": -1.0, "a_max": 1.0})
    return make_pipeline(clip, LogisticRegression()).fit(features, target)


def test_functions_are_not_trusted_by_default(tmp_path: Path, frame: Any) -> None:
    """numpy.clip is a NumPy function, not a class: it must be named to be trusted."""
    model = _clipping_pipeline(frame)
    with pytest.raises(UntrustedModelError, match=re.escape("skops_trusted_types=['numpy.clip']")):
        lt.sklearn.save_model(model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    lt.sklearn.save_model(model, tmp_path / "m", skops_trusted_types=["numpy.clip"])
    with pytest.raises(UntrustedModelError) as caught:
        lt.sklearn.load_model(tmp_path / "m")
    message = str(caught.value)
    assert "model.skops" in message
    assert "not trusted by default" in message
    assert "trusted_types=['numpy.clip']" in message
    features, _ = frame
    loaded = lt.sklearn.load_model(tmp_path / "m", trusted_types=["numpy.clip"])
    assert loaded.predict(features).tolist() == model.predict(features).tolist()
    pyfunc = lt.pyfunc.load_model(tmp_path / "m", trusted_types=[np.clip])  # or the object
    assert pyfunc.predict(features).tolist() == model.predict(features).tolist()


def test_the_model_file_cannot_vouch_for_itself(tmp_path: Path, frame: Any) -> None:
    """A skops file naming os.system, with MLmodel listing it as trusted (as MLflow's
    loader would accept), is still refused."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    features, target = frame
    evil = make_pipeline(FunctionTransformer(os.system), LogisticRegression())
    evil.steps[1][1].fit(features, target)
    system = f"{os.system.__module__}.system"
    lt.sklearn.save_model(evil, tmp_path / "m", skops_trusted_types=[system])
    assert system in (tmp_path / "m" / "MLmodel").read_text()
    with pytest.raises(UntrustedModelError, match=re.escape(system)):
        lt.sklearn.load_model(tmp_path / "m")
    with pytest.raises(UntrustedModelError, match=re.escape(system)):
        lt.pyfunc.load_model(tmp_path / "m")


def test_other_classes_need_trusted_types(tmp_path: Path, frame: Any) -> None:
    import collections

    from sklearn.linear_model import LogisticRegression

    features, target = frame
    model = LogisticRegression().fit(features, target)
    model.history_ = collections.Counter({"a": 1})
    lt.sklearn.save_model(model, tmp_path / "m", skops_trusted_types=["collections.Counter"])
    with pytest.raises(UntrustedModelError, match=re.escape("['collections.Counter']")):
        lt.sklearn.load_model(tmp_path / "m")
    loaded = lt.sklearn.load_model(tmp_path / "m", trusted_types=["collections.Counter"])
    assert loaded.history_ == collections.Counter({"a": 1})


def test_lightgbm_classes_are_trusted_by_its_flavor_only(tmp_path: Path, frame: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    features, target = frame
    model = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(features, target)
    lt.lightgbm.save_model(model, tmp_path / "m")
    assert lt.lightgbm.load_model(tmp_path / "m").predict(features).tolist() == (
        model.predict(features).tolist()
    )
    # Loaded through the sklearn flavor's code (as if it were a plain sklearn model),
    # the LightGBM classes are not trusted.
    from labtrack.models._trust import Trust, load_skops

    with pytest.raises(UntrustedModelError, match="lightgbm"):
        load_skops(str(tmp_path / "m" / "model.skops"), Trust())
