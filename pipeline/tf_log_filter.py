"""Keeps TensorFlow's C++ start-up lines out of the `textrnn` command's output, in its own process and in the
Beam worker processes it starts.

TensorFlow logs through absl before anything can configure it: "Could not find cuda drivers", the CPU
instructions it was not built for, oneDNN notices and, on machines without a GPU, a failed cuInit. Setting
TF_CPP_MIN_LOG_LEVEL=3 silences what goes through TensorFlow's logging once it is loaded; the lines absl writes
while the libraries load ignore it, so the process's standard error (file descriptor 2, which child processes
inherit) runs through a pipe that drops exactly those lines and passes everything else on.
"""
import os
import re
import sys
import threading

TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# absl's informational and warning lines: "I0000 00:00:1796011912.689741   15483 cudart_stub.cc:31] ...".
# Before absl is initialised the time is seconds since the epoch: "00:00:1796011912.689741".
_ABSL_LINE = re.compile(rb"^[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.-]+:\d+\] ")
_NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",  # the second line of cpu_feature_guard's notice
)


def is_tensorflow_startup_line(line: bytes) -> bool:
    return bool(_ABSL_LINE.match(line)) or line.startswith(_NOISE)


class TensorflowLogFilter:
    """While active, lines written to file descriptor 2 pass unless they are TensorFlow start-up lines.

    Example:

    >>> with TensorflowLogFilter():
    ...     pass  # import tensorflow and work here
    """

    def __enter__(self):
        self._log_level = os.environ.get(TF_LOG_LEVEL_ENV)
        os.environ.setdefault(TF_LOG_LEVEL_ENV, "3")
        sys.stderr.flush()
        self._stderr = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._copy, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _copy(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not is_tensorflow_startup_line(line))
                if kept:
                    os.write(self._stderr, kept)
            if pending and not is_tensorflow_startup_line(pending):
                os.write(self._stderr, pending)

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        os.dup2(self._stderr, 2)  # the pipe closes once worker processes that inherited it have exited too
        self._thread.join(timeout=5)
        os.close(self._stderr)
        if self._log_level is None:  # the process as it was: a caller that runs main() in-process keeps its setting
            os.environ.pop(TF_LOG_LEVEL_ENV, None)
        return False
