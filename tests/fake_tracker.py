"""A fake issue tracker (GitHub- and Jira-like) on 127.0.0.1 for the ticket tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Tracker:
    """What the fake tracker received, and which request (1-based) it should refuse."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_at: int | None = None
    fail_status: int = 422
    fail_body: str = ""
    fail_headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        tracker: Tracker = self.server.tracker  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        tracker.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(raw) if raw else None,
            }
        )
        n = len(tracker.requests)
        headers = {"Content-Type": "application/json"}
        if tracker.fail_at == n:
            status, body = tracker.fail_status, tracker.fail_body
            headers.update(tracker.fail_headers)
        elif self.command == "POST" and self.path.endswith("/issues"):
            status, body = 201, json.dumps({"number": 41 + n, "html_url": "https://x/1"})
        elif self.command == "POST":
            status, body = 201, json.dumps({"key": "OPS-7", "id": "1", "self": "https://x"})
        elif self.command == "PATCH":
            status, body = 200, json.dumps({"number": int(self.path.rsplit("/", 1)[-1])})
        else:
            status, body = 204, ""
        data = body.encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PATCH = do_PUT = do_GET = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@contextmanager
def running() -> Iterator[Tracker]:
    """Serve a fresh tracker until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = Tracker(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.tracker = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
