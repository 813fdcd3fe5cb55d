"""What the numbers were measured on: cores, CPU model, memory, Python, and the load at start.

Absolute times are only comparable on the same machine, so every result carries this.
Nothing here names a path or a host.
"""

from __future__ import annotations

import os
import platform
import sys


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


def children_rss_mib(pid: int) -> list[float]:
    """Resident memory of each direct child of `pid` (gunicorn's workers), in MiB; Linux only."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            if parent != pid:
                continue
            with open(f"/proc/{entry}/status", encoding="utf-8") as status:
                rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue  # gone meanwhile, or a kernel thread
        found.append(round(rss_kib / 1024, 1))
    return sorted(found)
