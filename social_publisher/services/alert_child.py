"""The child process that sends one alert (``alert_sender.child_notify``): JSON in, JSON out.

Reads ``{"key", "label", "url", "title", "body", "attachments"}`` from stdin, sends it
with :func:`~.alert_sender.apprise_notify` and prints ``{"error": null | "why"}``.
"""

from __future__ import annotations

import json
import sys

from ..config import load_settings
from .alert_sender import Target, apprise_notify


def main() -> int:
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    url = str(request["url"])
    load_settings({"ALERT_URLS": url}, dotenv_path=None)  # its password: a secret here too
    target = Target(str(request["key"]), str(request["label"]), url)
    error = apprise_notify(
        target, str(request["title"]), str(request["body"]), list(request["attachments"])
    )
    sys.stdout.write(json.dumps({"error": error}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
