"""A one-line progress display on stderr (only on a terminal unless forced)."""

import sys
import time


class Progress:
    """``Progress(total, label, enabled=None)``; ``update(i, **fields)`` redraws at most
    every ``interval`` seconds; ``close()`` ends the line. ``enabled=None`` shows the line
    only when stderr is a TTY."""

    def __init__(self, total, label, enabled=None, interval=0.2, stream=None):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = bool(enabled)
        self.total = int(total)
        self.label = label
        self.interval = float(interval)
        self.start = time.perf_counter()
        self.last = -float("inf")
        self.shown = False

    def update(self, i, force=False, **fields):
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.interval and i < self.total:
            return
        self.last = now
        elapsed = now - self.start
        rate = i / elapsed if elapsed > 0 else 0.0
        extra = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in fields.items())
        self.stream.write(f"\r{self.label}: {i}/{self.total}  {rate:.1f} it/s  {extra}   ")
        self.stream.flush()
        self.shown = True

    def close(self, note=""):
        if self.enabled and self.shown:
            self.stream.write(f"  {note}\n" if note else "\n")
            self.stream.flush()
