"""Text cells for the CSV tables the bot attaches, made safe to open in a spreadsheet.

Pure: a string in, a string out.

A spreadsheet runs a field as a formula when it begins with ``=``, ``+``, ``-`` or ``@`` (some
also with a tab or a carriage return, some with the full-width ``＝ ＋ － ＠``). Which text
becomes the beginning of a field is not ours to decide: the bot writes commas, but a spreadsheet
in a ``;`` locale splits the same line on ``;``, an import dialog may split on tabs, spaces or
``|``, and a reader that ignores quotes splits on the line breaks inside a cell. A field may
also be quoted (``"=cmd"`` is still run) and have blanks around it. Prefixing the cell with
``'`` only protects its first field: ``x;=cmd|...`` still yields ``=cmd|...`` once split on
``;``. So :func:`safe_cell` puts a ``'`` directly before *every* formula starter that begins
the cell or follows whitespace (line breaks and tabs included), ``,``, ``;``, ``|`` or ``"``.
Whichever of those a spreadsheet splits on, and however many blanks and quotes it strips from
a field's start, the field then starts with ``'``, which spreadsheets show as text. A starter
glued to other text (the ``-`` of ``mig-shop-1``) is left alone, as a field cannot start there
unless the spreadsheet splits on letters. Text is otherwise kept as it is; the cost is a ``'``
in front of, e.g., the ``-`` of ``a - b``.
"""

from __future__ import annotations

import re

FORMULA_STARTERS = "=+-@\t\r＝＋－＠"
"""Characters that make a spreadsheet read the field they begin as a formula."""

FIELD_EDGES = ',;|"'
"""Besides whitespace, what may come right before the start of a field: the characters a
spreadsheet may split a line on, and the quote it strips from a quoted field."""

_DANGEROUS = re.compile(
    "(?:^|(?<=[\\s" + re.escape(FIELD_EDGES) + "]))(?=[" + re.escape(FORMULA_STARTERS) + "])"
)


def safe_cell(value: str | None) -> str:
    """``value`` for a CSV cell, with ``'`` before every formula starter that could begin a
    field (see the module docstring); ``""`` for None. Linear in ``len(value)``."""
    if not value:
        return ""
    return _DANGEROUS.sub("'", value)
