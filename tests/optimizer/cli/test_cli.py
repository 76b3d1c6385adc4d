"""The ``tenantplan`` command as a whole: every subcommand answers ``--help``."""

import pytest

from optimizer.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_prints_its_help(command, capsys):
    # argparse exits 0 after printing help; a malformed help string raises instead.
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: tenantplan {command}" in capsys.readouterr().out


def test_unknown_subcommand_is_bad_input(capsys):
    assert main(["slove"]) == 2
    assert "invalid choice" in capsys.readouterr().err
