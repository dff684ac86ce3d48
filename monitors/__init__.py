"""Monitors: one module each, registered by name in monitors.registry.

A monitor reads its sources through the ports in sources/ and the pipeline's shape from its context,
and returns findings; it never decides whether to notify.
"""
