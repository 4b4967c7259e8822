"""pman-swift-publisher: moves a job's data between Swift and its /share directories.

:mod:`pman.publisher.cli` is the entry point; it uses :mod:`swiftstore`, :mod:`pman.resultdoc` (the
result object it writes after ``put --wait``) and :mod:`pman.publisher.wait`, never the engines.
"""
