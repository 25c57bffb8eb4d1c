#!/usr/bin/env python
"""Run django_dbq's whole test suite; arguments are passed on to pytest.

python runtests.py                      # SQLite
DATABASE_URL=postgres://... python runtests.py
DATABASE_URL=mysql://... python runtests.py -k claim
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testsettings")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pytest

    sys.exit(pytest.main(sys.argv[1:]))
