"""The README's Quick start is what CI runs: the two commands exist and .ci/run uses the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_quick_start_has_exactly_two_commands_run_and_test():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "silkgate up" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_and_the_postgres_nats_suite():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci
    assert "SILKGATE_TEST_POSTGRES_URL=" in ci and "SILKGATE_TEST_NATS_URL=" in ci
