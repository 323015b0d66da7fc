"""Alembic environment of the metadata index.

Run programmatically only (``Index.upgrade``): the caller passes an open
connection inside its own transaction in ``config.attributes["connection"]``,
so the engine's settings (SQLite pragmas, explicit BEGIN) apply to migrations
too and there is no ``alembic.ini`` to keep in step.
"""

from __future__ import annotations

from alembic import context

from earsiv.indexer.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through earsiv.indexer.db.Index.upgrade(), which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
