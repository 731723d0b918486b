"""A payload file is read within bounds: one over the limit is refused in one line and kept
as a bounded dead letter (its head, size and sha256), never read or stored whole."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from rca_kit.intake import MAX_PAYLOAD_BYTES
from rca_kit.register import Register

Rca = Callable[..., subprocess.CompletedProcess[str]]


def test_a_huge_payload_file_is_refused_and_kept_bounded(rca: Rca, workspace_dir: Path) -> None:
    big = workspace_dir / "storm.json"
    with big.open("wb") as handle:  # 40 MB of garbage: far over the 5 MiB limit
        handle.write(b'{"name": "x", "garbage": "')
        handle.write(b"z" * (40 * 1024 * 1024))
    done = rca("alert", "ingest", str(big))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"the limit is {MAX_PAYLOAD_BYTES}" in line
    assert "Traceback" not in done.stderr
    register = Register(f"sqlite:///{workspace_dir / 'rca.db'}")
    try:
        [letter] = register.dead_letters()
    finally:
        register.close()
    assert len(letter["payload"]) == 64 * 1024
    assert big.read_bytes().startswith(letter["payload"])
    assert hashlib.sha256(big.read_bytes()).hexdigest() in letter["error"]
    assert str(big.stat().st_size) in letter["error"]
    assert (workspace_dir / "rca.db").stat().st_size < 5 * 1024 * 1024
