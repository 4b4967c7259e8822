"""factory.create: the local engine by default, others imported only when chosen, clear errors."""
import sys

import pytest

import pman.engines.kube
from pman import config
from pman.engines import base, factory
from pman.engines.kube import openshift
from pman.engines.local import engine as local


def cfg(tmp_path, engine="local"):
    return config.from_sources({"workdir": str(tmp_path), "engine": engine}, {})


def test_local_is_the_default(tmp_path):
    c = config.from_sources({"workdir": str(tmp_path)}, {})
    engine = factory.create(c.engine, c.engine_settings)
    try:
        assert isinstance(engine, local.LocalEngine) and engine.name == "local"
        assert engine.settings is c.local
        assert (tmp_path / "pman.sqlite").exists()
    finally:
        engine.close()


@pytest.mark.parametrize("name", ["kubernetes", "openshift"])
def test_the_chosen_module_creates_the_engine_from_its_group(monkeypatch, tmp_path, name):
    module = factory.load(name)
    monkeypatch.setattr(module, "create", lambda settings: ("created", name, settings))
    c = cfg(tmp_path, name)
    assert factory.create(c.engine, c.engine_settings) == ("created", name, c.kube)


def test_load_maps_names_to_modules():
    assert factory.load("local") is local and factory.load("openshift") is openshift
    assert set(factory.NAMES) == {"local", "kubernetes", "openshift"}


def test_unknown_engine_is_an_engine_error():
    with pytest.raises(base.EngineError, match="unknown engine 'swarm'"):
        factory.load("swarm")


def test_missing_module_is_an_engine_error(monkeypatch):
    # As if the cluster client libraries were not installed: the import fails.
    monkeypatch.delattr(pman.engines.kube, "kubernetes", raising=False)
    monkeypatch.setitem(sys.modules, "pman.engines.kube.kubernetes", None)
    with pytest.raises(base.EngineError, match="kubernetes engine is not available"):
        factory.load("kubernetes")
