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


def test_copies_in_one_payload_share_one_investigation(rca: Rca, workspace_dir: Path) -> None:
    """Three pods of one service firing the same alert a minute apart: one investigation."""
    import json

    payload = json.loads((workspace_dir / "examples/alerts/consumer-lag.json").read_text())
    [alert] = payload["alerts"]
    copies = []
    for number in range(3):
        copy = json.loads(json.dumps(alert))
        copy["labels"]["pod"] = f"orders-consumer-{number}"
        copy["startsAt"] = f"2026-11-20T09:3{1 + number}:00.000Z"
        copy.pop("fingerprint")
        copies.append(copy)
    payload["alerts"] = copies
    storm = workspace_dir / "storm.json"
    storm.write_text(json.dumps(payload))
    done = rca("investigate", str(storm), "--json")
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["leading_hypothesis"] == "backpressure"
    shares = [line for line in done.stderr.splitlines() if "shares the investigation" in line]
    assert len(shares) == 2
    assert all(result["alert_id"] in line for line in shares)
