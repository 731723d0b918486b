"""Real monitoring servers for tests: Debian's Prometheus (with backfilled history, scrape
targets, rule files and an Alertmanager) and Alertmanager (posting to a webhook).

    with start_prometheus(tmp_path, history=openmetrics(samples)) as prom:
        httpx.get(prom.url + "/api/v1/query", params={"query": "up"})

    with WebhookSink() as sink, start_alertmanager(tmp_path, sink.url) as am:
        ...  # alerts reach sink.received (parsed JSON bodies)

Every server listens on 127.0.0.1 on a free port, keeps its data in a temp folder, is ready
(`/-/ready` answers 200) when started and stopped (terminate, wait, kill) on exit.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

Sample = tuple[str, Mapping[str, str], float, float]  # name, labels, epoch seconds, value


def require(binary: str) -> None:
    """Fail (never skip) with a one-line fix when a server binary is missing."""
    if not Path(binary).is_file():
        pytest.fail(f"{binary} is missing: apt-get install prometheus prometheus-alertmanager")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def openmetrics(samples: Iterable[Sample], kind: str = "gauge") -> str:
    """OpenMetrics text of the samples (families contiguous, each series in time order, `#
    EOF` last), as `promtool tsdb create-blocks-from openmetrics` reads it."""
    families: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]] = {}
    for name, labels, stamp, value in samples:
        series = families.setdefault(name, {}).setdefault(tuple(sorted(labels.items())), [])
        series.append((stamp, value))
    lines = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} {kind}")
        for labels, points in series.items():
            text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels)
            selector = f"{name}{{{text}}}" if text else name
            lines.extend(f"{selector} {_number(v)} {t:.3f}" for t, v in sorted(points))
    return "\n".join([*lines, "# EOF"]) + "\n"


def backfill(storage: Path, text: str) -> None:
    """Write history into a TSDB folder before Prometheus starts on it."""
    require(PROMTOOL)
    storage.mkdir(parents=True, exist_ok=True)
    source = storage.parent / f"{storage.name}-history.om"
    source.write_text(text)
    done = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(storage)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    source.unlink()
    if done.returncode != 0:
        pytest.fail(f"promtool could not backfill: {done.stderr.strip()[-500:]}", pytrace=False)


class Server:
    """A server process on 127.0.0.1 that is ready once `/-/ready` answers 200."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name, self.argv, self.port, self.log = name, argv, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        tail = self.log.read_text(errors="replace")[-1500:]
        pytest.fail(f"{self.name} did not become ready on {self.url}:\n{tail}", pytrace=False)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _host_port(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.hostname}:{parts.port}"


def start_prometheus(
    tmp: Path,
    *,
    history: str | None = None,
    scrape_targets: Iterable[str] = (),
    scrape_interval: str = "1s",
    rule_files: Iterable[Path] = (),
    evaluation_interval: str = "1s",
    alertmanager_url: str | None = None,
    retention: str = "30d",
    extra_args: Iterable[str] = (),
) -> Server:
    """A started Prometheus: `history` (OpenMetrics text) backfilled first; scrape targets
    (host:port or URLs, job "rca-test"), rule files and one Alertmanager configured (alerts
    are resent every second, so the first reaches it within seconds of firing)."""
    require(PROMETHEUS)
    folder = tmp / f"prometheus-{free_port()}"
    storage = folder / "data"
    storage.mkdir(parents=True)
    if history is not None:
        backfill(storage, history)
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval}
    }
    targets = [_host_port(t) for t in scrape_targets]
    if targets:
        config["scrape_configs"] = [
            {"job_name": "rca-test", "static_configs": [{"targets": targets}]}
        ]
    rules = [str(Path(r).resolve()) for r in rule_files]
    if rules:
        config["rule_files"] = rules
    if alertmanager_url:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [_host_port(alertmanager_url)]}]}]
        }
    (folder / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={storage}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        # the first notification may go out before Alertmanager is discovered: resend soon
        *(["--rules.alert.resend-delay=1s"] if alertmanager_url else []),
        *extra_args,
    ]
    return Server("prometheus", argv, port, folder / "prometheus.log").start()


def start_alertmanager(
    tmp: Path,
    webhook_url: str | Iterable[str],
    *,
    group_by: Iterable[str] = ("alertname",),
    bearer_token: str | None = None,
) -> Server:
    """A started Alertmanager (no gossip) routing every alert at once to its webhook(s)
    (group_wait 0s, group_interval 1s, repeat_interval 1h, resolved alerts sent too), with
    a bearer token on every webhook call if given."""
    require(ALERTMANAGER)
    folder = tmp / f"alertmanager-{free_port()}"
    (folder / "data").mkdir(parents=True)
    urls = [webhook_url] if isinstance(webhook_url, str) else list(webhook_url)
    hook: dict[str, Any] = {"send_resolved": True}
    if bearer_token:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    config = {
        "route": {
            "receiver": "webhook",
            "group_by": list(group_by),
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "webhook", "webhook_configs": [{**hook, "url": url} for url in urls]}
        ],
    }
    (folder / "alertmanager.yml").write_text(json.dumps(config, indent=2))
    port = free_port()
    argv = [
        ALERTMANAGER,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return Server("alertmanager", argv, port, folder / "alertmanager.log").start()


def use_prometheus(
    workspace: Path, url: str, queries: Mapping[str, str], *, step: str, extra: str = ""
) -> None:
    """Make Prometheus the workspace's only evidence source: its `[[sources]]` (the scaffold's
    files source) replaced by one with these metric → PromQL queries."""
    config = (workspace / "rca.toml").read_text()
    lines = "\n".join(f"{metric} = {json.dumps(query)}" for metric, query in queries.items())
    source = f'[[sources]]\nkind = "prometheus"\nurl = "{url}"\nstep = "{step}"\n{extra}'
    head, rest = config.split("[[sources]]")
    tail = rest[rest.index("[topology]") :]
    (workspace / "rca.toml").write_text(f"{head}{source}\n[sources.queries]\n{lines}\n\n{tail}")


class WebhookSink:
    """A local HTTP endpoint that keeps every JSON body POSTed to it (a webhook receiver)."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self._arrived = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._arrived:
                    sink.received.append(json.loads(body or b"null"))
                    sink._arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait(self, count: int = 1, timeout_s: float = 30) -> list[Any]:
        """Block until `count` bodies arrived (or fail)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout_s):
                pytest.fail(f"{len(self.received)} of {count} webhook calls in {timeout_s}s")
            return list(self.received)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = [
    "ALERTMANAGER",
    "PROMETHEUS",
    "PROMTOOL",
    "Server",
    "WebhookSink",
    "backfill",
    "free_port",
    "openmetrics",
    "start_alertmanager",
    "start_prometheus",
]
