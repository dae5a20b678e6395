"""A Prometheus server's own view, asked on its host: its alerts (GET /api/v1/alerts), its
targets and its rules, and the time an alert takes to reach a state."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from testlib.run import PROJECT

API = "http://127.0.0.1:9090/api/v1"


def api(server: Any, path: str) -> Any:
    """The data of a GET of the server's HTTP API."""
    answer = json.loads(server.check_output(f"curl -sS --max-time 5 {API}/{path}"))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(server: Any, expr: str) -> list[dict[str, Any]]:
    """The instant vector of a PromQL expression: each series' labels (metric) and [time, value]."""
    answer = json.loads(server.check_output(
        f"curl -sS --max-time 5 -G --data-urlencode query={shlex.quote(expr)} {API}/query"))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def active_at(alert: dict[str, Any]) -> float:
    """When the alert's condition became true, as Prometheus says (seconds since the epoch)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{1,6})\d*", r"\1", alert["activeAt"]).replace("Z", "+00:00")).timestamp()


def alert_state(server: Any, name: str, **labels: str) -> str:
    """firing, pending, or inactive (Prometheus lists no alert of that name with those labels)."""
    states = {alert["state"] for alert in api(server, "alerts")["alerts"]
              if alert["labels"].get("alertname") == name
              and all(alert["labels"].get(k) == v for k, v in labels.items())}
    return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"


def firing_alert(server: Any, name: str, **labels: str) -> dict[str, Any]:
    """The alert as Prometheus lists it (labels, annotations, activeAt, value), while it fires."""
    alerts = [alert for alert in api(server, "alerts")["alerts"]
              if alert["state"] == "firing" and alert["labels"].get("alertname") == name
              and all(alert["labels"].get(k) == v for k, v in labels.items())]
    assert alerts, f"{name} {labels} does not fire"
    return alerts[0]


def seconds_until(check: Callable[[], object], limit: float, every: float = 0.5) -> float | None:
    """Seconds until check() is true, or None past the limit: a drill records what it saw, and
    each test asserts on its part."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            return None
        time.sleep(every)
    return time.monotonic() - start


def record(drill: str, seen: dict[str, Any]) -> None:
    """A drill's figures (seconds), kept in .cache/alert-drills.json beside the JUnit reports."""
    path = PROJECT / ".cache" / "alert-drills.json"
    path.parent.mkdir(exist_ok=True)
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[drill] = {k: round(v, 1) if isinstance(v, float) else v for k, v in seen.items()
                      if isinstance(v, (int, float)) or v is None}
    path.write_text(json.dumps(figures, indent=1) + "\n")
