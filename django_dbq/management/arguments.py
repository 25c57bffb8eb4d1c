"""argparse ``type=`` validators shared by the management commands."""

import argparse
import math


def positive_int(value: str) -> int:
    """A whole number >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {value}")
    return number


def non_negative_number(value: str) -> float:
    """A number >= 0 (seconds, hours)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {value!r}") from None
    if number < 0 or math.isnan(number):
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return number


def port_number(value: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, not {value!r}") from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {value}")
    return number
