"""How the dashboard writes numbers people read: durations, money, token counts.

Registered as Jinja filters on the dashboard's templates
(``{{ run.duration_seconds | duration }}``), so every page writes them the same
way; ``static/live.js`` writes ticking durations in the same units.
"""

from __future__ import annotations

from decimal import Decimal

#: What a page shows for a value it does not have (an en dash).
UNKNOWN = "\u2013"


def duration(seconds: float | Decimal | None) -> str:
    """``0.4s``, ``42s``, ``3m 05s``, ``1h 02m``, ``2d 03h``; an en dash when unknown."""
    if seconds is None:
        return UNKNOWN
    value = float(seconds)
    if value < 0:
        return UNKNOWN
    if value < 10:
        return f"{value:.1f}s"
    whole = round(value)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def usd(amount: float | Decimal | None) -> str:
    """Dollars with cents, and four decimals below a cent so small model calls are not $0.00."""
    if amount is None:
        return UNKNOWN
    value = Decimal(str(amount))
    if value != 0 and abs(value) < Decimal("0.01"):
        return f"${value:.4f}"
    return f"${value:,.2f}"


def count(number: int | None) -> str:
    """Thousands separated: ``12,345``."""
    return UNKNOWN if number is None else f"{number:,}"


def number(value: float | None) -> str:
    """A measured value as people read it: ``12,346``, ``120``, ``3.25``, ``0.0042``."""
    if value is None:
        return UNKNOWN
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def offset(seconds: float) -> str:
    """A compact offset on a time axis, from the run's start: ``0s``, ``45s``, ``2m``,
    ``2m 30s``, ``1h 15m``, ``2d 6h`` (a leading minus before the start)."""
    sign = "\u2212" if seconds < 0 else ""
    whole = round(abs(seconds))
    if whole < 60:
        return f"{sign}{whole}s"
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + " ".join(parts[:2])


FILTERS = {"duration": duration, "usd": usd, "count": count, "number": number, "offset": offset}
