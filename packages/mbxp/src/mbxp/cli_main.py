"""``python -m mbxp.cli_main <command> ...``: the console scripts without installing them."""

from __future__ import annotations

import sys

from mbxp import cli
from orals23_shared.cli import run_cli

COMMANDS = {
    "mbxp-evaluate": cli.evaluate_main,
    "mbxp-convert": cli.convert_main,
    "mbxp-validate": cli.validate_main,
    "mbxp-generate": cli.generate_main,
    "mbxp-reproduce": cli.reproduce_main,
    "mbxp-bench": cli.bench_main,
    "mbxp-download": cli.download_main,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m mbxp.cli_main {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    name = sys.argv.pop(1)
    sys.argv[0] = name
    run_cli(COMMANDS[name])
