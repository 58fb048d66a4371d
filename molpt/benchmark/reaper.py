"""Kill a process's descendants once it has died.

The pool executor's workers end with the driver by themselves (``PR_SET_PDEATHSIG`` and a
watchdog thread).  A local Ray instance started by the driver is not ours to change: after a
kill -9 of the driver its task workers and raylet end, but Ray's per-node agents live on.
``start_reaper()`` starts this module as a small companion process that notes the driver's
descendants once a second and, when the driver is gone, kills those still running (psutil
checks each one's start time, so a reused pid is never hit).  ``stop()`` ends the companion
after a normal shutdown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def watch(pid: int, interval: float = 1.0, ready=None) -> None:
    """Until ``pid`` dies, remember its descendants; then kill those still running.

    ``ready()`` is called once the first look at the descendants is done.
    """
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    seen: dict[int, psutil.Process] = {}
    me = os.getpid()
    while True:
        try:
            if parent.status() == psutil.STATUS_ZOMBIE:
                break
            for c in parent.children(recursive=True):
                if c.pid != me:
                    seen.setdefault(c.pid, c)
        except psutil.NoSuchProcess:
            break
        if ready is not None:
            ready()
            ready = None
        time.sleep(interval)
    for p in seen.values():
        try:
            if p.is_running():
                p.kill()
        except psutil.Error:
            pass


def start_reaper() -> subprocess.Popen:
    """Start the companion process for this process (stop it with ``.terminate()``); return
    once it has taken its first look at this process's descendants."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(os.getpid())],  # a plain script: no molpt/torch import
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    proc.stdout.readline()  # "ready" (or EOF if it could not start)
    proc.stdout.close()
    return proc


def _ready() -> None:
    try:
        print("ready", flush=True)
        sys.stdout.close()
    except OSError:
        pass


if __name__ == "__main__":
    watch(int(sys.argv[1]), ready=_ready)
