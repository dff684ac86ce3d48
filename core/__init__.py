"""Core types: the model, the fingerprint, configuration types and input parsing.

The leaf of the import graph: nothing here imports another package of the project.
"""
