"""Fixtures for delivery tests: a database of their own, real SMTP and HTTP receivers."""

from collections.abc import Iterator

import pytest

from tests.notifications.support import (
    SECRET,
    Hooks,
    Mailbox,
    own_database,
    smtp_server,
    webhook_server,
)


@pytest.fixture(scope="session")
def notify_db_url() -> Iterator[str]:
    with own_database() as url:
        yield url


@pytest.fixture
def db_url(notify_db_url: str) -> str:
    """Overrides the suite's read model: pathways here write to this directory's database."""
    return notify_db_url


@pytest.fixture
def mail() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    with webhook_server(SECRET) as served:
        yield served
