"""A stand-in for a node's logger that keeps the lines, so tests can read what would be logged."""
from typing import List


class LogLines:
    """`warnings` holds the text of every warning; the other levels are accepted and dropped."""

    def __init__(self):
        self.warnings: List[str] = []

    def warning(self, text, **_kw) -> None:
        self.warnings.append(text)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
