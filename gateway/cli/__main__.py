"""``python -m gateway.cli``: the same as the ``onevisit`` command."""

from gateway.cli import main

main()
