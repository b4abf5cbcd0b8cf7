"""The ``pifocus`` command line (also ``python -m octoprint_pifocus`` and ``octoprint plugins pifocus``).

Each sub-command lives in its own module with ``add_parser(subparsers)``, which registers the
command and sets ``func`` to a function taking the parsed arguments and returning an exit code.
Expected failures (:class:`~octoprint_pifocus.errors.PiFocusError`, ``ValueError``) print one
line to stderr and exit 1 (2 for usage errors): no tracebacks for things a user can fix.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..errors import PiFocusError
from ..redact import redact

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("score", "demo", "lens", "autofocus", "map")


def build_parser(prog: str = "pifocus") -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog=prog,
        description="PiFocus: camera focus by hand or automatically, without OctoPrint.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None, prog: str = "pifocus") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (PiFocusError, ValueError) as exc:
        print(f"{prog}: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
