"""The Hypothesis settings profiles of the test suite, chosen by ``HYPOTHESIS_PROFILE``.

- ``ci`` (the default: ``sh scripts/test.sh``, CI, a bare ``pytest``): derandomized. Every run
  draws the same examples (seeded from each test's own code), reads and writes no example
  database, and has no wall-clock deadline and no "too slow" health check, so a green run means
  the same on every machine and a red one fails again on the next run. A failure prints the
  example and a blob to reproduce it.
- ``long``: random examples, different on every run, with the local example database (a
  failure found once is tried first next time), and more examples where a test does not set its
  own number. Property tests that read ``STARTJOBS_FUZZ_EXAMPLES`` get
  :data:`LONG_FUZZ_EXAMPLES` unless it is set. E.g. ``HYPOTHESIS_PROFILE=long sh scripts/test.sh``.

:func:`load_profile` is called by ``tests/conftest.py`` before any test module is imported, so
the ``settings(...)`` objects the modules build inherit the chosen profile.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "ci"
LONG_PROFILE = "long"
FUZZ_EXAMPLES_ENV = "STARTJOBS_FUZZ_EXAMPLES"
LONG_FUZZ_EXAMPLES = "2000"

settings.register_profile(
    DEFAULT_PROFILE,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    LONG_PROFILE,
    derandomize=False,
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILES = (DEFAULT_PROFILE, LONG_PROFILE)


def chosen_profile(env: Mapping[str, str]) -> str:
    """The profile ``env`` selects: ``HYPOTHESIS_PROFILE``, else :data:`DEFAULT_PROFILE`.

    ``ValueError`` for a name that is not a profile (a typo must not silently run another mode).
    """
    name = env.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r} is not one of {', '.join(PROFILES)}")
    return name


def load_profile(env: MutableMapping[str, str] = os.environ) -> str:
    """Load the profile ``env`` selects (see the module docstring); return its name."""
    name = chosen_profile(env)
    if name == LONG_PROFILE:
        env.setdefault(FUZZ_EXAMPLES_ENV, LONG_FUZZ_EXAMPLES)
    settings.load_profile(name)
    return name
