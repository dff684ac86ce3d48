"""Monitors: one module each, registered by name in monitors.registry."""
