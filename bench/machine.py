"""What the numbers were measured on: cores, CPU model, memory, Python, and the load at start.

Absolute times are only comparable on the same machine, so every result carries this.
Nothing here names a path or a host.
"""

from __future__ import annotations

import os
import platform
import sys

import psutil


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def describe() -> dict:
    """A short description of this machine and interpreter."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
        "load_average_at_start": load,
    }


def one_line(machine: dict) -> str:
    memory = f", {machine['memory_gib']} GiB" if machine.get("memory_gib") else ""
    return (f"{machine['cores']} cores ({machine['cpu_model']}){memory}, "
            f"Python {machine['python']}, load at start {machine['load_average_at_start']}")


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def children_rss_mib(pid: int) -> list[float]:
    """Resident memory of each direct child of `pid` (gunicorn's workers), in MiB."""
    found = []
    for child in _children(pid):
        try:
            found.append(round(child.memory_info().rss / 2**20, 1))
        except psutil.Error:
            continue  # gone meanwhile
    return sorted(found)


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system) each direct child of `pid` has used so far, by pid."""
    found = {}
    for child in _children(pid):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        found[child.pid] = times.user + times.system
    return found
