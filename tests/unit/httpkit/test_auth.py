"""Token auth: the [AUTH TOKENS] file format of the originals, constant-time checks, no leaks."""
import pytest

from httpkit import auth


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "pfioh_config.cfg"
    path.write_text("[AUTH TOKENS]\nexample_token = password\nsecond = s3cret\n")
    return path


def test_cfg_tokens_accept_every_value(cfg):
    store = auth.TokenStore.from_file(cfg)
    assert store.check("bearer password") is auth.Verdict.ok
    assert store.check("Bearer s3cret") is auth.Verdict.ok


def test_token_is_last_word_of_header(cfg):
    assert auth.TokenStore.from_file(cfg).check("bearer   password") is auth.Verdict.ok


@pytest.mark.parametrize("header,verdict", [
    (None, auth.Verdict.missing), ("", auth.Verdict.missing), ("   ", auth.Verdict.missing),
    ("bearer wrong", auth.Verdict.invalid), ("bearer passwor", auth.Verdict.invalid),
    ("bearer password2", auth.Verdict.invalid), ("bearer example_token", auth.Verdict.invalid),
])
def test_bad_headers(cfg, header, verdict):
    assert auth.TokenStore.from_file(cfg).check(header) is verdict


def test_plain_file_one_token_per_line(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("# comment\nalpha\n\nbeta\n")
    store = auth.TokenStore.from_file(path)
    assert store.check("bearer beta") is auth.Verdict.ok
    assert store.check("bearer # comment") is auth.Verdict.invalid


def test_repr_never_shows_tokens(cfg):
    text = repr(auth.TokenStore.from_file(cfg)) + str(auth.TokenStore.from_file(cfg))
    assert "password" not in text and "s3cret" not in text


@pytest.mark.parametrize("content,needle", [
    ("[OTHER]\na = b\n", "missing section [AUTH TOKENS]"),
    ("[AUTH TOKENS]\n", "no token found"),
    ("not an ini file", "not a valid .cfg"),
])
def test_bad_token_files_name_the_problem(tmp_path, content, needle):
    path = tmp_path / "bad.cfg"
    path.write_text(content)
    with pytest.raises(auth.TokenFileError) as e:
        auth.TokenStore.from_file(path)
    assert needle in str(e.value) and str(path) in str(e.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(auth.TokenFileError, match="nope.cfg"):
        auth.TokenStore.from_file(tmp_path / "nope.cfg")


@pytest.mark.parametrize("header,reason", [
    (None, "missing token: send 'Authorization: bearer <token>'"),
    ("bearer wrong", "invalid token"),
    ("bearer password", None),
])
def test_refusal_names_why(cfg, header, reason):
    assert auth.TokenStore.from_file(cfg).refusal(header) == reason
