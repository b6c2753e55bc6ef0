"""Alembic environment of the customs service."""

from shared.migrate import run_env

run_env("customs")
