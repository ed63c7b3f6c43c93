"""`python -m iac` runs the command line."""

from iac.cli import main

main()
