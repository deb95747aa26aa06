"""The ``flightlog`` command line: thin commands over the same code the library uses."""

from __future__ import annotations

from flightlog.cli.app import app, main

__all__ = ["app", "main"]
