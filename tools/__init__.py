"""Developer tools (a loopback Swift and Keystone, the quickstart, socket helpers), run as modules
from the repository root: ``python -m tools.saio start``, ``python -m tools.keystone_aio env``."""
