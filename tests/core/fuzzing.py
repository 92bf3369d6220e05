"""Hypothesis settings shared by the core property tests.

``STARTJOBS_FUZZ_EXAMPLES`` sets the examples per property (default 200). The rest comes from the
profile ``tests/conftest.py`` loads (:mod:`tests.hypothesis_profiles`): derandomized by default,
random with ``HYPOTHESIS_PROFILE=long``, which also raises the default count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("STARTJOBS_FUZZ_EXAMPLES", "200"))

fuzz = settings(
    max_examples=FUZZ_EXAMPLES,
    # Wall-clock deadlines only make a loaded CI machine flaky; the suite's own time is the limit.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
