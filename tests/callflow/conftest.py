"""The callflow engine runs in-process on a Platform opened over the served database; data goes in by the API."""

from __future__ import annotations

import pytest

from cloudpbx.config import Settings
from cloudpbx.platform import Platform


@pytest.fixture(scope="session")
async def platform(server):
    opened = await Platform.open(Settings(data_dir=server[1], db_url=server[2]))
    yield opened
    await opened.close()
