"""Entry points: the CLI commands (one set of exit codes) and the HTTP request handler.

main.py builds the objects and hands them here.
"""
