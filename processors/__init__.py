"""Image processors that pman runs as jobs: each reads ``incoming/`` and writes ``outgoing/``."""
