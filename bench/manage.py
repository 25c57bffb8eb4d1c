#!/usr/bin/env python
"""manage.py for the benchmark's worker processes; DJANGO_SETTINGS_MODULE names the contender."""

import sys

if __name__ == "__main__":
    from benchlib.memory import record_peak_rss
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    finally:
        # Only when the driver asks (BENCH_PEAK_RSS_DIR): the I/O-bound workload's memory rows.
        record_peak_rss()
