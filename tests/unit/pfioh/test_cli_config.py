"""The command line: flags to a validated PfiohConfig, failing fast with the flag named."""
import os

import pytest

from pfioh import cli, instance, config as config_mod, stores


def _config(*argv):
    return cli.config_from_args(cli.build_parser().parse_args(list(argv)))


def test_deployment_command_line(monkeypatch, tmp_path):
    monkeypatch.delenv("SWIFT_CREDENTIALS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = _config("--forever", "--httpResponse", "--swift-storage", "--createDirsAsNeeded", "--enableTokenAuth",
                  "--tokenPath=/etc/pfioh/auth/pfioh_config.cfg")
    assert cfg.forever and cfg.swift_storage and cfg.create_dirs and cfg.token_auth
    assert (cfg.host, cfg.port, cfg.store_base, cfg.swift_layout) == ("0.0.0.0", 5055, str(tmp_path / "data" / "pfioh"), "tree")
    assert cfg.swift_credentials is None


def test_defaults_without_forever_are_one_shot():
    assert _config().forever is False


def test_added_flags_and_sizes(monkeypatch, tmp_path):
    monkeypatch.setenv("SWIFT_CREDENTIALS", "/env/creds.cfg")
    cfg = _config("--storeBase", str(tmp_path), "--ip", "127.0.0.1", "--port", "6000", "--workers", "3",
                  "--threads", "4", "--max-upload-size", "2G", "--max-unpacked-size", "512M", "--max-ratio", "50",
                  "--swift-layout", "archive", "-v", "2")
    assert cfg.max_upload_size == 2 << 30 and cfg.max_unpacked_size == 512 << 20 and cfg.max_ratio == 50
    assert (cfg.workers, cfg.threads, cfg.port, cfg.verbosity, cfg.swift_layout) == (3, 4, 6000, 2, "archive")
    assert cfg.swift_credentials == "/env/creds.cfg"
    assert _config("--swift-credentials", "/flag.cfg").swift_credentials == "/flag.cfg"


@pytest.mark.parametrize("argv, word", [(["--port", "0"], "--port"), (["--workers", "0"], "--workers"),
                                        (["--max-ratio", "-1"], "--max-ratio")])
def test_invalid_values_name_the_flag(argv, word):
    with pytest.raises(config_mod.ConfigError, match=word):
        _config(*argv)


def test_bad_size_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        _config("--max-upload-size", "lots")
    assert "not a size" in capsys.readouterr().err


def test_main_fails_fast_on_a_bad_token_file(tmp_path, capsys):
    rc = cli.main(["--storeBase", str(tmp_path), "--enableTokenAuth", "--tokenPath", str(tmp_path / "missing.cfg")])
    assert rc == 2 and "missing.cfg" in capsys.readouterr().err


def test_sweep_removes_only_stopped_instances(tmp_path):
    """A second pfioh on the same storeBase must not empty the first one's staging."""
    staging = tmp_path / ".pfioh-staging"
    staging.mkdir()
    alive = instance.claim(staging)
    (staging / alive.name / "upload-x").write_bytes(b"in flight")
    dead = instance.claim(staging)
    (staging / dead.name / "work-y" / "tree").mkdir(parents=True)
    instance.release(dead)  # its server stopped
    (staging / "inst-0000000000000000").mkdir()  # no lock file at all: dead (see claim)
    (staging / "locks").mkdir()
    assert stores.sweep_staging(staging) == 2
    assert (staging / alive.name / "upload-x").read_bytes() == b"in flight"
    assert sorted(p.name for p in staging.iterdir()) == sorted([alive.name, alive.name + ".lock", "locks"])


def test_default_store_base_is_private(monkeypatch, tmp_path):
    """Not the world-writable /tmp, where anyone can plant key-<key> links: a 0700 directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = cli._preflight(_config(), private=True)
    assert cfg.store_base == str(tmp_path / "data" / "pfioh")
    assert os.stat(cfg.store_base).st_mode & 0o777 == 0o700
    assert cfg.staging_dir.parent == cfg.staging_root and cfg.staging_dir.is_dir()


@pytest.mark.parametrize("env, value, field, expected", [
    ("PFIOH_MAX_FILES", "500", "max_files", 500), ("PFIOH_MAX_DIRS", "7", "max_dirs", 7),
    ("PFIOH_LOCK_TIMEOUT", "2.5", "lock_timeout", 2.5)])
def test_limits_from_environment(monkeypatch, env, value, field, expected):
    monkeypatch.setenv(env, value)
    assert getattr(_config(), field) == expected


def test_limit_defaults_and_flags():
    cfg = _config()
    assert (cfg.max_files, cfg.max_dirs, cfg.lock_timeout) == (100_000, 10_000, 60.0)
    cfg = _config("--max-files", "10", "--max-dirs", "3", "--lock-timeout", "1")
    assert (cfg.max_files, cfg.max_dirs, cfg.lock_timeout) == (10, 3, 1.0)
    with pytest.raises(config_mod.ConfigError, match="--lock-timeout"):
        _config("--lock-timeout", "0")
