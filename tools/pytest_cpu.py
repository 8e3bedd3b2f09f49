"""A pytest plugin that records each test's CPU seconds (this process and its subprocesses), not wall time.

On a shared machine wall time says more about the neighbours than about the test.
``python -m pytest -p tools.pytest_cpu`` prints the 25 costliest tests and, with
``RMD_TEST_CPU=path.json``, writes every test's CPU seconds there.  A test's
module- or session-scoped fixtures count towards the first test that uses them.
"""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

_cpu: dict[str, float] = {}


def _now() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = _now()
    yield
    _cpu[item.nodeid] = _now() - start


def pytest_terminal_summary(terminalreporter) -> None:
    total = sum(_cpu.values())
    terminalreporter.section(f"CPU seconds per test (all {len(_cpu)}: {total:.0f} s)")
    for nodeid, seconds in sorted(_cpu.items(), key=lambda kv: -kv[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}  {nodeid}")
    if os.environ.get("RMD_TEST_CPU"):
        with open(os.environ["RMD_TEST_CPU"], "w", encoding="utf-8") as f:
            json.dump(dict(sorted(_cpu.items(), key=lambda kv: -kv[1])), f, indent=1)
