"""Alembic migrations of the zoo catalog (run programmatically by :mod:`recycle.zoo.catalog`)."""
