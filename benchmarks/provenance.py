"""What every saved benchmark result says about how it was measured: what the run was, the command and the
settings it ran with, the code and the machine. Each script under benchmarks/ saves it beside its rows as
"provenance" (accuracy.py keeps its own per row: its rows come from separate runs).

Example:

>>> from benchmarks.provenance import provenance
>>> saved = provenance("an example", {"rounds": 3})
>>> sorted(saved)
['code_version', 'command', 'description', 'machine', 'saved', 'settings']
"""
import datetime
import os
import platform
import shlex
import sys

from textrnn.code_version import code_version


def provenance(description: str, settings: dict) -> dict:
    """`description` of the run and its `settings` (the parsed flags and any fixed ones the script adds), with the
    command line, the code version, the machine's cores and platform, and the time it was saved."""
    return {
        "description": description,
        "command": shlex.join(["scripts/run_benchmark.sh", os.path.splitext(os.path.basename(sys.argv[0]))[0],
                               *sys.argv[1:]]),
        "settings": settings,
        "code_version": code_version(),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
