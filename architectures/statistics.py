"""Robust statistics and log templates for the K8s tools (pure functions, no telemetry access).

A shift is `(median_window - median_baseline) / (1.4826 * MAD_baseline)`, with the MAD floored so that a perfectly
flat baseline does not turn any change into an infinite shift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = (
    'CHANGE_BAND',
    'CHANGE_RUN',
    'MAD_FLOOR_FRACTION',
    'MAD_SCALE',
    'RESET_DROP',
    'change_index',
    'linear_fit',
    'log_template',
    'mad',
    'median',
    'quantile',
    'restart_segments',
    'robust_shift',
    'robust_sigma',
)

MAD_SCALE = 1.4826
"""Makes the MAD a consistent estimator of the standard deviation for normal data."""
MAD_FLOOR_FRACTION = 0.01
"""The robust sigma is at least 1% of the baseline median (flat baselines)."""
CHANGE_BAND = 3.0
"""The baseline band is `median +- CHANGE_BAND * sigma`."""
CHANGE_RUN = 3
"""The change time is the first of this many consecutive minutes outside the baseline band."""
RESET_DROP = 0.25
"""A drop of more than this fraction between consecutive minutes is a restart (memory freed)."""


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return quantile(values, 0.5)


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile with linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    center = median(values)
    return median([abs(value - center) for value in values])


def robust_sigma(baseline: Sequence[float], absolute_floor: float) -> float:
    """`1.4826 * MAD`, floored at 1% of the baseline median and at `absolute_floor` (a flat baseline has MAD 0)."""
    return max(MAD_SCALE * mad(baseline), MAD_FLOOR_FRACTION * abs(median(baseline)), absolute_floor)


def robust_shift(window: Sequence[float], baseline: Sequence[float], absolute_floor: float) -> float:
    """How many robust sigmas the window's median moved from the baseline's."""
    return (median(window) - median(baseline)) / robust_sigma(baseline, absolute_floor)


def change_index(window: Sequence[float], baseline: Sequence[float], absolute_floor: float) -> int | None:
    """Index of the first of `CHANGE_RUN` consecutive values outside the baseline band, or None."""
    center, sigma = median(baseline), robust_sigma(baseline, absolute_floor)
    run = 0
    for index, value in enumerate(window):
        run = run + 1 if abs(value - center) > CHANGE_BAND * sigma else 0
        if run == CHANGE_RUN:
            return index - CHANGE_RUN + 1
    return None


def linear_fit(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope per step and coefficient of determination (r^2) of `values` against their index."""
    count = len(values)
    if count < 2:
        return 0.0, 0.0
    mean_x, mean_y = (count - 1) / 2, sum(values) / count
    sxx = sum((index - mean_x) ** 2 for index in range(count))
    sxy = sum((index - mean_x) * (value - mean_y) for index, value in enumerate(values))
    syy = sum((value - mean_y) ** 2 for value in values)
    slope = sxy / sxx
    r_squared = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return slope, r_squared


def restart_segments(values: Sequence[float]) -> list[tuple[int, int]]:
    """Split a memory series at restarts (drops larger than `RESET_DROP`): `[start, stop)` index pairs."""
    segments, start = [], 0
    for index in range(1, len(values)):
        if values[index] < (1 - RESET_DROP) * values[index - 1]:
            segments.append((start, index))
            start = index
    segments.append((start, len(values)))
    return segments


_KLOG_MESSAGE = re.compile(r'"[^"]*"')
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'"[^"]*"|\'[^\']*\''), '<str>'),
    (re.compile(r'\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b', re.IGNORECASE), '<uuid>'),
    (re.compile(r'\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b'), '<ip>'),
    # Ids are often glued to a prefix (`ord_8f3a2c1b`), so hex runs are delimited by non-alphanumerics, not \b.
    (
        re.compile(
            r'(?<![0-9A-Za-z])(?:0x[0-9a-f]+|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,})(?![0-9A-Za-z])',
            re.IGNORECASE,
        ),
        '<hex>',
    ),
    (re.compile(r'(?<![0-9A-Za-z_])(?:v\d+(?:\.\d+)+|\d+(?:\.\d+)*)'), '<num>'),
)


def log_template(message: str) -> str:
    """The message with its variable parts masked: quoted strings, UUIDs, IPs (with port), hex ids, numbers.

    `'timeout after 5000ms order_id=ord_8f3a2c1b'` becomes `'timeout after <num>ms order_id=ord_<hex>'`; versions
    (`v2.4.0`) are numbers, identifiers ending in digits (`session_cache_v2`, `/api/v1/`) are kept.
    """
    # A quoted string opening the line is the message itself (klog structured logs), not a variable part.
    head = match.group(0) if (match := _KLOG_MESSAGE.match(message)) else ''
    rest = message[len(head) :]
    for pattern, placeholder in _MASKS:
        rest = pattern.sub(placeholder, rest)
    return head + rest
