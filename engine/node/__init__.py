"""TypeScript and JavaScript steps, run by long-lived Node worker processes.

The engine stays the owner of every effect: a Node handler's `emit`, `state.*`, `streams.*`
and `logger.*` calls come back over the worker's channel and go through the same run and the
same context as a Python step's, so retries, the dead-letter queue, traces and logs see no
difference between languages.
"""
