"""The progress line: items per second, however slow the run."""

from tqdm import tqdm

from openl3._util.progress import BAR_FORMAT, COUNT_FORMAT, add_to_total, progress_bar


def test_a_slow_rate_is_items_per_second_not_seconds_per_item():
    """tqdm turned 0.42 windows a second into "2.39s/ windows"."""
    for total, fmt in ((10, BAR_FORMAT), (None, COUNT_FORMAT)):
        line = tqdm.format_meter(3, total, 7.1, unit=" windows", bar_format=fmt, rate=0.42)
        assert "0.42 windows/s" in line and "s/ windows" not in line


def test_a_bar_without_a_total_counts_in_the_same_words():
    bar = progress_bar(None, True, "window")
    assert bar.bar_format == COUNT_FORMAT and bar.unit == " windows"
    bar.close()


def test_the_progress_line_shows_a_total_only_when_one_is_known():
    bar = progress_bar(None, True, "window")
    assert bar.total is None and bar.bar_format == COUNT_FORMAT  # "47 windows [00:23, ...]"
    add_to_total(bar, 40)
    assert bar.total == 40 and bar.bar_format == BAR_FORMAT
    add_to_total(bar, -40)
    assert bar.total is None and bar.bar_format == COUNT_FORMAT
    bar.close()
    line = tqdm.format_meter(47, 128, 23.3, ncols=100, unit=" windows", bar_format=BAR_FORMAT)
    assert line.endswith("| 47/128 windows [00:23<00:40,  2.02 windows/s]")
