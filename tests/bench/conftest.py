"""Benchmarks run once, untimed, in the normal test run; timed only when asked.

``python3 -m pytest -q`` (what CI runs) executes every benchmark test once with pytest-benchmark
disabled, so their assertions still guard the hot paths without slowing the suite. Timing is
on with ``python -m pytest tests/bench --benchmark-only`` (or ``--benchmark-enable``).
"""

import pytest


@pytest.hookimpl(trylast=True)   # after pytest-benchmark's own pytest_configure made its session
def pytest_configure(config):
    session = getattr(config, "_benchmarksession", None)
    if session is None:   # pytest-benchmark not installed: the fixture below stands in
        return
    asked = config.getoption("benchmark_only") or config.getoption("benchmark_enable")
    if not asked:
        # The plugin read its options at start-up; each test's fixture copies this flag.
        session.disabled = True


try:
    import pytest_benchmark  # noqa: F401
except ImportError:
    @pytest.fixture
    def benchmark():
        """Without pytest-benchmark: call the function once, like the disabled fixture."""
        def run(fn, *args, **kwargs):
            return fn(*args, **kwargs)
        return run
