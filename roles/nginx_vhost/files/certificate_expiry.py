#!/usr/bin/python3
"""When each site's served certificate expires, as a Prometheus textfile for the node exporter.

Run as root by flask-deploy-certificate-expiry.service (hourly, and by each deploy that changes a
certificate or the sites): for each SITE=PATH, the certificate nginx's vhost names (the first one
of the file, the site's own), its notAfter as flask_deploy_certificate_expiry_timestamp_seconds
{site=SITE} (seconds since the epoch; days left are (it - time()) / 86400). The file is replaced
atomically, so the exporter never reads half of it. A certificate that cannot be read is left
out, named on stderr, and the run fails (systemctl --failed).

usage: certificate_expiry.py TEXTFILE SITE=PATH...
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography import x509

METRIC = "flask_deploy_certificate_expiry_timestamp_seconds"


def not_after(path: Path) -> int:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    when = getattr(cert, "not_valid_after_utc", None)  # cryptography 42 and later
    if when is None:
        from datetime import timezone
        when = cert.not_valid_after.replace(tzinfo=timezone.utc)
    return int(when.timestamp())


def label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def main(textfile: str, *sites: str) -> int:
    lines = [f"# HELP {METRIC} When the site's served certificate expires (its notAfter).",
             f"# TYPE {METRIC} gauge"]
    failed = []
    for pair in sites:
        site, _, path = pair.partition("=")
        try:
            lines.append(f'{METRIC}{{site="{label(site)}"}} {not_after(Path(path))}')
        except (OSError, ValueError) as exc:
            failed.append(f"{site}: {path}: {exc}")
    target = Path(textfile)
    partial = target.with_name(f".{target.name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, 0o644)
    os.replace(partial, target)
    for line in failed:
        print(f"certificate_expiry: cannot read {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
