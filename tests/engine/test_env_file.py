"""A `.env` line python-dotenv cannot parse is named by file and line; the others load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine_support import logs, served, write_files

STEP = {
    "steps/env_step.py": """
        import os

        config = {"type": "api", "name": "Env", "path": "/env", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {k: os.environ.get(k) for k in
                    ("MOTIA_T_ENV_FIRST", "MOTIA_T_ENV_LAST", "MOTIA_T_ENV_REF")}}
    """,
}
ENV = (
    "MOTIA_T_ENV_FIRST=one\n"
    "this line is not a setting\n"
    "MOTIA_T_ENV_LAST=two\n"
    "'MOTIA_T_ENV_SECRET=sk-hidden\n"
    "MOTIA_T_ENV_REF=${MOTIA_T_ENV_FIRST}-x\n"
)


async def test_a_bad_env_line_is_a_warning_naming_file_and_line(tmp_path: Path) -> None:
    root = write_files(tmp_path / "project", STEP)
    (root / ".env").write_text(ENV)
    try:
        async with served(root) as (_engine, client):
            loaded = (await client.get("/env")).json()
            assert loaded == {
                "MOTIA_T_ENV_FIRST": "one",
                "MOTIA_T_ENV_LAST": "two",
                "MOTIA_T_ENV_REF": "one-x",
            }
            warnings = [r["msg"] for r in await logs(client, level="warn") if ".env" in r["msg"]]
            env = root.resolve() / ".env"
            assert warnings == [
                f"{env}:{line}: cannot parse this line (expected NAME=value); skipped, the "
                "other lines are loaded"
                for line in (2, 4)
            ]
            assert not any("sk-hidden" in w for w in warnings)
    finally:
        for key in ("MOTIA_T_ENV_FIRST", "MOTIA_T_ENV_LAST", "MOTIA_T_ENV_REF"):
            os.environ.pop(key, None)


def test_motia_openapi_names_the_bad_env_line(tmp_path: Path) -> None:
    root = write_files(tmp_path / "project", STEP)
    (root / ".env").write_text("GOOD=1\nbad line here\n")
    done = subprocess.run(
        [sys.executable, "-m", "motia_tui.cli", "openapi", "--dir", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"motia openapi: {root / '.env'}:2: cannot parse this line" in done.stderr
    assert "python-dotenv could not parse" not in done.stderr
