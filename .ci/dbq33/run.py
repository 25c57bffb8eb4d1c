#!/usr/bin/env python
"""Run django-db-queue 3.3.0's own tests.py against this package (a 3.x user's test suite).

Downloads the 3.3.0 wheel from the package index (pinned by its hash; the file is never
committed), puts its django_dbq/tests.py into a scratch copy of this package and runs it with
Django's test runner. The database is DATABASE_URL's (default: SQLite in the scratch folder).
Exits non-zero when a test fails; see dbq33_runner.py for the deliberate differences.

    python .ci/dbq33/run.py [--work DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RELEASE = "django-db-queue==3.3.0"
WHEEL_SHA256 = "52001c85e6b97d6e355817e212cbb7388f1494dfbf02ce2c8d8f1c2c493c4ebd"
# What the 3.3 tests import beyond Django, installed into the scratch folder only.
TEST_REQUIREMENTS = ["freezegun==1.5.5"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="dbq33-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    source, site = work / "src", work / "site"

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    requirements = work / "requirements.txt"
    requirements.write_text(f"{RELEASE} --hash=sha256:{WHEEL_SHA256}\n")
    downloads = work / "downloads"
    run(
        [
            *pip,
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--require-hashes",
            "-r",
            str(requirements),
            "-d",
            str(downloads),
        ]
    )
    (wheel,) = downloads.glob("django_db_queue-3.3.0-*.whl")
    if not site.exists():
        run([*pip, "install", "--target", str(site), *TEST_REQUIREMENTS])

    # A scratch copy of this package, with the 3.3 test module where 3.3 kept it.
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(
        ROOT / "django_dbq",
        source / "django_dbq",
        ignore=shutil.ignore_patterns("__pycache__", "tests.py"),
    )
    with zipfile.ZipFile(wheel) as archive:
        (source / "django_dbq" / "tests.py").write_bytes(archive.read("django_dbq/tests.py"))
    for name in ("dbq33_settings.py", "dbq33_runner.py"):
        shutil.copy(HERE / name, source / name)

    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(source), str(site)])
    python = [sys.executable]
    imported = run(
        [*python, "-c", "import django_dbq; print(django_dbq.__file__)"],
        cwd=source,
        env=env,
        capture=True,
    )
    if not imported.startswith(str(source)):
        sys.exit(f"the scratch copy is not the django_dbq imported: {imported}")
    print(f"django-db-queue 3.3.0's tests.py against {imported}", flush=True)
    command = [
        *python,
        "-m",
        "django",
        "test",
        "django_dbq.tests",
        "--noinput",
        "-v",
        "2",
        "--settings",
        "dbq33_settings",
    ]
    return subprocess.run(command, cwd=source, env=env, stdin=subprocess.DEVNULL).returncode


def run(command, cwd=None, env=None, capture=False) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return (result.stdout or "").strip()


if __name__ == "__main__":
    sys.exit(main())
