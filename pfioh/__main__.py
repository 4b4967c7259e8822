"""``python -m pfioh``: the same as the ``pfioh`` command."""
import sys

from pfioh import cli

sys.exit(cli.main())
