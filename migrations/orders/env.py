"""Alembic environment of the orders service."""

from shared.migrate import run_env

run_env("orders")
