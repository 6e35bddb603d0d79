"""The store's writer keeps a page cache of 8 MiB: under a flood its log records, appended and
never read back by the writer, filled a cache of 32 MiB whole (the workbench's RSS 20 to 30 MB
higher, for no less writer CPU a record)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WRITE = '''
import ctypes, sys
from engine.stores.sqlite.store import connect

sqlite = ctypes.CDLL("libsqlite3.so.0")
sqlite.sqlite3_memory_used.restype = sqlite.sqlite3_memory_highwater.restype = ctypes.c_int64
before = sqlite.sqlite3_memory_used()
sqlite.sqlite3_memory_highwater(1)
conn = connect(sys.argv[1])
conn.execute("CREATE TABLE logs (id INTEGER PRIMARY KEY, record TEXT NOT NULL)")
for batch in range(20):
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO logs (record) VALUES (?)",
                     (('{"pad": "' + "x" * 400 + '"}',) for _ in range(5_000)))
    conn.execute("COMMIT")
print(sqlite.sqlite3_memory_highwater(0) - before)
conn.close()
'''


def test_the_writer_appending_records_holds_a_bounded_page_cache(tmp_path: Path) -> None:
    """About 42 MB of records appended on the writer's connection: SQLite's own count of its
    memory at its highest stays near 8 MiB (with a cache of 32 MiB: over 33 MB)."""
    done = subprocess.run(
        [sys.executable, "-c", WRITE, str(tmp_path / "store.sqlite3")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    rise = int(done.stdout)
    assert 4 * 1024 * 1024 < rise < 10 * 1024 * 1024, rise
