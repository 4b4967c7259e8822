"""The local engine's job table, in SQLite, shared by pman and the detached job runners.

pman inserts and reads jobs; each runner updates its own row as its steps start and finish, so the
state survives a restart of pman.  WAL mode lets readers (status requests) and the writing
runners proceed at once; ``BEGIN IMMEDIATE`` serialises the scheduling decisions of several processes.
"""
from __future__ import annotations

import datetime
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pman.engines.local import privileges

# state: queued -> running -> done.  status: the pfcon word (only meaningful once done).
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    jid TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    plan TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    step TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'notstarted',
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    step_codes TEXT NOT NULL DEFAULT '{}',
    submitted_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    runner_pid INTEGER,
    runner_start TEXT,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class DuplicateJob(Exception):
    """A job with this jid is already in the table."""


@dataclass(frozen=True)
class JobRow:
    jid: str
    spec: dict
    plan: dict
    state: str
    step: str
    status: str
    reason: str
    message: str
    exit_code: int | None
    step_codes: dict
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    runner_pid: int | None
    runner_start: str | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "JobRow":
        data = dict(row)
        data.pop("seq", None)
        for name in ("spec", "plan", "step_codes"):
            data[name] = json.loads(data[name])
        return cls(**data)


def now_iso() -> str:
    """UTC, ISO 8601 with microseconds."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class JobStore:
    """Thread-safe access to the job table: one SQLite connection per thread."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        # Before SQLite opens it: 0600, and its -wal/-shm files get the same mode from SQLite.
        privileges.private_file(Path(path))
        # executescript commits by itself: not inside transaction().  IF NOT EXISTS makes it idempotent.
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def insert(self, jid: str, spec: dict, plan: dict) -> JobRow:
        """:raises DuplicateJob:"""
        with self.transaction() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            try:
                db.execute("INSERT INTO jobs (jid, spec, plan, submitted_at, seq) VALUES (?, ?, ?, ?, ?)",
                           (jid, json.dumps(spec), json.dumps(plan), now_iso(), seq))
            except sqlite3.IntegrityError:
                raise DuplicateJob(jid) from None
        return self.get(jid)

    def get(self, jid: str) -> JobRow | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE jid = ?", (jid,)).fetchone()
        return JobRow.from_sql(row) if row else None

    def in_state(self, state: str) -> list[JobRow]:
        rows = self._conn().execute("SELECT * FROM jobs WHERE state = ? ORDER BY seq", (state,)).fetchall()
        return [JobRow.from_sql(r) for r in rows]

    def update(self, jid: str, **values) -> None:
        """Set columns of one row (dicts are stored as JSON).  A deleted row is silently skipped."""
        if not values:
            return
        for name in ("spec", "plan", "step_codes"):
            if name in values:
                values[name] = json.dumps(values[name])
        names = ", ".join(f"{name} = ?" for name in values)
        self._conn().execute(f"UPDATE jobs SET {names} WHERE jid = ?", (*values.values(), jid))

    def delete(self, jid: str) -> bool:
        return self._conn().execute("DELETE FROM jobs WHERE jid = ?", (jid,)).rowcount > 0

    def set_setting(self, name: str, value) -> None:
        self._conn().execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    def setting(self, name: str, default=None):
        row = self._conn().execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
