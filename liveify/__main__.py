"""`python -m liveify` runs the command line."""

from liveify.cli import main

main()
