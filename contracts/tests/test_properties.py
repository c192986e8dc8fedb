"""The hypothesis profile (tests/fixtures/properties.py) holds for the contract tests too."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

AT_IMPORT = settings(max_examples=5)  # built while a test module is imported, as every @settings is


def test_property_tests_have_no_deadline_and_may_run_slowly(pytestconfig):
    if pytestconfig.getoption("hypothesis_profile", None) is not None:
        pytest.skip("another hypothesis profile was chosen on the command line")
    for s in (settings.default, AT_IMPORT):
        assert s.deadline is None and HealthCheck.too_slow in s.suppress_health_check
