"""get_engine: the local engine by default, others imported only when chosen, clear errors."""
import sys
import types

import pytest

from pman import config, engines
from pman.engines import base, local
from tests.unit.pman.fake_engine import FakeEngine


def cfg(tmp_path, engine="local"):
    return config.from_sources({"workdir": str(tmp_path), "engine": engine}, {})


def test_local_is_the_default(tmp_path):
    engine = engines.get_engine(config.from_sources({"workdir": str(tmp_path)}, {}))
    try:
        assert isinstance(engine, local.LocalEngine) and engine.name == "local"
        assert (tmp_path / "pman.sqlite").exists()
    finally:
        engine.close()


def test_module_with_create(monkeypatch, tmp_path):
    module = types.ModuleType("pman.engines.kubernetes")
    module.create = lambda c: ("created", c.namespace)
    monkeypatch.setitem(sys.modules, "pman.engines.kubernetes", module)
    assert engines.get_engine(cfg(tmp_path, "kubernetes")) == ("created", "chris")


def test_module_with_one_engine_class(monkeypatch, tmp_path):
    module = types.ModuleType("pman.engines.openshift")

    class OpenShiftEngine(FakeEngine):
        @classmethod
        def from_config(cls, c):
            engine = cls()
            engine.config = c
            return engine
    OpenShiftEngine.__module__ = module.__name__
    module.OpenShiftEngine, module.base = OpenShiftEngine, base
    monkeypatch.setitem(sys.modules, "pman.engines.openshift", module)
    engine = engines.get_engine(cfg(tmp_path, "openshift"))
    assert isinstance(engine, OpenShiftEngine) and engine.config.engine == "openshift"


def test_missing_module_is_an_engine_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pman.engines.kubernetes", None)  # import raises ImportError
    with pytest.raises(base.EngineError, match="kubernetes engine is not available"):
        engines.get_engine(cfg(tmp_path, "kubernetes"))
