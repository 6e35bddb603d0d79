"""The workbench's tabs, one module each.

Every pane is built as `Pane(source)` and offers `apply_events(events)` (the coalesced batch
of engine events since the last tick) and `async reload()` (a full refresh from the source,
at start and after the event feed dropped events).
"""
