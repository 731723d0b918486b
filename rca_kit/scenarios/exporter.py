"""A live demo pipeline for Prometheus to scrape: orders-api feeds orders-consumer.

    python -m rca_kit.scenarios.exporter --port 9464 [--fault backpressure] [--speed 60]

serves the Prometheus text format on /metrics: `rca_demo_<metric>{service="…"}` gauges for
ingest_rate, processing_rate (records/s), consumer_lag_seconds, queue_depth, error_rate
(errors/s) and latency_p99_seconds of the consumer and its upstream. With the backpressure
fault ingest runs 40% above the consumer's capacity, so the backlog, and with it the lag,
grows for as long as the fault lasts; without it the consumer drains the backlog.
`POST /fault` toggles the fault (`?name=backpressure` or `?name=none` sets it), `GET /fault`
shows it. `--speed` runs simulated time faster than the clock (60: a minute per second).
The rca.toml queries of README.md, "Evidence from Prometheus and git", read these names.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "rca_demo_"
FAULTS = ("none", "backpressure")
HELP = {
    "ingest_rate": "Records arriving per second (records/s).",
    "processing_rate": "Records processed per second (records/s).",
    "consumer_lag_seconds": "How far behind the consumer is, in seconds of processing.",
    "queue_depth": "Records waiting to be processed.",
    "error_rate": "Errors per second (errors/s).",
    "latency_p99_seconds": "99th percentile of request or record latency (seconds).",
}


class Pipeline:
    """The simulated pipeline, advanced to the current time whenever it is read."""

    def __init__(
        self,
        service: str = "orders-consumer",
        upstream: str = "orders-api",
        *,
        fault: str = "none",
        speed: float = 1.0,
        seed: int = 7,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fault not in FAULTS:
            msg = f"unknown fault {fault!r} (one of {', '.join(FAULTS)})"
            raise ValueError(msg)
        self.service, self.upstream, self.fault, self.speed = service, upstream, fault, speed
        self.capacity = 3000.0  # records/s the consumer can process
        self.backlog = 0.0
        self.elapsed = 0.0  # simulated seconds
        self.clock = clock
        self.last = clock()
        self.rng = random.Random(seed)  # noqa: S311 - simulated noise, not secrets
        self.lock = threading.Lock()
        self.values: dict[tuple[str, str], float] = {}
        self._advance(0.0)

    def _noise(self, scale: float) -> float:
        return 1.0 + self.rng.gauss(0.0, scale)

    def _advance(self, seconds: float) -> None:
        self.elapsed += seconds
        daily = 1.0 + 0.15 * math.sin(2 * math.pi * self.elapsed / 86_400)
        demand = 2000.0 * daily * self._noise(0.02)
        ingest = self.capacity * 1.4 * self._noise(0.02) if self.fault != "none" else demand
        capacity = self.capacity * self._noise(0.01)
        processing = min(capacity, ingest + self.backlog / max(seconds, 1.0))
        backlog = self.backlog + (ingest - processing) * seconds
        self.backlog = backlog if backlog >= 0.5 else 0.0  # less than one record is none
        lag = self.backlog / max(processing, 1.0)
        busy = min(ingest / capacity, 1.0)
        consumer = {
            "ingest_rate": ingest,
            "processing_rate": processing,
            "consumer_lag_seconds": lag,
            "queue_depth": self.backlog,
            "error_rate": 0.2 * self._noise(0.2),
            "latency_p99_seconds": (0.08 + 0.4 * busy**8) * self._noise(0.05),
        }
        api = {
            "ingest_rate": ingest,
            "processing_rate": ingest,
            "consumer_lag_seconds": 0.0,
            "queue_depth": 0.0,
            "error_rate": 0.5 * self._noise(0.2),
            "latency_p99_seconds": 0.12 * self._noise(0.05),
        }
        for metric, value in consumer.items():
            self.values[(self.service, metric)] = max(value, 0.0)
        for metric, value in api.items():
            self.values[(self.upstream, metric)] = max(value, 0.0)

    def tick(self) -> None:
        """Advance simulated time to now (in steps of at most a simulated minute)."""
        now = self.clock()
        remaining = (now - self.last) * self.speed
        self.last = now
        while remaining > 0:
            step = min(remaining, 60.0)
            self._advance(step)
            remaining -= step

    def set_fault(self, fault: str | None) -> str:
        """Set the fault (None toggles it); returns the fault now in effect."""
        with self.lock:
            self.tick()
            if fault is None:
                fault = "none" if self.fault != "none" else "backpressure"
            if fault not in FAULTS:
                msg = f"unknown fault {fault!r} (one of {', '.join(FAULTS)})"
                raise ValueError(msg)
            self.fault = fault
            return fault

    def exposition(self) -> str:
        """The Prometheus text format (0.0.4) of every gauge."""
        with self.lock:
            self.tick()
            values = dict(self.values)
        lines = []
        for metric, text in HELP.items():
            lines += [f"# HELP {PREFIX}{metric} {text}", f"# TYPE {PREFIX}{metric} gauge"]
            for service in (self.upstream, self.service):
                label = service.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                lines.append(
                    f'{PREFIX}{metric}{{service="{label}"}} {values[(service, metric)]:.6g}'
                )
        return "\n".join(lines) + "\n"

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"fault": self.fault, "simulated_seconds": round(self.elapsed, 1)}


def handler(pipeline: Pipeline) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: str, kind: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/metrics":
                self._send(200, pipeline.exposition(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/fault":
                self._send(200, json.dumps(pipeline.state()) + "\n", "application/json")
            elif path == "/":
                self._send(200, "rca-kit demo pipeline: GET /metrics, POST /fault\n", "text/plain")
            else:
                self._send(404, "not found\n", "text/plain")

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/fault":
                self._send(404, "not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace").strip() if length else ""
            names = parse_qs(url.query).get("name")
            name = names[0] if names else (body or None)  # nothing given: toggle
            try:
                pipeline.set_fault(name)
            except ValueError as exc:
                self._send(400, json.dumps({"error": str(exc)}) + "\n", "application/json")
                return
            self._send(200, json.dumps(pipeline.state()) + "\n", "application/json")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every second would flood the terminal

    return Handler


def serve(pipeline: Pipeline, host: str = "127.0.0.1", port: int = 9464) -> ThreadingHTTPServer:
    """A server (not yet serving: call serve_forever) exposing the pipeline."""
    server = ThreadingHTTPServer((host, port), handler(pipeline))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rca_kit.scenarios.exporter", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=9464)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--service", default="orders-consumer")
    parser.add_argument("--upstream", default="orders-api")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    pipeline = Pipeline(
        args.service, args.upstream, fault=args.fault, speed=args.speed, seed=args.seed
    )
    server = serve(pipeline, args.host, args.port)
    print(f"serving http://{args.host}:{server.server_address[1]}/metrics", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
