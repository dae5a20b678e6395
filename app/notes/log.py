"""The app's log: JSON lines on stderr (uWSGI hands them to the journal), each line written while
a request is served carrying that request's ID (nginx's X-Request-ID), its method and path."""

from __future__ import annotations

import json
import logging
import sys

from flask import Flask, has_request_context, request


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        if has_request_context():
            line.update(request_id=request.headers.get("X-Request-ID", ""), method=request.method,
                        path=request.path)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class Stderr(logging.Handler):
    """Writes to whatever sys.stderr is when a line is logged."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)


def configure(app: Flask) -> None:
    handler = Stderr()
    handler.setFormatter(JsonLines())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
    app.logger.propagate = False
