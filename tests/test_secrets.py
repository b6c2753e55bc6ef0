"""Secrets from the environment: `silkgate secrets init`, compose reading them, and production mode refusing known
defaults, empty secrets and sandbox conveniences."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from shared.cli import main
from shared.natsserver import free_port, nats_server_binary
from shared.secrets import init_secrets, production_problems
from shared.services import settings_for

ROOT = Path(__file__).resolve().parent.parent


def test_secrets_init_writes_every_secret_once_private_on_the_host(tmp_path):
    directory = tmp_path / "secrets"
    result = CliRunner().invoke(main, ["secrets", "init", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    postgres = (directory / "postgres_password").read_text()
    assert len(postgres) >= 32
    for service in ("orders", "customs", "postal", "admin"):
        assert len((directory / "nats" / f"{service}.password").read_text()) >= 32
    auth = json.loads((directory / "nats_auth.conf").read_text())
    users = {user["user"] for user in auth["authorization"]["users"]}
    assert users == {"orders", "customs", "postal", "admin"}
    assert all(user["password"].startswith("$2") for user in auth["authorization"]["users"])  # hashes only
    assert postgres not in (directory / "nats_auth.conf").read_text()
    again = CliRunner().invoke(main, ["secrets", "init", "--dir", str(directory)])
    assert again.exit_code == 0 and (directory / "postgres_password").read_text() == postgres  # kept


def test_nats_server_accepts_the_generated_authorization(tmp_path):
    init_secrets(tmp_path / "s")
    checked = subprocess.run([nats_server_binary(), "-c", str(tmp_path / "s" / "nats_auth.conf"), "-js", "-sd",
                              str(tmp_path / "js"), "-p", str(free_port()), "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_compose_has_no_default_password_and_does_not_publish_nats():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    nodes = [name for name in services if name.startswith("nats")]
    assert nodes == ["nats1", "nats2", "nats3"]
    for node in nodes:
        assert "ports" not in services[node], node
        assert "/run/secrets/nats_auth_conf" in services[node]["command"], node
    assert "silkgate:silkgate@" not in text and "POSTGRES_PASSWORD:" not in text
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert secret["file"].startswith("./secrets/"), name
    for service in ("orders", "customs", "postal"):
        for container in (service, f"{service}-worker"):
            env = services[container]["environment"]
            assert env["SILKGATE_ENV"] == "${SILKGATE_ENV:-production}"  # production unless .env says demo
            assert "@postgres" in env[f"SILKGATE_{service.upper()}_DATABASE_URL"]
            assert ":" not in env[f"SILKGATE_{service.upper()}_DATABASE_URL"].split("//")[1].split("@")[0]
            password_file = env[f"SILKGATE_{service.upper()}_NATS_PASSWORD_FILE"]
            mounted = services[container]["secrets"]
            assert password_file == f"/run/secrets/nats_{service}_password" and f"nats_{service}_password" in mounted
            assert not [s for s in mounted if s.startswith("nats_") and s != f"nats_{service}_password"]
    assert "webhook_secret_keys" in services["orders"]["secrets"]


def production_settings(service: str, monkeypatch, **env: str):
    for key in list(os.environ):
        if key.startswith("SILKGATE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings_for(service)


def test_production_refuses_default_and_empty_secrets(tmp_path, monkeypatch):
    settings = production_settings("orders", monkeypatch, SILKGATE_ORDERS_DATABASE_URL=
                                   "postgresql+asyncpg://silkgate:silkgate@db/silkgate_orders")
    problems = " | ".join(production_problems(settings))
    assert "database password" in problems and "NATS credentials" in problems and "webhook secret" in problems

    init_secrets(tmp_path)
    good = production_settings(
        "orders", monkeypatch,
        SILKGATE_ORDERS_DATABASE_URL="postgresql+asyncpg://silkgate@db/silkgate_orders",
        SILKGATE_ORDERS_DATABASE_PASSWORD_FILE=str(tmp_path / "postgres_password"),
        SILKGATE_ORDERS_NATS_PASSWORD_FILE=str(tmp_path / "nats" / "orders.password"),
        SILKGATE_ORDERS_WEBHOOK_SECRET_KEYS_FILE=str(tmp_path / "webhook_secret_keys"))
    assert production_problems(good) == []
    assert (tmp_path / "postgres_password").read_text() in good.resolved_database_url()

    weak = tmp_path / "weak"
    weak.write_text("changeme")
    assert production_problems(good.model_copy(update={"nats_password_file": str(weak)}))
    assert production_problems(good.model_copy(update={"webhook_allow_loopback": True}))


def test_postal_in_production_refuses_the_sandbox(tmp_path, monkeypatch):
    init_secrets(tmp_path)
    settings = production_settings(
        "postal", monkeypatch, SILKGATE_POSTAL_DATABASE_URL="postgresql+asyncpg://silkgate@db/silkgate_postal",
        SILKGATE_POSTAL_DATABASE_PASSWORD_FILE=str(tmp_path / "postgres_password"),
        SILKGATE_POSTAL_NATS_PASSWORD_FILE=str(tmp_path / "nats" / "postal.password"), SILKGATE_POSTAL_SANDBOX="true")
    assert any("SANDBOX" in problem for problem in production_problems(settings))


@pytest.mark.parametrize("service", ["orders", "customs", "postal"])
def test_a_service_refuses_to_start_in_production_with_defaults(service, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILKGATE_")}
    env.update({"SILKGATE_ENV": "production", "SILKGATE_DATA_DIR": str(tmp_path),
                f"SILKGATE_{service.upper()}_PORT": str(free_port())})
    started = subprocess.run([sys.executable, "-m", "shared.cli", "serve", service, "--role", "api"], env=env,
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert started.returncode == 2
    assert "refusing to start in production" in started.stderr and "NATS credentials" in started.stderr
