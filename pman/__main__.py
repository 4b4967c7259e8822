"""``python -m pman``: the same as the ``pman`` command."""
import sys

from pman import cli

sys.exit(cli.main())
