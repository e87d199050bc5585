"""`textrnn` and pipeline/local_runner.py end without the interpreter's teardown (about 3 s once TensorFlow is
loaded), yet as any exit would: the exit handlers run, buffered output reaches its pipe, the status is kept."""
import os
import subprocess
import sys


def test_exit_without_teardown_runs_exit_handlers_flushes_output_and_keeps_the_status():
    code = ("import atexit, tempfile, os\n"
            "from textrnn.pipeline.local_runner import exit_without_teardown\n"
            "folder = tempfile.TemporaryDirectory()\n"  # removed by its finalizer, an exit handler
            "print(folder.name)\n"
            "atexit.register(print, 'handler ran')\n"
            "print('buffered', end=' ')\n"  # stdout to a pipe is block-buffered: lost unless flushed
            "exit_without_teardown(3)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    folder, rest = result.stdout.split("\n", 1)
    assert rest == "buffered handler ran\n"
    assert not os.path.exists(folder)
