"""The progress line of embedding runs (tqdm on stderr)."""

from __future__ import annotations

from typing import Any

#: The progress line once the total is known: ``37%|███▋   | 47/128 windows [00:23<00:40,
#: 2.02 windows/s, 3/10 files]`` (without a total, tqdm's ``47 windows [00:23, 2.02 windows/s]``).
#: Rates are items per second, however slow (tqdm's own turned "0.42 windows/s" into
#: "2.39s/ windows").
BAR_FORMAT = (
    "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
)
COUNT_FORMAT = "{n_fmt}{unit} [{elapsed}, {rate_noinv_fmt}{postfix}]"


def progress_bar(total: int | None, enabled: bool, unit: str) -> Any:
    """Return a tqdm progress bar on stderr over ``total`` items; silent unless ``enabled``.

    ``unit`` is the singular name of an item ("window"); a total of None (unknown) or 0
    shows no bar and no time left, only the items done and the rate.
    """
    from tqdm.auto import tqdm

    total = total or None
    return tqdm(
        total=total,
        disable=not enabled,
        unit=f" {unit}s",
        leave=False,
        dynamic_ncols=True,
        bar_format=BAR_FORMAT if total else COUNT_FORMAT,
    )


def add_to_total(bar: Any, items: int) -> None:
    """Add ``items`` (may be negative) to the total of a progress bar, which shows it once positive."""
    total = (bar.total or 0) + items
    bar.total = total if total > 0 else None
    bar.bar_format = BAR_FORMAT if bar.total else COUNT_FORMAT
