"""Alembic migration scripts (shipped as package data; run through ``storage.migrate``)."""
