"""Alembic environment: runs migrations over the store's async engine."""

import asyncio

from alembic import context

from cloudpbx.store.tables import metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = context.config.attributes["engine"]
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_main())
