"""`python -m rca_kit` is the `rca` command."""

from .cli import main

main()
