"""The idle daemon's memory and CPU with alerts on (ALERT_URLS set) against alerts off.

    .venv/bin/python bench/bench_alerts.py [--posts 1000] [--seconds 60]

Same setup as ``bench_idle.py`` (N approved posts both channels due 60+ days ahead, the
real daemon ``python -m social_publisher run`` against an in-process sandbox, restarted on
an already-planned database), run twice on the same database: once with no ALERT_URLS (the
naive baseline: no alerts at all) and once with ALERT_URLS pointing at a local JSON webhook
and an e-mail target on loopback. With alerts on the daemon loads Apprise, runs the sender
and watch jobs and writes a heartbeat; the figure is what that costs while idle. Each run
also sends one alert (the daemon's start after a ``daemon_down``) so Apprise is really
loaded. Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_idle import daemon_env, sample, write_queue  # noqa: E402

from social_publisher.sandbox import Sandbox  # noqa: E402

received: list[dict[str, object]] = []

#: the naive way: send with Apprise in the daemon's own process; what stays resident after
NAIVE = """
import sys
from pathlib import Path
from social_publisher.services import daemon  # what the daemon has loaded anyway
from social_publisher.services.alert_sender import Target, apprise_notify
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
apprise_notify(Target("k", "1. json", sys.argv[1]), "t", "b", ())
print(f"{rss() - before:+.1f}")
"""


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def run_idle(cli: list[str], env: dict[str, str], work: Path, seconds: float) -> tuple[float, ...]:
    proc = subprocess.Popen(
        [*cli, "run"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(8)  # start, the first pass over a planned queue, the first alert jobs
        return sample(proc.pid, seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    write_queue(work / "queue", args.posts)
    cli = [sys.executable, "-m", "social_publisher", "--env-file", "none.env"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"json://127.0.0.1:{server.server_address[1]}/canh-bao"
    with Sandbox() as sandbox:
        outside = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_")}
        env = {**daemon_env(work, sandbox, outside), "ALERT_QUIET_HOURS": ""}
        subprocess.run([*cli, "init"], env=env, cwd=work, check=True, capture_output=True)
        # plan every publication once, so both measured runs start from the same database
        subprocess.run([*cli, "run", "--once"], env=env, cwd=work, capture_output=True)
        on = {
            **env,
            "ALERT_URLS": f"{hook} mailto://vhtt:mat-khau-thu@127.0.0.1:9?to=a@ducpho.gov.vn",
        }
        # a daemon_down alert, so the alerts-on start sends its "daemon runs again" message
        subprocess.run([*cli, "doctor", "--alert"], env=on, cwd=work, capture_output=True)
        print(f"idle daemon, {args.posts} future posts (both channels), {args.seconds:.0f} s idle")
        results = {}
        for name, run_env in (("alerts off (no ALERT_URLS)", env), ("alerts on (2 targets)", on)):
            end, peak, cpu = run_idle(cli, run_env, work, args.seconds)
            results[name] = end
            print(f"  {name}: RSS {end:.1f} MB at the end, {peak:.1f} MB peak; CPU {cpu:.2f} %")
        off_mb, on_mb = results.values()
        print(f"  alerts cost {on_mb - off_mb:+.1f} MB resident; webhook messages: {len(received)}")
        naive = subprocess.run(
            [sys.executable, "-c", NAIVE, hook], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"  naive (Apprise inside the daemon): one send keeps {naive} MB resident for good")
    server.shutdown()


if __name__ == "__main__":
    main()
