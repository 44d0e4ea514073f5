"""A failed fault test keeps its processes' logs and says where: pytest keeps only its last
few temporary directories, and a rare failure is worth its whole logs, not their tails."""

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    processes = getattr(item, "fault_processes", None)
    if report.failed and processes is not None:
        kept = processes.keep_logs(item.originalname)
        report.sections.append(("process logs", f"every process's whole log is kept in {kept}"))
    return report
