"""Numbers as Vietnamese readers write them: ``1.234.567``, ``2,1 giây``, ``85,3%``.

Bottom layer, so every message staff read (the CLI, the reports, the channels'
errors, the media checks) formats a number the same way: a dot between
thousands, a comma before decimals. Machine output (JSON, CSV columns, the log
file's engineering lines) keeps Python's own notation.
"""

from __future__ import annotations


def vn_number(n: float | None) -> str:
    """1234567 → ``1.234.567`` (rounded to a whole number); None → ``—``."""
    if n is None:
        return "—"
    return f"{round(n):,}".replace(",", ".")


def vn_decimal(x: float | None, digits: int = 1) -> str:
    """10.6 → ``10,6``; 1234.5 → ``1.234,5``; 2.0 and 1.96 → ``2``; 1.5 with two digits →
    ``1,5`` (at most ``digits`` decimals, no trailing zeros)."""
    if x is None:
        return "—"
    rounded = round(float(x), digits)
    if rounded.is_integer():
        return vn_number(rounded)
    return _fixed(rounded, digits).rstrip("0")


def vn_percent(x: float | None, digits: int = 1) -> str:
    """0.853 → ``85,3%``."""
    if x is None:
        return "—"
    return f"{_fixed(x * 100, digits)}%"


def vn_megabytes(n_bytes: float, *, binary: bool = False) -> str:
    """A size in MB, always with one decimal (``1,0 MB`` next to a 1 MB limit says "just
    over"); ``binary`` divides by 1024² (what the platforms' "4 MB" limits mean), not 10⁶."""
    return f"{_fixed(n_bytes / (1024 * 1024 if binary else 1e6), 1)} MB"


def _fixed(x: float, digits: int) -> str:
    """``digits`` decimals, Vietnamese separators: 1234.5 → ``1.234,50`` (two digits)."""
    text = f"{x:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")
