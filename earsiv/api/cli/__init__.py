"""The ``earsiv`` command line (``main.cli``); each command module holds a few commands."""

from earsiv.api.cli.main import cli, main

__all__ = ["cli", "main"]
