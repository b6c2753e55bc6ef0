"""Issue 16 finding 10: every command finds the system where SILKGATE_DATA_DIR says it is (`up` used its own
./var default, so keys made with the variable landed in another database; `trace` read ./var/log)."""

from __future__ import annotations

import json

from click.testing import CliRunner

import shared.embedded
from shared.cli import main


def test_up_obeys_silkgate_data_dir(tmp_path, monkeypatch):
    started = {}
    monkeypatch.setattr(shared.embedded, "up", lambda **kwargs: started.update(kwargs))
    result = CliRunner().invoke(main, ["up"], env={"SILKGATE_DATA_DIR": str(tmp_path / "elsewhere")})
    assert result.exit_code == 0, result.output
    assert started["data_dir"] == (tmp_path / "elsewhere").resolve()
    CliRunner().invoke(main, ["up", "--data-dir", str(tmp_path / "given")], env={"SILKGATE_DATA_DIR": "x"})
    assert started["data_dir"] == (tmp_path / "given").resolve()


def test_trace_reads_the_logs_under_silkgate_data_dir(tmp_path):
    (tmp_path / "log").mkdir()
    entry = {"event": "order.accepted", "order_id": "ord_0123456789abcdef01234567", "service": "orders",
             "level": "info", "timestamp": "2026-03-01T10:00:00.123456Z"}
    (tmp_path / "log" / "orders.jsonl").write_text(json.dumps(entry) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["trace", "ord_0123456789abcdef01234567", "--json"],
                                env={"SILKGATE_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0])["event"] == "order.accepted"


def test_certs_go_under_silkgate_data_dir(tmp_path):
    result = CliRunner().invoke(main, ["certs"], env={"SILKGATE_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "certs" / "customs.crt").exists()
