"""Each peer's own virtual environment under bench/work/venvs/, installed from PyPI."""

from __future__ import annotations

import shutil
import subprocess

from .contenders import Contender
from .paths import ROOT, WORK
from .progress import log


def ensure_venv(contender: Contender, base_python: str) -> tuple[str | None, str]:
    """The Python of the contender's venv (created or refreshed as needed), or None and why."""
    venv = WORK / "venvs" / contender.key
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(contender.requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return str(python), ""
    requirements = " ".join(contender.requirements)
    log(f"installing {contender.key} into {venv.relative_to(ROOT)}: {requirements}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run(
            [base_python, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                *contender.requirements,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or error.stdout or str(error)).strip().splitlines()[-3:]
        return None, "could not be installed: " + " / ".join(tail)
    except subprocess.TimeoutExpired:
        return None, "could not be installed: pip timed out"
    marker.write_text(wanted)
    return str(python), ""
