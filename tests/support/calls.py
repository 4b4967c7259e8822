"""A stand-in callable that counts its calls (e.g. for httpkit.memory's trim)."""


class Calls:
    """Counts how often it is called."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
