"""Client side of pfioh: a small importable API and the ``pfioh-client`` command.

``pfioh.client.PfiohClient`` speaks the same protocol as pfurl and pfcon, so it works against
this project's pfioh and the original one.
"""
from pfioh.client.api import PLUGIN, ClientError, PfiohClient
from pfioh.client.cli import main

__all__ = ["PfiohClient", "ClientError", "PLUGIN", "main"]
