"""What pfioh-client and pman-client promise alike: help text on every subcommand and argument
(defaults shown), and one exit status convention, documented in --help: 0 success, 1 failure
(a server error reply, no server, an I/O error), 2 usage error."""
import argparse
import socket

import pytest

from pfioh.client import cli as pfioh_cli
from pman import client as pman_cli

CLIENTS = {"pfioh-client": (pfioh_cli._parser, pfioh_cli.main),
           "pman-client": (pman_cli._parser, pman_cli.main)}


def _actions(parser: argparse.ArgumentParser, path: str):
    """``(where, action)`` for every argument of ``parser`` and of its subcommands, recursively;
    a subcommand itself appears as the pseudo-action that carries its help in the list."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield path, action
            yield from ((path, choice) for choice in action._choices_actions)
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


@pytest.mark.parametrize("prog", CLIENTS)
def test_every_subcommand_and_argument_has_help(prog):
    parser = CLIENTS[prog][0]()
    actions = list(_actions(parser, prog))
    assert sum(isinstance(a, argparse._SubParsersAction) for _, a in actions) == 1
    assert len(actions) > 15  # the walk reached into the subcommands
    missing = [f"{where}: {action.dest}" for where, action in actions
               if not (action.help or "").strip() or action.help == argparse.SUPPRESS]
    assert missing == []


@pytest.mark.parametrize("prog", CLIENTS)
def test_every_default_is_shown_in_the_help(prog):
    undocumented = [f"{where}: {'/'.join(action.option_strings)}"
                    for where, action in _actions(CLIENTS[prog][0](), prog)
                    if action.option_strings and action.default not in (None, False, "", argparse.SUPPRESS)
                    and "%(default)" not in (action.help or "")]
    assert undocumented == []


@pytest.mark.parametrize("prog, timeout", [("pfioh-client", "300"), ("pman-client", "60")])
def test_help_shows_the_timeout_default_and_the_exit_statuses(prog, timeout):
    text = CLIENTS[prog][0]().format_help()
    assert f"(default {timeout})" in " ".join(text.split())
    section = text[text.index("exit status:"):text.index("examples:")].split()
    assert [section[section.index(code) + 1] for code in "012"] == ["success", "failure:", "usage"]


@pytest.fixture
def refusing_url():
    """An address that refuses connections: a socket bound but not listening (held for the test,
    so no other process can take the port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("prog, argv", [("pfioh-client", ["--pfioh", "{url}", "hello"]),
                                        ("pfioh-client", ["--pfioh", "{url}", "pull", "k", "out"]),
                                        ("pman-client", ["--pman", "{url}", "status", "j"])])
def test_no_server_is_a_failure_exit_1(prog, argv, refusing_url, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CLIENTS[prog][1]([a.format(url=refusing_url) for a in argv]) == 1
    assert "Connection refused" in capsys.readouterr().err


@pytest.mark.parametrize("prog", CLIENTS)
@pytest.mark.parametrize("argv", [["no-such-command"], ["--no-such-flag", "hello"], ["--url", "http://", "hello"]])
def test_bad_arguments_are_a_usage_error_exit_2(prog, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        CLIENTS[prog][1](argv)
    assert exc.value.code == 2 and capsys.readouterr().err.startswith(f"usage: {prog}")
