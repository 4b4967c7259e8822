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


def test_scheme_is_bearer_in_any_case_and_spaces_are_free(cfg):
    store = auth.TokenStore.from_file(cfg)
    for header in ("bearer   password", "BEARER password", "  BeArEr password ",
                   "bearer password, bearer password", "bearer password,bearer password,bearer  password"):
        assert store.check(header) is auth.Verdict.ok


@pytest.mark.parametrize("header", [
    "Basic password", "token password", "x password", "password", "bearer", "bearer x password",
    "Bearer password extra", "Bearerpassword", "bearer password, bearer s3cret", "bearer password, Basic password",
    "bearer password,",
])
def test_only_the_bearer_scheme_with_one_token_passes(cfg, header):
    """Not any word before the token (issue 12.4): a valid token under another scheme is refused."""
    store = auth.TokenStore.from_file(cfg)
    assert store.check(header) is auth.Verdict.malformed
    assert store.refusal(header) == "malformed Authorization header: send 'Authorization: Bearer <token>'"


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
    assert store.check("bearer # comment") is not auth.Verdict.ok
    assert store.check("bearer #") is auth.Verdict.invalid


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
    (None, "missing token: send 'Authorization: Bearer <token>'"),
    ("bearer wrong", "invalid token"),
    ("bearer password", None),
])
def test_refusal_names_why(cfg, header, reason):
    assert auth.TokenStore.from_file(cfg).refusal(header) == reason


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.org", False),
])
def test_only_loopback_may_be_served_without_auth(host, loopback):
    problem = auth.exposure_problem(host, token_auth=False, insecure_open=False, flag="--insecure-open")
    assert (problem is None) is loopback
    if problem:
        assert "--insecure-open" in problem and "--enableTokenAuth" in problem
    assert auth.exposure_problem(host, token_auth=True, insecure_open=False, flag="x") is None
    assert auth.exposure_problem(host, token_auth=False, insecure_open=True, flag="x") is None
