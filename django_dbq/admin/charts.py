"""Bar charts as inline SVG, drawn on the server: no JavaScript library, nothing from a CDN."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR = 8  # px per bar, including a 1 px gap
HEIGHT = 80  # px of the plot area
LEFT = 34  # px for the y labels
BOTTOM = 16  # px for the time labels

COMPLETED_COLOUR = "#2e7d32"
FAILED_COLOUR = "#ba2121"


def bar_chart(completed: list[int], failed: list[int], start: datetime.datetime) -> SafeString:
    """Stacked bars, one a minute from start: completed (green) under failed (red)."""
    peak = max([c + f for c, f in zip(completed, failed, strict=True)] or [0])
    scale = HEIGHT / max(peak, 1)
    bars = []
    for index, (done, bad) in enumerate(zip(completed, failed, strict=True)):
        if not done and not bad:
            continue
        minute = timezone.localtime(start + datetime.timedelta(minutes=index)).strftime("%H:%M")
        x = LEFT + index * BAR
        done_h, bad_h = done * scale, bad * scale
        bars.append(
            (
                minute,
                done,
                bad,
                x,
                f"{HEIGHT - done_h:.1f}",
                BAR - 1,
                f"{done_h:.1f}",
                COMPLETED_COLOUR,
                x,
                f"{HEIGHT - done_h - bad_h:.1f}",
                BAR - 1,
                f"{bad_h:.1f}",
                FAILED_COLOUR,
            )
        )
    width = LEFT + len(completed) * BAR
    middle = len(completed) // 2
    labels = [
        (LEFT, "start", _minute_label(start, 0)),
        (LEFT + middle * BAR, "middle", _minute_label(start, middle)),
        (width, "end", "now"),
    ]
    return format_html(
        '<svg class="dbq-chart" viewBox="0 0 {width} {total}" width="{width}" height="{total}" '
        'role="img" aria-label="{summary}">'
        "<title>{summary}</title>"
        '<line x1="{left}" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>'
        '<line x1="{left}" y1="0" x2="{width}" y2="0" stroke="#ddd" stroke-dasharray="2,2"/>'
        '<text x="{label_x}" y="9" text-anchor="end" font-size="10" fill="currentColor">'
        "{peak}</text>"
        '<text x="{label_x}" y="{height}" text-anchor="end" font-size="10" '
        'fill="currentColor">0</text>'
        "{bars}{labels}</svg>",
        width=width,
        total=HEIGHT + BOTTOM,
        height=HEIGHT,
        left=LEFT,
        label_x=LEFT - 4,
        peak=peak,
        summary=f"{sum(completed)} completed, {sum(failed)} failed in the last "
        f"{len(completed)} minutes",
        bars=format_html_join(
            "",
            "<g><title>{}: {} completed, {} failed</title>"
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/></g>',
            bars,
        ),
        labels=format_html_join(
            "",
            '<text x="{}" y="' + str(HEIGHT + 12) + '" text-anchor="{}" font-size="10" '
            'fill="currentColor">{}</text>',
            labels,
        ),
    )


def _minute_label(start: datetime.datetime, index: int) -> str:
    return timezone.localtime(start + datetime.timedelta(minutes=index)).strftime("%H:%M")
