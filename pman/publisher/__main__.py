import sys

from pman.publisher import cli

sys.exit(cli.main())
