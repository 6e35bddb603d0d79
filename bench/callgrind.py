"""Instructions per unit of work, per thread, from two callgrind runs of a bench script: one
of few units and one of many, whose difference cancels start-up and shutdown."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _totals(prefix: str) -> dict[str, int]:
    found = {}
    for path in sorted(glob.glob(f"{prefix}.*-*")):
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("summary:"):
                found[path.rsplit("-", 1)[1]] = int(line.split()[1])
                break
    return found


def instructions_per_unit(script: str, flags: list[str], count_flag: str, few: int,
                          many: int) -> dict[str, float]:
    """`script` run as `script *flags count_flag N` for N in (few, many); by callgrind's
    thread number ("01" is the main thread)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as out:
        totals = []
        for count in (few, many):
            prefix = f"{out}/cost.{count}"
            subprocess.run(
                ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                 f"--callgrind-out-file={prefix}.%p", sys.executable, script, *flags,
                 count_flag, str(count)],
                check=True, capture_output=True,
            )
            totals.append(_totals(prefix))
    at_few, at_many = totals
    return {t: (at_many[t] - at_few.get(t, 0)) / (many - few) for t in at_many}
