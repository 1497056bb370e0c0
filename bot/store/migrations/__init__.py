"""Alembic migrations of the store (run programmatically by `bot.store.migrate`)."""
