"""`types.d.ts` as an editor reads it: TypeScript's own compiler (pinned in tests/node/typecheck)
checks Motia's templates and ours against what `motia types` writes, with no `motia` package."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from node_support import installed, template_project

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tests" / "node" / "typecheck"
MOTIA = [sys.executable, "-m", "motia_tui.cli"]
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "es2022",
        "module": "esnext",
        "moduleResolution": "bundler",
        "skipLibCheck": True,
        "types": ["node"],
        "typeRoots": [str(CHECKER / "node_modules" / "@types")],
    },
    "include": ["types.d.ts", "src/**/*.ts", "steps/**/*.ts"],
}


def typecheck(project: Path) -> subprocess.CompletedProcess[str]:
    (project / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    tsc = installed(CHECKER) / "node_modules" / ".bin" / "tsc"
    return subprocess.run(
        [str(tsc), "-p", str(project)], capture_output=True, text=True, timeout=300
    )


def write_types(project: Path) -> str:
    done = subprocess.run(
        [*MOTIA, "types"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote types.d.ts\n"
    return (project / "types.d.ts").read_text()


def test_motias_hello_template_type_checks_against_the_written_types(tmp_path: Path) -> None:
    project = template_project(tmp_path, "hello")
    types = write_types(project)
    assert "declare module 'motia'" in types
    assert '"HelloAPI": ApiRouteHandler<' in types
    assert (
        '"ProcessGreeting": EventHandler<{ timestamp: string; appName: string; '
        "greetingPrefix: string; requestId: string }, never>"
    ) in types
    checked = typecheck(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_ts_template_type_checks_and_a_wrong_emit_does_not(tmp_path: Path) -> None:
    subprocess.run([*MOTIA, "create", "shop", "--lang", "ts"], cwd=tmp_path, check=True,
                   capture_output=True)
    project = tmp_path / "shop"
    template = template_project(tmp_path, "hello")
    shutil.move(str(template / "node_modules"), str(project / "node_modules"))
    shutil.move(str(template / ".motia"), str(project / ".motia"))
    types = write_types(project)
    assert '"PlaceOrder": ApiRouteHandler<{ item: string; quantity: number }, ' in types
    checked = typecheck(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    step = project / "steps" / "orders" / "place-order-api.step.ts"
    step.write_text(step.read_text().replace("topic: 'order.placed'", "topic: 'order.lost'"))
    wrong = typecheck(project)
    assert wrong.returncode != 0
    assert "place-order-api.step.ts" in wrong.stdout and '"order.lost"' in wrong.stdout
