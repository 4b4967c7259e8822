"""pman-swift-publisher: moves a job's data between Swift and its /share directories.

:mod:`pman.publisher.cli` is the entry point; it uses only :mod:`swiftstore`.
"""
