"""Safe zip handling and all-or-nothing directories, shared by swiftstore, pfioh, its client and pman.

Standard library only, and it imports nothing of this project, so every package may use it
without depending on another.  The modules:

- :mod:`safearchive.entries`: the one policy for what an archive may hold (:class:`~safearchive.entries.Limits`,
  the name, type, duplicate and size checks), applied to the central directory before anything
  is written;
- :mod:`safearchive.unzip`: extraction and verification of checked entries;
- :mod:`safearchive.zipping`: listing a directory's regular files and zipping them;
- :mod:`safearchive.zipwrite`: a zip written as a stream, with members passed through compressed;
- :mod:`safearchive.probe`: whether a file is worth compressing, from a sample of it;
- :mod:`safearchive.staging`: a directory that appears complete or not at all (stage, then commit);
- :mod:`safearchive.errors`: the exceptions; each caller wraps them in its own types (pfioh: a
  limit is 413, anything else 400).

The policy, for every caller: entry names are relative POSIX paths (no absolute path, drive
letter, ``..``, backslash or NUL; ``.`` and empty components are dropped); only regular files and
directories (no symbolic links, devices or FIFOs); no name twice, and no name both a file and a
directory; at most ``max_files`` entries and ``max_bytes`` uncompressed bytes; above 1 MiB, no
entry and no archive compressed more than ``max_ratio``:1.  Sizes and CRCs are checked again
while the data flows, so a lying header is caught too.  The defaults are the server's (pfioh's
limits on what clients send); a caller with other needs passes its own :class:`Limits`.
"""
