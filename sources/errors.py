"""The one error a source adapter raises: it names the source, so a failure says where it came from."""


class SourceError(Exception):
    """Reading a source failed (permission, timeout, missing table, malformed answer)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message
