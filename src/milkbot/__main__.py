"""``python -m milkbot`` runs the CLI."""

from milkbot.cli import main

main()
