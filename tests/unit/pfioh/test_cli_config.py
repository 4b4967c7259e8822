"""The command line: flags to a validated PfiohConfig, failing fast with the flag named."""
import pytest

from pfioh import cli, config as config_mod, stores


def _config(*argv):
    return cli.config_from_args(cli.build_parser().parse_args(list(argv)))


def test_deployment_command_line(monkeypatch, tmp_path):
    monkeypatch.delenv("SWIFT_CREDENTIALS", raising=False)
    cfg = _config("--forever", "--httpResponse", "--swift-storage", "--createDirsAsNeeded", "--enableTokenAuth",
                  "--tokenPath=/etc/pfioh/auth/pfioh_config.cfg")
    assert cfg.forever and cfg.swift_storage and cfg.create_dirs and cfg.token_auth
    assert (cfg.host, cfg.port, cfg.store_base, cfg.swift_layout) == ("0.0.0.0", 5055, "/tmp", "tree")
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


def test_sweep_staging_removes_leftovers_but_keeps_locks(tmp_path):
    staging = tmp_path / ".pfioh-staging"
    (staging / "locks").mkdir(parents=True)
    (staging / "locks" / "abc").write_text("")
    (staging / "upload-x").write_bytes(b"partial")
    (staging / "work-y" / "tree").mkdir(parents=True)
    assert stores.sweep_staging(staging) == 2
    assert sorted(p.name for p in staging.iterdir()) == ["locks"] and (staging / "locks" / "abc").exists()
