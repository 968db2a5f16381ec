"""The scheduler's tests run on a database of their own: its jobs act on every row."""

from collections.abc import Iterator

import pytest

from tests.notifications.support import own_database


@pytest.fixture(scope="session")
def scheduler_db_url() -> Iterator[str]:
    with own_database() as url:
        yield url


@pytest.fixture
def db_url(scheduler_db_url: str) -> str:
    """Overrides the suite's read model for this directory."""
    return scheduler_db_url
