#!/usr/bin/env python
"""Management commands against the test settings (the process tests start workers with it)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testsettings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
