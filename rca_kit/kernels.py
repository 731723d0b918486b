"""Kernel start-up for the runner: "warm" kernels forked from a zygote, or "fresh" ones.

`WarmKernelManager` is an ordinary jupyter_client kernel manager whose provisioner asks this
worker's zygote (`rca_kit.zygote`) to fork the kernel instead of starting a new interpreter;
everything else (connection files, messaging, interrupts, shutdown, nbclient, papermill) is
unchanged. A kernel the zygote cannot fork (another kernelspec, a zygote that died or failed
to load) starts the usual way, so "warm" never fails where "fresh" would work.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import EntryPoint
from queue import Empty
from typing import IO, Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import DottedObjectName, Type

from .children import die_with_parent
from .zygote import forkable

PROVISIONER = "rca-kit-forked"
READY_TIMEOUT_S = 120


class Zygote:
    """A preloaded process (owned by the caller) that forks kernels for every worker that
    connects to its socket: `address` is passed to the workers, `close()` stops it."""

    def __init__(self, log: IO[bytes] | None = None) -> None:
        self.folder = tempfile.mkdtemp(prefix="rca-kit-zygote-")  # 0700: only we connect
        self.address = os.path.join(self.folder, "z")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rca_kit.zygote", self.address],
            stdin=subprocess.PIPE,  # closed by close(): the zygote then leaves
            stdout=log if log is not None else 2,  # never our stdout: it may be a protocol
            stderr=log,
            preexec_fn=die_with_parent,
        )

    @property
    def spec(self) -> str:
        """How a worker reaches it (`start_zygote(shared=...)`): "pid:address"."""
        return f"{self.process.pid}:{self.address}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class ZygoteLink:
    """One worker's connection to a zygote: `ready()` waits for its preload, `fork()` asks
    for a kernel. `owned` is the zygote when this worker started its own."""

    def __init__(self, pid: int, address: str, owned: Zygote | None = None) -> None:
        self.pid, self.address, self.owned = pid, address, owned
        self.lock = threading.Lock()
        self._ready: bool | None = None
        self._stream: Any = None
        self._sock: socket.socket | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            self._pidfd = None

    @classmethod
    def private(cls, log: IO[bytes] | None = None) -> ZygoteLink:
        zygote = Zygote(log)
        return cls(zygote.process.pid, zygote.address, zygote)

    @classmethod
    def shared(cls, spec: str) -> ZygoteLink:
        pid, _, address = spec.partition(":")
        return cls(int(pid), address)

    def alive(self) -> bool:
        if self._pidfd is None:
            return False
        exited, _, _ = select.select([self._pidfd], [], [], 0)
        return not exited

    def ready(self) -> bool:
        """Wait for the preload to finish; False if the zygote failed or died."""
        with self.lock:
            if self._ready is None:
                self._ready = self._connect()
            return self._ready and self.alive()

    def _connect(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.address)
                break
            except OSError:  # not listening yet, or gone
                sock.close()
                if not self.alive() or time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
        self._sock = sock
        self._stream = sock.makefile("rw", encoding="utf-8", newline="\n")
        readable, _, _ = select.select([sock], [], [], deadline - time.monotonic())
        line = self._stream.readline() if readable else ""
        return bool(line) and "ready" in json.loads(line)

    def fork(
        self, args: list[str], cwd: str, env: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        """A kernel process running `ipykernel` with `args`: its pid and the connection info of
        the ports it bound itself; None if the zygote (or that kernel, while starting) died."""
        if not self.ready():
            return None
        with self.lock:
            try:
                self._stream.write(json.dumps({"args": args, "cwd": cwd, "env": env}) + "\n")
                self._stream.flush()
                line = self._stream.readline()
            except (OSError, ValueError):
                return None
        if not line:
            return None
        answer = json.loads(line)
        if answer.get("pid") is None:  # its kernel died while starting
            return None
        return int(answer["pid"]), answer["connection"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._stream is not None:
                self._stream.close()
            if self._sock is not None:
                self._sock.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self.owned is not None:
            self.owned.close()


_zygote: ZygoteLink | None = None


def start_zygote(log: IO[bytes] | None = None, *, shared: str | None = None) -> ZygoteLink:
    """This process's link to a zygote: the `shared` one its pool started ("pid:address"),
    else one of its own (started once; it preloads while the caller does other work). A
    zygote that died is replaced by one of this process's own."""
    global _zygote
    if _zygote is None or not _zygote.alive():
        if _zygote is None:
            atexit.register(stop_zygote)
            link = ZygoteLink.shared(shared) if shared else None
            _zygote = link if link is not None and link.alive() else None
        else:
            _zygote.close()  # it died: one of our own takes its place
            _zygote = None
        if _zygote is None:
            _zygote = ZygoteLink.private(log)
    return _zygote


def stop_zygote() -> None:
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


class ForkedKernel:
    """A forked kernel seen through the Popen methods a provisioner uses. It is the zygote's
    child, not ours: its exit is observed through a pidfd."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd, self.returncode = None, -signal.SIGKILL

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if readable:
                self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], timeout)
            if not readable:
                raise subprocess.TimeoutExpired(["kernel"], timeout or 0)
            self._exited()
        assert self.returncode is not None
        return self.returncode

    def _exited(self) -> None:
        assert self._pidfd is not None
        os.close(self._pidfd)
        self._pidfd, self.returncode = None, 0  # the zygote reaps it and keeps the status

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernels come from this process's zygote when it can fork them."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        forked = None
        if _zygote is not None and forkable(cmd):
            env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
            forked = _zygote.fork(cmd[3:], str(kwargs.get("cwd") or os.getcwd()), env)
        if forked is None:
            return await super().launch_kernel(cmd, **kwargs)
        pid, connection = forked
        self.process = ForkedKernel(pid)  # type: ignore[assignment]
        self.pid = self.pgid = pid  # the kernel leads its own process group
        self.cwd = kwargs.get("cwd") or os.getcwd()
        # the kernel bound ports of its own (never ones picked for it, which anyone could take
        # before it binds them): the manager takes them and its key
        return {**connection, "key": str(connection["key"]).encode()}


class WarmKernelClient(AsyncKernelClient):
    """jupyter_client's readiness check (a kernel_info reply, then any IOPub message to prove
    IOPub is subscribed), polling IOPub in short steps: a kernel that is up in 50 ms is not
    kept waiting 200 ms because its first status message beat the subscription."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.05)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")


class WarmKernelManager(AsyncKernelManager):
    """An AsyncKernelManager that starts its kernel through ForkProvisioner."""

    client_class = DottedObjectName(f"{__name__}.WarmKernelClient")
    client_factory = Type(WarmKernelClient, klass=AsyncKernelClient)

    @property
    def kernel_spec(self) -> Any:
        spec = super().kernel_spec
        if spec is not None:
            spec.metadata = {
                **spec.metadata,
                "kernel_provisioner": {"provisioner_name": PROVISIONER},
            }
        return spec


def warm_options() -> dict[str, Any]:
    """papermill/nbclient options that run a notebook on a kernel forked from this process's
    zygote (started here if it is not yet). A forked kernel holds nothing worth a graceful
    shutdown: it is stopped at once."""
    start_zygote()
    register_provisioner()
    return {"kernel_manager_class": WarmKernelManager, "shutdown_kernel": "immediate"}


def register_provisioner() -> None:
    factory = KernelProvisionerFactory.instance()
    factory.provisioners.setdefault(
        PROVISIONER,
        EntryPoint(
            name=PROVISIONER,
            value=f"{__name__}:ForkProvisioner",
            group=KernelProvisionerFactory.GROUP_NAME,
        ),
    )
