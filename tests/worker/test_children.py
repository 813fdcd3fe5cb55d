"""Children bound to their parent: the early-death check compares with the real parent, so a
worker that is pid 1 in its container can still start its synthesis processes."""

from __future__ import annotations

import subprocess
import sys

CHILD_OF_PID_ONE = """
import os, subprocess, sys
from soundbite.children import bound_to_this_process
# Stand in for a parent that is pid 1: ask the child to compare with this process's pid.
child = subprocess.run([sys.executable, "-c", "print('alive')"], preexec_fn=bound_to_this_process(),
                       capture_output=True, text=True)
print(child.returncode, child.stdout.strip())
"""


def test_a_child_of_a_live_parent_runs_whatever_the_parent_pid_is():
    out = subprocess.run([sys.executable, "-c", CHILD_OF_PID_ONE], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0 alive", out.stderr


def test_a_child_whose_parent_is_already_gone_is_signalled():
    script = ("import os, signal\nfrom soundbite.children import die_with_parent\n"
              "die_with_parent(signal.SIGKILL, parent=os.getppid() + 999999)\nprint('survived')")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9 and "survived" not in out.stdout
