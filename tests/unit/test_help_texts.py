"""--help is plain text that says what the program is (the docstrings it borrows from are reST)."""
import pytest

from pman import cli as pman_cli
from pman.publisher import cli as publisher_cli

REST_MARKUP = ("``", ":class:", ":mod:", ":func:")


@pytest.mark.parametrize("parser", [pman_cli.build_parser(), publisher_cli.build_parser()], ids=["pman", "publisher"])
def test_help_has_no_restructuredtext_markup(parser):
    text = parser.format_help()
    assert [m for m in REST_MARKUP if m in text] == []


def test_pman_help_keeps_the_notes_on_the_originals_flags():
    text = " ".join(pman_cli.build_parser().format_help().split())
    assert "--container-env picks the engine unless --engine is given" in text


def test_publisher_help_says_what_the_program_is_first():
    text = " ".join(publisher_cli.build_parser().format_help().split())
    description = text.split("} ...", 1)[1].strip()  # what follows the usage line
    assert description.startswith("pman-swift-publisher: the data steps of a ChRIS job whose data is in "
                                  "OpenStack Swift.")
    assert "runs 'get' before the processor" in description and "'put' after it" in description


def test_publisher_subcommands_are_described():
    text = publisher_cli.build_parser().format_help()
    assert "copy <key>/input/ into the incoming directory" in text
    assert "upload the outgoing directory to <key>/output/" in text
