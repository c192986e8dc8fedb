"""Alembic's environment for the gateway's store: run by ``gateway.migrate`` on a connection it
holds (and has locked), never from an alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import gateway.store  # noqa: F401 - the tables, on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
