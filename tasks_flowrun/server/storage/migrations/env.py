"""Alembic's environment script, run by `alembic.command` (never imported otherwise): the
migrations run on the connection `prepare_schema` opened, inside the transaction it began
(see __init__.py), so that the stamp and every revision commit together or not at all."""
from alembic import context

context.configure(connection=context.config.attributes["connection"])
context.run_migrations()
