"""Flightlog: the system of record for multi-agent AI workflows."""

__version__ = "0.1.0"
