"""Run `motia` with the collector's pauses recorded, for the workbench memory bench.

    python bench/gc_probe.py OUT.json [--census SECONDS] [--tracemalloc] [--garbage OBJECTS]
                             [--young SECONDS] tui --dir PROJECT ...

The longest collection (wall and CPU time between `gc.callbacks`' start and stop), the
count by generation, the same once start-up is over (`tuned_*`: from the moment the process
froze its start-up objects, `engine.tuning`), the ten longest pauses (when, which
generation, how many objects they freed, which thread ran them), and the process's peak RSS
go to OUT.json every second and at exit. Wall time includes waiting for a core on a loaded
machine; CPU time is the collector's own work.

`--census SECONDS` adds, that often, what the collector walks: the objects it tracks by
generation (those frozen at start-up excluded) and the most numerous types among them, so a
run shows what grows rather than a guess, and the same by generation (what a young and a
middle collection walk). `--tracemalloc` adds the source lines that allocated the most live
memory, and their growth since the first census. Both hold the GIL while they count (a
census of a few million objects takes a second or more): they are for finding what grows,
not for timing.

`--garbage OBJECTS` keeps what each middle or full collection frees (`gc.DEBUG_SAVEALL`
for that collection only) and, when it freed at least OBJECTS, describes it (`garbage`):
the objects by type, the references between them by the types at either end, and the
cycles (objects connected by references) by what they are made of, most numerous first.
What such a collection frees is garbage reference counting could not free: cycles, which
is what to break. The description holds the GIL for a second or so per 100,000 objects.

`--young SECONDS` describes, that often, what a young collection is about to walk, at its
start (`young`): a young collection's work is the young objects alive when it starts, so a
census at a random moment undercounts what survives until then. The young objects by type,
tuples by the types of their items, and for the most numerous kinds what holds a few of them
(`gc.get_referrers`, which walks every tracked object: a second or so, GIL held), and the
young containers of `LARGE` items or more, each of which costs the collection its length.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Sized
from pathlib import Path
from typing import Any

del sys.path[0]  # this folder: its engine.py is not the engine package
from motia_tui.cli import main  # noqa: E402


def _option(name: str, takes_value: bool) -> str | None:
    """Take `name` (and its value) off the front of the command line, if it is there."""
    if sys.argv[1:2] != [name]:
        return None
    sys.argv.pop(1)
    return sys.argv.pop(1) if takes_value else name


if sys.argv[1:2] in ([], ["-h"], ["--help"]):  # not a file to write the figures to
    print(__doc__)
    sys.exit(0 if sys.argv[1:] else 2)
OUT = Path(sys.argv.pop(1))
CENSUS_S = float(_option("--census", True) or 0)
TRACING = _option("--tracemalloc", False) is not None
GARBAGE_AT = int(_option("--garbage", True) or 0)
YOUNG_S = float(_option("--young", True) or 0)
YOUNG_KINDS = 6
YOUNG_SAMPLE = 20
KEPT_PAUSES = 10
TOP_TYPES = 25
TOP_LINES = 15
LARGE = 5_000
"""Containers at least this long are listed by generation: one young container of a
million references costs a young collection as much as a million young objects."""
STATE: dict[str, Any] = {"longest_ms": 0.0, "longest_cpu_ms": 0.0, "longest_generation": -1,
                         "collections": [0, 0, 0], "pauses": [], "census": [],
                         "tuned_longest_ms": 0.0, "tuned_longest_cpu_ms": 0.0,
                         "tuned_collections": [0, 0, 0], "total_cpu_ms": 0.0,
                         "garbage": [], "young": []}
_began = [0.0, 0.0]
_next_young = [0.0]
_tuned = [False]
"""Start-up is over (the process froze its objects). Asked of the collector only until it
is: `gc.get_freeze_count()` walks every frozen object, about 20 ms of CPU for the
workbench's 146,000, which the probe cost each collection until it remembered."""
_STARTED = time.perf_counter()
_first_snapshot: list[tracemalloc.Snapshot] = []


def probe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        if GARBAGE_AT and info["generation"] >= 1:
            gc.set_debug(gc.DEBUG_SAVEALL)
        if YOUNG_S and info["generation"] == 0 and time.perf_counter() >= _next_young[0]:
            STATE["young"].append(young())
            _next_young[0] = time.perf_counter() + YOUNG_S
        _began[0], _began[1] = time.perf_counter(), time.thread_time()
        return
    pause = (time.perf_counter() - _began[0]) * 1000
    cpu = (time.thread_time() - _began[1]) * 1000
    generation = info["generation"]
    STATE["collections"][generation] += 1
    if pause > STATE["longest_ms"]:
        STATE["longest_ms"], STATE["longest_generation"] = pause, generation
    STATE["longest_cpu_ms"] = max(STATE["longest_cpu_ms"], cpu)
    STATE["total_cpu_ms"] += cpu
    if not _tuned[0]:
        _tuned[0] = gc.get_freeze_count() > 0  # the process has tuned the collector
    if _tuned[0]:
        STATE["tuned_longest_ms"] = max(STATE["tuned_longest_ms"], pause)
        STATE["tuned_longest_cpu_ms"] = max(STATE["tuned_longest_cpu_ms"], cpu)
        STATE["tuned_collections"][generation] += 1
    pauses: list[dict[str, Any]] = STATE["pauses"]
    if len(pauses) < KEPT_PAUSES or pause > pauses[-1]["ms"]:
        pauses.append({"ms": round(pause, 2), "cpu_ms": round(cpu, 2), "generation": generation,
                       "at_s": round(_began[0] - _STARTED, 1),
                       "collected": info["collected"],
                       "thread": threading.current_thread().name})
        pauses.sort(key=lambda p: -p["ms"])
        del pauses[KEPT_PAUSES:]
    if GARBAGE_AT and generation >= 1:
        gc.set_debug(0)
        if len(gc.garbage) >= GARBAGE_AT:
            STATE["garbage"].append({"at_s": round(_began[0] - _STARTED, 1),
                                     "generation": generation, "cpu_ms": round(cpu, 2),
                                     **describe(gc.garbage)})
        gc.garbage.clear()  # freed by a later collection, as the cycles they are


def _kind(o: Any) -> str:
    if type(o) is tuple:
        return "(" + ", ".join(type(item).__qualname__ for item in o) + ")"
    return type(o).__qualname__


def young() -> dict[str, Any]:
    """What the young collection starting now will walk, and what holds it."""
    began = time.perf_counter()
    objects = gc.get_objects(0)
    named = [_kind(o) for o in objects]
    kinds = Counter(named)
    holders: dict[str, list[tuple[str, int]]] = {}
    for kind, _count in kinds.most_common(YOUNG_KINDS):
        sample = [o for o, name in zip(objects, named, strict=True)
                  if name == kind][:YOUNG_SAMPLE]
        held: Counter[str] = Counter()
        for o in sample:
            for referrer in gc.get_referrers(o):
                if referrer is not objects and referrer is not sample:
                    length = _length(referrer) if isinstance(referrer, Sized) else 0
                    held[f"{_kind(referrer)[:80]} of {length}"] += 1
        holders[kind] = held.most_common(4)
    large = sorted(((name[:80], _length(o)) for o, name in zip(objects, named, strict=True)
                    if _large(o)), key=lambda c: -c[1])[:TOP_TYPES]
    entry = {"at_s": round(began - _STARTED, 1), "objects": len(objects),
             "kinds": kinds.most_common(TOP_TYPES), "large_containers": large,
             "held_by": holders}
    del objects
    entry["took_s"] = round(time.perf_counter() - began, 2)
    return entry


def describe(garbage: list[Any]) -> dict[str, Any]:
    """What a collection freed: types, references between them by type, cycles by makeup."""
    members = {id(o): i for i, o in enumerate(garbage)}
    parent = list(range(len(garbage)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    edges: Counter[str] = Counter()
    for i, o in enumerate(garbage):
        for referent in gc.get_referents(o):
            j = members.get(id(referent))
            if j is not None:
                edges[f"{type(o).__qualname__} -> {type(referent).__qualname__}"] += 1
                parent[root(i)] = root(j)
    makeup: dict[int, Counter[str]] = {}
    for i, o in enumerate(garbage):
        makeup.setdefault(root(i), Counter())[type(o).__qualname__] += 1
    cycles = Counter(", ".join(f"{n} {t}" for t, n in sorted(c.items(), key=lambda x: -x[1])[:6])
                     for c in makeup.values())
    return {"objects": len(garbage),
            "types": Counter(type(o).__qualname__ for o in garbage).most_common(TOP_TYPES),
            "references": edges.most_common(TOP_TYPES),
            "cycles": len(makeup),
            "cycles_by_makeup": cycles.most_common(TOP_TYPES)}


def _large(o: Any) -> bool:
    """A container of `LARGE` items or more (a class is not one, though it may be Sized)."""
    return isinstance(o, Sized) and not isinstance(o, type) and _length(o) >= LARGE


def _length(container: Sized) -> int:
    try:
        return len(container)
    except Exception:  # a class whose __len__ needs a state it lacks
        return 0


def census() -> dict[str, Any]:
    """What the collector walks now (the frozen start-up objects aside)."""
    began = time.perf_counter()
    by_generation = [len(gc.get_objects(generation)) for generation in range(3)]
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    types_by_generation = [Counter(type(o).__qualname__ for o in gc.get_objects(generation))
                           .most_common(TOP_TYPES // 2) for generation in range(3)]
    large = [(generation, type(o).__qualname__, len(o)) for generation in range(3)
             for o in gc.get_objects(generation)
             if _large(o)]
    timed = []
    for generation in (0, 0, 1, 1):
        sizes = [len(gc.get_objects(g)) for g in range(3)]
        started = time.thread_time()
        gc.collect(generation)
        timed.append((generation, sizes, round((time.thread_time() - started) * 1000, 2)))
    entry: dict[str, Any] = {
        "at_s": round(began - _STARTED, 1),
        "tracked_by_generation": by_generation,
        "frozen": gc.get_freeze_count(),
        "types": types.most_common(TOP_TYPES),
        "types_by_generation": types_by_generation,
        "large_containers": sorted(large, key=lambda c: -c[2])[:TOP_TYPES],
        "collect_cpu_ms_by_generation": timed,
    }
    if TRACING:
        snapshot = tracemalloc.take_snapshot()
        if not _first_snapshot:
            _first_snapshot.append(snapshot)
        entry["lines_mb"] = [(str(s.traceback), round(s.size / 2**20, 2))
                             for s in snapshot.statistics("lineno")[:TOP_LINES]]
        entry["growth_mb"] = [(str(s.traceback), round(s.size_diff / 2**20, 2))
                              for s in snapshot.compare_to(_first_snapshot[0],
                                                           "lineno")[:TOP_LINES]]
    entry["took_s"] = round(time.perf_counter() - began, 2)
    return entry


def dump() -> None:
    STATE["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    written = OUT.with_name(OUT.name + ".new")
    written.write_text(json.dumps(STATE))
    written.replace(OUT)  # whole: the bench reads it while the process runs


def dumping() -> None:
    next_census = time.perf_counter() + CENSUS_S
    while True:
        time.sleep(1.0)
        if CENSUS_S and time.perf_counter() >= next_census:
            STATE["census"].append(census())
            next_census = time.perf_counter() + CENSUS_S
        dump()


if __name__ == "__main__":
    if TRACING:
        tracemalloc.start()
    gc.callbacks.append(probe)
    threading.Thread(target=dumping, daemon=True).start()
    try:
        code = main(sys.argv[1:])
    finally:
        dump()
    sys.exit(code)
