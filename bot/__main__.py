"""`python -m bot` runs the `recoup` command line."""

from bot.cli import main

main()
