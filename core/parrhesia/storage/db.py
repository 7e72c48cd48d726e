"""The database: one engine per application, one session per request.

SQLite (the default, for a laptop) runs in WAL mode with foreign keys on; PostgreSQL is
reached through psycopg 3 (``postgresql+psycopg://``). The schema is owned by Alembic
(:mod:`parrhesia.storage.migrate`); start-up refuses a database that is not at the head revision.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from parrhesia.offload import under_gevent

__all__ = ["make_engine", "init_app", "get_session"]

_EXTENSION = "parrhesia.db"


def make_engine(url: str) -> Engine:
    """Create an engine, normalising PostgreSQL URLs to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        writer = _WriterTurn()
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", writer.begin)
        event.listen(engine, "commit", writer.end)
        event.listen(engine, "rollback", writer.end)
        event.listen(engine, "checkin", writer.checked_in)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is replaced by _sqlite_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Under gevent SQLite must never sleep in C waiting for another process's lock: the
    # whole worker would stop; _WriterTurn.begin waits for it cooperatively instead.
    cursor.execute(f"PRAGMA busy_timeout={0 if under_gevent() else BUSY_TIMEOUT_MS}")
    # Deleted rows are overwritten rather than left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class _WriterTurn:
    """One SQLite transaction at a time in this process, waited for cooperatively.

    Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE): a
    transaction that read first and wrote later would fail at once, without waiting,
    when another writer committed in between (the audit log's read-then-append is one);
    taking the lock at the start makes concurrent writers wait their turn instead.
    Readers are not blocked: the database runs in WAL mode.

    SQLite waits for its lock by sleeping inside the C library (``busy_timeout``). Under
    the gevent workers every request of a process shares one thread, so a request that
    waited there would stop the very request holding the lock (which yields while it
    waits for an fsync or a thread) and both would fail with "database is locked". So
    the process's requests first take their turn on this lock, which a greenlet waits
    for without blocking the others. Another process's lock (a CLI command, ``tick``,
    a second worker) is waited for the same way: under gevent SQLite's busy timeout is
    0 and BEGIN IMMEDIATE is retried with cooperative sleeps. Made per engine, after
    gevent has patched the worker (the lock is then gevent's).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=_TURN_TIMEOUT):
            raise sqlite3.OperationalError("database is locked (no turn to write within the timeout)")
        connection.info[_HOLDS_TURN] = True
        try:
            self._begin_immediate(connection)
        except BaseException:
            self.end(connection)
            raise

    @staticmethod
    def _begin_immediate(connection: Any) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.005
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except DBAPIError as error:  # SQLITE_BUSY: another process writes
                if not under_gevent() or "locked" not in str(error.orig) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)  # gevent's sleep: the other requests go on
            pause = min(pause * 2, 0.1)

    def end(self, connection: Any) -> None:
        # The commit or rollback runs right after this, without yielding in between.
        self._give_back(connection.info)

    def checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        self._give_back(record.info)  # a connection returned to the pool mid-transaction

    def _give_back(self, info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_TURN, False):
            self._lock.release()


_HOLDS_TURN = "parrhesia.holds_write_turn"
_TURN_TIMEOUT = 120.0  # seconds in line behind the process's other writers (waiting costs nothing)
BUSY_TIMEOUT_MS = 10_000  # waiting for another process's write lock


def init_app(app: Flask, engine: Engine) -> None:
    """Attach an engine to the app and close the request's session at teardown."""
    app.extensions[_EXTENSION] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The session of the current application context."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[_EXTENSION]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
