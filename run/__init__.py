"""One run of the canary as named steps (collect, decide, deliver, report), and what wraps it:
the monitors run concurrently, the heartbeat, the log line, the synthetic test alert, loading configuration.

Imports monitors, alerts, sources and core; never the entry points.
"""
