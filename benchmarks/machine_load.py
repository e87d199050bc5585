"""A loaded machine on demand, for tests whose verdict must not depend on what else the machine is doing."""
import contextlib
import os
import subprocess
import sys


@contextlib.contextmanager
def busy_cores(count: int = 0):
    """Keeps `count` cores (0: every core) busy with one busy loop each while the block runs.

    Example:

        with busy_cores():
            result = run_local(options, progress=False)
    """
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count or os.cpu_count())]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
