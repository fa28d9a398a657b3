"""``python -m conexus`` runs the CLI."""

from conexus.cli import main

main()
