"""How many CPU cores this process may use: for thread pools (ONNX Runtime, data loaders) and
worker processes (batch rendering)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads slow ORT's matmuls down), within
    the thread budget its parent set in OMP_NUM_THREADS: Ray sets it to a task's CPUs and the
    local batch engine to each worker's share, so parallel albums do not oversubscribe cores."""
    usable = usable_cores()
    budget = os.environ.get("OMP_NUM_THREADS", "")
    if budget.isdigit() and int(budget) > 0:
        usable = min(usable, int(budget))
    try:
        cores = set()
        physical_id = "0"
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    physical_id = value.strip()
                elif key.strip() == "core id":
                    cores.add((physical_id, value.strip()))
        physical = len(cores) or usable
    except OSError:
        physical = usable
    return max(1, min(physical, usable))
