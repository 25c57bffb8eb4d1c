#!/usr/bin/env python
"""manage.py for the benchmark's worker processes; DJANGO_SETTINGS_MODULE names the contender."""

import sys

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
