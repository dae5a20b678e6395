"""Running a program the roles ship to hosts as `python3 FILE ARGS...` would, in pytest's process
(so coverage sees it): its exit status as the interpreter makes it and what it printed."""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_as_main(path: Path, argv: tuple[object, ...], monkeypatch: Any, capsys: Any) -> Run:
    """sys.exit("message") is 1 with the message on stderr, as the interpreter makes it."""
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, argv)])
    capsys.readouterr()
    try:
        runpy.run_path(str(path), run_name="__main__")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    out = capsys.readouterr()
    return Run(0 if code is None else int(code), out.out, out.err)
