"""``python -m flightlog`` runs the command line."""

from flightlog.cli import main

main()
