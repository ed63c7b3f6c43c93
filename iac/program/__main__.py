"""`python -m iac.program`, or a Pulumi project whose `main` is this package's folder."""

from iac.program.deploy import main

main()
