"""A read beside the writer (the Logs pane's counts and read-backs by time, which scan the
whole log table) fills a small page cache, not the writer's 32 MiB: each read opens a
connection of its own, and under a flood with losses every scan added tens of MB of RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCAN = '''
import asyncio, ctypes, sqlite3, sys
from pathlib import Path
from engine.stores.sqlite import SqliteStore

path = Path(sys.argv[1])
SqliteStore(path, 100, 1_000_000).close()
raw = sqlite3.connect(path)
raw.executemany(
    "INSERT INTO logs (time, level, trace_id, step, msg, record) VALUES (?, 20, ?, 'S', ?, ?)",
    ((float(n), f"t{n // 100}", f"m{n}", '{"pad": "' + "x" * 400 + '"}') for n in range(40_000)),
)
raw.commit()
raw.close()
sqlite = ctypes.CDLL("libsqlite3.so.0")
sqlite.sqlite3_memory_used.restype = sqlite.sqlite3_memory_highwater.restype = ctypes.c_int64

async def main() -> None:
    store = SqliteStore(path, 100, 1_000_000)
    store.start(asyncio.get_running_loop(), lambda health: None)
    rises = []
    for read in (lambda: store.count_logs(None, 1e9),
                 lambda: store.query_logs(None, None, None, None, 10, 0.0, 0.0)):
        before = sqlite.sqlite3_memory_used()
        sqlite.sqlite3_memory_highwater(1)
        await asyncio.to_thread(read)
        rises.append(sqlite.sqlite3_memory_highwater(0) - before)
    await store.close()
    print(*rises)

asyncio.run(main())
'''


def test_a_scan_beside_the_writer_holds_a_small_page_cache(tmp_path: Path) -> None:
    """The file is about 19 MB; a count over all of it and a query that finds its one record at
    the oldest end each read every page. SQLite's own count of its memory at its highest
    during each read stays within a couple of MiB (with the writer's cache: 19.5 MB)."""
    done = subprocess.run(
        [sys.executable, "-c", SCAN, str(tmp_path / "store.sqlite3")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    rises = [int(rise) for rise in done.stdout.split()]
    assert len(rises) == 2
    assert all(0 < rise < 2.5 * 1024 * 1024 for rise in rises), rises
