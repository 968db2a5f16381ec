"""Alembic environment: runs migrations against the URL core.db passes in."""

from alembic import context
from sqlmodel import SQLModel

from core.db import get_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Migrate using a connection from the shared engine."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    with get_engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
