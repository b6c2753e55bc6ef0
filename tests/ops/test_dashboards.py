"""The Grafana dashboard and the Prometheus alert rules in deploy/ name only metrics (and labels) the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "silkgate.json").read_text())
ALERTS = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
PROMETHEUS_OWN = {"up"}  # what Prometheus records about each scrape


def exported() -> dict[str, set[str]]:
    """Every exported sample name (with _total/_bucket/_sum/_count) → its label names, once every service's
    modules are imported (each registers its metrics at import)."""
    for service in ("orders", "customs", "postal"):
        __import__(f"services.{service}.app")
    import shared.dlq  # noqa: F401 - registers silkgate_dead_letters

    names: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():  # noqa: SLF001 - the registry's own index
        names[name] = set(getattr(collector, "_labelnames", ()))
        if name.endswith("_bucket"):
            names[name].add("le")
    return names


def expressions() -> list[tuple[str, str]]:
    found = [(f"dashboard panel {panel['title']!r}", target["expr"])
             for panel in DASHBOARD["panels"] for target in panel["targets"]]
    found += [(f"alert {rule['alert']}", rule["expr"]) for group in ALERTS["groups"] for rule in group["rules"]]
    return found


SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(\{[^}]*\})?(?=\s*(\[|\)|$|>|<|=|!|\+|-|\*|/|\s|and|or))")
FUNCTIONS = {"sum", "rate", "increase", "histogram_quantile", "by", "and", "or", "on", "max", "min", "avg", "count",
             "without", "irate", "delta", "abs", "le"}


def metrics_in(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of each selector in a PromQL expression."""
    found = []
    for match in SELECTOR.finditer(re.sub(r"\bby\s*\([^)]*\)", " ", expr)):
        name, matchers = match.group(1), match.group(2) or ""
        if name in FUNCTIONS or name.isdigit():
            continue
        found.append((name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))))
    return found


@pytest.mark.parametrize(("where", "expr"), expressions(), ids=[where for where, _ in expressions()])
def test_every_metric_and_label_named_exists(where, expr):
    names = exported()
    metrics = metrics_in(expr)
    assert metrics, f"{where}: no metric found in {expr!r}"
    labels_available: set[str] = set()
    for name, labels in metrics:
        if name in PROMETHEUS_OWN:
            continue
        assert name in names, f"{where}: {name} is not exported by any service"
        assert labels <= names[name], f"{where}: {name} has no label {labels - names[name]}"
        labels_available |= names[name]
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        grouped = {label.strip() for label in group.split(",")}
        assert grouped <= labels_available | {"le"}, f"{where}: cannot group by {grouped - labels_available}"


def test_the_check_catches_a_misspelt_metric():
    assert metrics_in('sum(rate(silkgate_http_requestz_total{status="429"}[1m]))') == [
        ("silkgate_http_requestz_total", {"status"})]
    assert "silkgate_http_requestz_total" not in exported()


def test_the_dashboard_covers_what_operators_watch():
    text = json.dumps(DASHBOARD)
    for needle in ("order.accepted", "parcel.handed_off", "silkgate_consumer_pending", "silkgate_outbox_unsent",
                   "silkgate_dead_letters", 'status=\\"429\\"', "histogram_quantile(0.99"):
        assert needle in text, needle
    assert all(panel["targets"] for panel in DASHBOARD["panels"])


def test_every_alert_has_a_severity_and_a_summary():
    for group in ALERTS["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
