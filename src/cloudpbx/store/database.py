"""Opening the database: URL normalisation, SQLite pragmas, migrations."""

import os
from contextvars import ContextVar
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cloudpbx.store.errors import Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"

# CLOUDPBX_COUNT_SQL=1 counts the SQL statements run while `statements` holds a counter (the API's
# x-sql-statements header), so benchmarks can prove a request is not N+1.
COUNT_SQL = os.environ.get("CLOUDPBX_COUNT_SQL") == "1"
statements: ContextVar[list[int] | None] = ContextVar("sql_statements", default=None)


def count_statement(*_args) -> None:
    counter = statements.get()
    if counter is not None:
        counter[0] += 1


def default_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'cloudpbx.db'}"


def async_url(url: str) -> str:
    """Accept plain `sqlite:` and `postgresql:` URLs and pick the async drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise Unavailable(f"invalid database URL {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise Unavailable(f"unsupported database {backend!r}: use sqlite or postgresql")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Take transaction control from the driver so reads share a snapshot and savepoints behave.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn) -> None:
    """Writers take the lock up front (IMMEDIATE), so two processes never deadlock upgrading a read lock."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")


def private_files(db_path: Path) -> None:
    """The database holds the token signing key and password hashes: its files are 0600, and its folder 0700 when
    the folder is the platform's (created here, or holding nothing but the database's files), also when an older
    install made them readable by others. A folder shared with other files (a home, /tmp) keeps its mode. SQLite
    gives its -wal and -shm files the database's mode."""
    folder = db_path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if all(entry.name.startswith(db_path.name) for entry in folder.iterdir()):
        _tighten(folder, 0o700)
    if not db_path.exists():
        os.close(os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600))
    for path in (db_path, *(Path(f"{db_path}{tail}") for tail in ("-wal", "-shm", "-journal"))):
        if path.exists():
            _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o077:
        path.chmod(mode)


def create_engine(url: str) -> AsyncEngine:
    engine = _create_engine(async_url(url))
    if COUNT_SQL:
        event.listen(engine.sync_engine, "before_cursor_execute", count_statement)
    return engine


def _create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            private_files(Path(db_path))
        engine = create_async_engine(url, pool_size=8, max_overflow=8)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        async with engine.begin() as conn:
            cfg.attributes["connection"] = None

            def upgrade(sync_conn) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(upgrade)
    except (OSError, ConnectionError) as exc:
        raise Unavailable(f"database unreachable: {exc}") from exc
    except Exception as exc:  # driver errors differ per backend; all mean "cannot open"
        if exc.__class__.__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3")):
            raise Unavailable(f"database unreachable: {exc}".splitlines()[0]) from exc
        raise
