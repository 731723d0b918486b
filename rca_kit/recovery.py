"""Investigations end in a true state: ones whose process died are found and marked
`abandoned` (then `rca investigate --resume ID` finishes them), a frozen snapshot is reused
when resuming (the interrupted attempt's notebooks are replaced), and hypotheses that errored
because of the machine (a full disk, a read-only folder) make the investigation `partial`,
never `done`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from . import ownership
from .evidence.load import read_manifest, verify_snapshot
from .exceptions import EvidenceError
from .models import Outcome, Snapshot, Window
from .register import Register

# errno names an OSError carries in its message: the environment failed, not the hypothesis
_CAUSES = r"No space left on device|Disk quota exceeded|Read-only file system|Permission denied"
_ENVIRONMENT = re.compile(_CAUSES + r"|\[Errno (?:28|122|30|13)\]")


def mark_abandoned(register: Register) -> list[str]:
    """Mark `abandoned` every running investigation whose process is gone; return their ids."""
    now = datetime.now(UTC)
    found = []
    for row in register.running_investigations():
        age = (now - datetime.fromisoformat(row["created_at"])).total_seconds()
        if not ownership.orphaned(Path(row["folder"]), age_s=age):
            continue
        if register.update_investigation(
            row["id"],
            action="investigation.abandoned",
            only_if="running",
            status="abandoned",
            error="the process running it stopped before it finished; "
            f"`rca investigate --resume {row['id']}` finishes it",
        ):
            found.append(str(row["id"]))
    return found


def frozen_snapshot(path: Path, recorded: str | None = None) -> Snapshot | None:
    """The snapshot an interrupted investigation had frozen, if it is whole (hashes check;
    its frames are not read).

    Once the register `recorded` it (its manifest sha256), it must be that very snapshot:
    one changed since is an EvidenceError, not a reason to freeze another.
    """
    if not (path / "manifest.json").is_file():
        return None
    try:
        verify_snapshot(path, recorded)
        manifest = read_manifest(path)
        window = Window(
            start=datetime.fromisoformat(manifest["window"]["start"]),
            end=datetime.fromisoformat(manifest["window"]["end"]),
        )
        lookback_start = datetime.fromisoformat(manifest["lookback_start"])
        rows = {
            name.removesuffix(".parquet"): int(entry["rows"])
            for name, entry in manifest["files"].items()
        }
    except (EvidenceError, OSError, ValueError, KeyError, TypeError):
        if recorded is not None:
            raise
        return None
    return Snapshot(
        path=path,
        sha256=str(manifest["sha256"]),
        window=window,
        lookback_start=lookback_start,
        row_counts=rows,
        manifest_sha256=manifest.get("manifest_sha256"),
    )


def discard_unrecorded(notebooks: list[Path]) -> None:
    """Remove the notebooks an interrupted attempt left where a resumed one writes (they are
    read-only once sealed). They are evidence of nothing: `resume` runs only investigations
    whose verdicts never reached the register, so no run names them or vouches for them."""
    for notebook in notebooks:
        notebook.unlink(missing_ok=True)


def environment_failures(outcomes: list[Outcome]) -> list[Outcome]:
    """Hypotheses that errored because the machine failed them (disk full, read-only, denied)."""
    return [o for o in outcomes if o.verdict == "errored" and _ENVIRONMENT.search(o.error or "")]


def describe(failures: list[Outcome]) -> str:
    text = failures[0].error or ""
    first = re.search(_CAUSES, text) or _ENVIRONMENT.search(text)
    cause = first.group(0) if first else "the environment"
    names = ", ".join(o.hypothesis_id for o in failures)
    return f"{len(failures)} hypotheses errored because of the machine ({cause}): {names}"
