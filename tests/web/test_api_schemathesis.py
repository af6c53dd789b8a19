"""Property-based run of schemathesis against /api/openapi.json: whatever it
sends (as an admin token, so every endpoint is reached), no 5xx.

Bounded (a few examples per operation) and marked slow. `make fuzz` runs it
with 100 examples per operation (MAILER_TEST_FUZZ_EXAMPLES). Needs the
`schemathesis` package (dev extra); skipped without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_admin_helpers import Site, site

__all__ = ["site"]

pytestmark = pytest.mark.slow


def _cli() -> str | None:
    exe = Path(sys.executable).with_name("schemathesis")
    return str(exe) if exe.exists() else shutil.which("schemathesis")


def test_no_server_errors_for_generated_requests(site: Site, tmp_path: Path) -> None:
    cli = _cli()
    if cli is None:
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    run = subprocess.run(
        [cli, "run", f"{site.url}/api/openapi.json", "--url", site.url,
         "--checks", "not_a_server_error", "--max-examples", os.environ.get("MAILER_TEST_FUZZ_EXAMPLES", "8"), "--seed", "4",
         "--phases", "examples,coverage,fuzzing", "--workers", "1",
         "--request-timeout", "30", "--header", f"Authorization: Bearer {site.tokens['admin']}",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=7200, check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert " passed" in output and "failed" not in output.split("Test cases:")[-1], output[-3000:]
