"""Optional observers of engine internals that signals do not cover; None unless metrics are on.

The engine reads each with one attribute lookup where its event happens, so unused they cost a
None check. django_dbq.metrics sets them; projects may set their own.
"""

from __future__ import annotations

from collections.abc import Callable

# Called with (queue_name, seconds) after each claim query of a worker loop.
on_claim: Callable[[str, float], None] | None = None
# Called with (requeued, cancelled, given_up) after a rescue that changed any job.
on_rescue: Callable[[int, int, int], None] | None = None
