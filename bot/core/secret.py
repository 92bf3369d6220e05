"""A string that never shows itself in a repr, a log line or an f-string."""

from __future__ import annotations


class Secret:
    """Wraps a secret value; only :meth:`reveal` gives it back.

    ``str()``, ``repr()`` and formatting all print ``'***'``, so a secret that ends up in a log
    call, an exception message or a dataclass repr by mistake leaks nothing.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
