"""docker-compose.yml is a valid Compose file consistent with the code and the README.

There is no Docker engine here, so the file is checked the way `docker compose config` would check it: variables
interpolated from an env file (deploy/demo.env, deploy/production.env.example), then validated against the Compose
specification's JSON Schema (the copy vendored by check-jsonschema). `.ci/run` also runs `docker compose config`
itself when the machine has the compose plugin.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values

from shared.services import SERVICE_NAMES, settings_for
from shared.settings import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parent.parent
RAW = (ROOT / "docker-compose.yml").read_text()
ENV_FILES = {"demo": ROOT / "deploy" / "demo.env", "production": ROOT / "deploy" / "production.env.example"}
NATS_NODES = ("nats1", "nats2", "nats3")
SANDBOXES = ("carrier", "authority")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        operator, argument = match.group("op") or "", match.group("arg") or ""
        value = env.get(name)
        if operator in (":-", "-"):
            return value if value or (operator == "-" and value is not None) else argument
        if operator in (":?", "?") and (value is None or (operator == ":?" and not value)):
            raise MissingVariable(f"{name}: {argument}")
        return value or ""

    pattern = r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<plain>[A-Za-z_]\w*)"
    return re.sub(pattern, substitute, text)


def config(env_file: str) -> dict:
    return yaml.safe_load(interpolate(RAW, dict(dotenv_values(ENV_FILES[env_file]))))


COMPOSE = config("demo")
SERVICES = COMPOSE["services"]


def schema() -> dict:
    spec = importlib.util.find_spec("check_jsonschema.builtin_schemas.vendor")
    assert spec is not None and spec.submodule_search_locations
    return json.loads((Path(spec.submodule_search_locations[0]) / "compose-spec.json").read_text())


@pytest.mark.parametrize("env_file", sorted(ENV_FILES))
def test_the_file_is_valid_compose_with_each_env_file(env_file):
    jsonschema.validate(config(env_file), schema())


def test_production_refuses_to_start_without_the_real_endpoints():
    with pytest.raises(MissingVariable, match="SILKGATE_POSTAL_DEFAULT_CARRIER_URL|SILKGATE_CUSTOMS_AUTHORITY_URL"):
        interpolate(RAW, {})


def test_the_schema_check_catches_a_broken_file():
    broken = yaml.safe_load(RAW.replace("condition: service_healthy", "condition: healthy_please"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(interpolate(yaml.safe_dump(broken), dict(dotenv_values(ENV_FILES["demo"])))),
                            schema())


def test_three_jetstream_nodes_form_one_cluster_on_their_own_volumes_with_no_published_port():
    for node in NATS_NODES:
        nats = SERVICES[node]
        command = nats["command"]
        assert "-js" in command and command[command.index("--name") + 1] == node
        store = command[command.index("-sd") + 1]
        volume, _, mount = nats["volumes"][0].partition(":")
        assert mount == store and volume in COMPOSE["volumes"]
        routes = command[command.index("--routes") + 1].split(",")
        assert sorted(routes) == [f"nats-route://{other}:6222" for other in NATS_NODES if other != node]
        assert command[command.index("--cluster_name") + 1] == "silkgate"
        assert "ports" not in nats, "NATS stays inside the compose network"
        assert "healthcheck" in nats
    assert len({SERVICES[node]["volumes"][0] for node in NATS_NODES}) == 3


def test_infrastructure_postgres_and_the_migration_job():
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    init_sql = (ROOT / "deploy" / "postgres-init.sql").read_text()
    urls = [value for service in SERVICES.values() for key, value in (service.get("environment") or {}).items()
            if key.endswith("_DATABASE_URL")]
    for url in urls:
        assert f"CREATE DATABASE {url.rsplit('/', 1)[1]};" in init_sql, url


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_an_api_and_a_worker_container_consistent_with_its_settings(service):
    api, worker = SERVICES[service], SERVICES[f"{service}-worker"]
    assert api["command"] == ["serve", service, "--role", "api"]
    assert worker["command"] == ["serve", service, "--role", "worker"]
    port = DEFAULT_PORTS[service]
    assert api["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(api["healthcheck"]["test"])
    assert "127.0.0.1:9100/metrics" in " ".join(worker["healthcheck"]["test"])
    assert worker["environment"][f"SILKGATE_{service.upper()}_WORKER_METRICS_PORT"] == "9100"
    for container in (api, worker):
        assert container["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        for node in NATS_NODES:
            assert container["depends_on"][node]["condition"] == "service_healthy"
        env = container["environment"]
        assert env["SILKGATE_NATS_URL"].split(",") == [f"nats://{node}:4222" for node in NATS_NODES]
        assert env["SILKGATE_NATS_STREAM_REPLICAS"] == "3"
        url = env[f"SILKGATE_{service.upper()}_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://") and url.endswith(f"/silkgate_{service}")
        assert env[f"SILKGATE_{service.upper()}_HOST"] == "0.0.0.0"


def test_every_long_running_container_has_a_health_check():
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue  # one-shot jobs (migrate, demo-keys): their exit code is their health
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_the_sandboxes_run_only_in_the_demo_profile_and_production_points_elsewhere():
    for name in (*SANDBOXES, "demo-keys"):
        assert SERVICES[name]["profiles"] == ["demo"], name
    for name, service in SERVICES.items():
        if name not in (*SANDBOXES, "demo-keys"):
            assert "profiles" not in service, f"{name} must run in production too"
    demo, production = dict(dotenv_values(ENV_FILES["demo"])), dict(dotenv_values(ENV_FILES["production"]))
    assert demo["SILKGATE_POSTAL_DEFAULT_CARRIER_URL"] == "http://carrier:8004/v1/manifests"
    assert demo["SILKGATE_CUSTOMS_AUTHORITY_URL"] == "http://authority:8005"
    for value in (production["SILKGATE_POSTAL_DEFAULT_CARRIER_URL"], production["SILKGATE_CUSTOMS_AUTHORITY_URL"]):
        assert value.startswith("https://") and "carrier:" not in value and "authority:" not in value
    carrier, authority = SERVICES["carrier"], SERVICES["authority"]
    assert "serve carrier" in carrier["entrypoint"][-1] and "/demo/carrier.key" in carrier["entrypoint"][-1]
    assert "serve authority" in authority["entrypoint"][-1] and "/demo/authority.key" in authority["entrypoint"][-1]
    assert carrier["environment"]["SILKGATE_CARRIER_POSTAL_URL"] == "http://postal:8003"
    assert authority["environment"]["SILKGATE_AUTHORITY_CUSTOMS_URL"] == "http://customs:8002"
    assert carrier["ports"] == ["8004:8004"] and authority["ports"] == ["8005:8005"]
    keys = SERVICES["demo-keys"]["command"][0]
    assert "--role carrier" in keys and "--role authority" in keys


def test_every_environment_variable_names_a_real_setting():
    prefixes = {"ORDERS": "orders", "CUSTOMS": "customs", "POSTAL": "postal", "CARRIER": "carrier",
                "AUTHORITY": "authority"}
    # Shared by every service (SILKGATE_ENV: shared.secrets).
    shared = {"SILKGATE_NATS_URL", "SILKGATE_NATS_STREAM_REPLICAS", "OTEL_EXPORTER_OTLP_ENDPOINT", "SILKGATE_ENV"}
    for name, service in SERVICES.items():
        if name == "postgres" or name in NATS_NODES:
            continue
        for variable in service.get("environment") or {}:
            if variable in shared:
                continue
            match = re.fullmatch(r"SILKGATE_([A-Z]+)_(\w+)", variable)
            assert match and match.group(1) in prefixes, f"{name}: unexpected variable {variable}"
            owner, field = prefixes[match.group(1)], match.group(2).lower()
            fields = type(settings_for(owner)).model_fields
            assert field in fields, f"{variable}: {owner} has no setting {field}"


def test_dockerfile_installs_the_package_and_runs_the_cli():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile and 'ENTRYPOINT ["silkgate"]' in dockerfile
    for path in ("shared", "services", "migrations", "alembic.ini"):
        assert path in dockerfile


def test_the_readme_production_steps_are_the_files_steps():
    """README's compose walk-through names every container and runs the commands the file's header gives."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running on PostgreSQL and a NATS cluster", 1)[1].split("\n## ", 1)[0]
    header_commands = [match.group(0).strip() for line in RAW.splitlines() if line.startswith("#")
                       for match in [re.search(r"(cp deploy/\S+ \.env|docker compose [^#(]*)", line)] if match]
    assert len(header_commands) == 3, header_commands
    for command in header_commands:
        assert command in section, command
    for name in SERVICES:
        assert f"`{name}`" in section, f"README does not describe the {name} container"
    for variable in dotenv_values(ENV_FILES["production"]):
        assert variable in section, variable
