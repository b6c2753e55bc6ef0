"""Alembic environment of the postal service."""

from shared.migrate import run_env

run_env("postal")
