"""The demo: a generated pipeline history written to the local backend's files."""
