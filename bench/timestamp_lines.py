"""Run a command, prefixing each line of its output (stdout and stderr merged) with a
monotonic-clock timestamp in seconds; exit with the command's status."""

from __future__ import annotations

import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    start = time.monotonic()
    print(f"{0.0:.3f} [start] {' '.join(argv)}", flush=True)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"{time.monotonic() - start:.3f} {line}", end="", flush=True)
    print(f"{time.monotonic() - start:.3f} [end] exit {proc.returncode}", flush=True)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
