"""Reading one setting from the environment, with the problem an operator must fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def number_setting(
    env: Mapping[str, str], problems: list[str], name: str, default: T, cast: Callable[[str], T],
    low: float,
) -> T:  # fmt: skip
    """A number setting: the default when unset; a problem when not a number or below ``low``."""
    raw = env.get(name, "").strip() or None
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number")
        return default
    if value < low:  # type: ignore[operator]
        problems.append(f"{name}={raw!r} must be at least {low}")
        return default
    return value
