"""What a launch argument means as a boolean, for every launch file (arguments are strings: 'true', '1', ...)."""
from __future__ import annotations

from typing import Any, List

TRUE_WORDS = ('1', 'true', 'yes')


def is_true(value: str) -> bool:
    """A performed launch argument read as a boolean: '1', 'true' or 'yes' in any case, else false."""
    return str(value).strip().lower() in TRUE_WORDS


def true_expression(*configurations: Any) -> List[Any]:
    """PythonExpression parts that are True when any of the launch configurations is true (as is_true)."""
    parts: List[Any] = []
    for i, configuration in enumerate(configurations):
        parts += ([' or '] if i else []) + ["'", configuration, f"'.strip().lower() in {TRUE_WORDS!r}"]
    return parts
