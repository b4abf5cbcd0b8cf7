"""``octoprint plugins pifocus:<command>``: the engine's command line inside OctoPrint's.

The ``octoprint.cli.commands`` hook gets one click command per engine sub-command (``score``,
``demo``, ``lens``, ``autofocus``); OctoPrint names them ``pifocus:score`` and so on. Each
forwards its arguments untouched to :func:`octoprint_pifocus.cli.main`, so options and help
are the engine's own::

    octoprint plugins pifocus:lens probe
    octoprint plugins pifocus:autofocus --driver i2c --camera http://127.0.0.1:8080/snapshot
    octoprint plugins pifocus:lens --help
"""
from __future__ import annotations

from typing import List


def cli_commands(cli_group, pass_octoprint_ctx, *args, **kwargs) -> List:
    import click

    from .. import cli

    def make(name: str):
        @click.command(name=name, add_help_option=False,
                       context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                       help=f"The engine's '{name}' command (same options as 'pifocus {name}'; --help for them).")
        @click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
        @click.pass_context
        def command(ctx, arguments):
            code = cli.main([name] + list(arguments), prog="octoprint plugins pifocus")
            ctx.exit(code)

        return command

    return [make(name) for name in cli.COMMANDS]
