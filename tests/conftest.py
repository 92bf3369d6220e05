"""Suite-wide setup: the Hypothesis profile (derandomized unless ``HYPOTHESIS_PROFILE`` says
otherwise; see :mod:`tests.hypothesis_profiles`), loaded before any test module is imported."""

from __future__ import annotations

import pytest

from tests.hypothesis_profiles import load_profile

try:
    PROFILE = load_profile()
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


def pytest_report_header() -> str:
    return f"hypothesis profile: {PROFILE}"
