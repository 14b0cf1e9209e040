"""Run a CLI main in-process the way its entry point does: exit code, stdout, stderr."""

import pytest

from orals23_shared.cli import run_cli


def run(main, argv, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err
