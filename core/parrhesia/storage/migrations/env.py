"""Alembic environment: always driven from parrhesia.storage.migrate with a live connection."""

from alembic import context

from parrhesia.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
