"""A real `rca serve` process on a free loopback port, for tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

RCA = str(Path(sys.executable).parent / "rca")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`rca serve` in a workspace; `stop()` is graceful (SIGTERM), `kill()` is a crash."""

    def __init__(
        self,
        workspace: Path,
        *,
        token: str | None = "test-token",  # noqa: S107
        investigations: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.token = token
        self.investigations = investigations
        self.extra_env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workspace / f"serve-{time.monotonic_ns()}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self, timeout_s: float = 30) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_TOKEN")}
        env.update(self.extra_env)
        args = [RCA, "--workspace", str(self.workspace), "serve"]
        args += ["--investigations", str(self.investigations)]
        if self.token is None:
            args.append("--no-auth")
        else:
            env["RCA_TOKEN"] = self.token
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [*args, "--port", str(self.port)], stdout=log, stderr=log, env=env
                )
            if self._ready(timeout_s):
                return self
            self.kill()
        raise RuntimeError(f"rca serve did not start:\n{self.log.read_text()[-3000:]}")

    def _ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def post(self, body: bytes | str, path: str = "/api/v1/alerts", **kw: Any) -> httpx.Response:
        headers = {**self.headers, "Content-Type": "application/json", **kw.pop("headers", {})}
        data = body.encode() if isinstance(body, str) else body
        return httpx.post(self.url + path, content=data, headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers, timeout=30, **kw)

    def wait_for(self, path: str, check: Any, timeout_s: float = 240) -> Any:
        """Poll a GET until `check(json)` is truthy; return the JSON."""
        deadline = time.monotonic() + timeout_s
        data = None
        while time.monotonic() < deadline:
            data = self.get(path).json()
            if check(data):
                return data
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting on {path}: last {data!r}\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
