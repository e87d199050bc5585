"""Turns LocalDagRunner's log into one progress line per component start and finish."""
import logging
import re
import sys
import time

_COMPONENT_EVENT = re.compile(r"^Component (\S+) is (running|finished)\.$")
_CACHE_HIT = re.compile(r"^A cached execution \d+ is used\.$")


class ComponentProgress(logging.Filter):
    """A log filter that prints `[i/n] Component running / finished (or reused from the cache) in Xs` and drops
    records below ERROR."""

    def __init__(self, component_count: int, stream=sys.stderr):
        super().__init__()
        self._count = component_count
        self._stream = stream
        self._started = {}
        self._cached = set()

    def filter(self, record: logging.LogRecord) -> bool:
        match = _COMPONENT_EVENT.match(record.getMessage())
        if match:
            self._report(*match.groups())
            return False
        if _CACHE_HIT.match(record.getMessage()) and self._started:
            self._cached.add(list(self._started)[-1])
            return False
        return record.levelno >= logging.ERROR

    def _report(self, component: str, event: str):
        if event == "running":
            self._started[component] = time.monotonic()
            position = len(self._started)
            print(f"[{position}/{self._count}] {component} running ...", file=self._stream, flush=True)
        else:
            seconds = time.monotonic() - self._started.get(component, time.monotonic())
            how = "reused from the cache" if component in self._cached else "finished"
            print(f"      {component} {how} in {seconds:.1f}s", file=self._stream, flush=True)


def show_component_progress(component_count: int) -> ComponentProgress:
    """Installs the progress filter on the root log handlers (absl's included); Python warnings go there too."""
    logging.captureWarnings(True)
    progress = ComponentProgress(component_count)
    for handler in logging.getLogger().handlers:
        handler.addFilter(progress)
    return progress
