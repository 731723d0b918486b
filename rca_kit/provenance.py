"""Where an evidence notebook came from, written into it, and the notebook sealed read-only.

Each executed notebook's `metadata.rca_kit` (beside papermill's own `metadata.papermill`, whose
`input_path` is the template's path) holds:

    {
      "schema": "rca-kit.provenance/1",
      "template": "notebooks/templates/memory-leak.ipynb",  # relative to the workspace,
                                                            # or absolute outside it
      "template_sha256": "...",                # the template file's bytes
      "spec": {"id": "memory-leak", "version": 3, "sha256": "..."},  # the spec YAML's bytes
      "library": {"path": "library", "sha256": "..."},  # library.library_digest: every spec
      "rca_kit": "0.1.0",
      "snapshot_sha256": "...",                # the frozen evidence's files digest (as the
      "snapshot_manifest_sha256": "...",       # investigation row) and its sealed manifest
      "kernel": {"name": "python3", "python": "3.11.2"},  # the kernel's own language_info
      "packages": {"pandas": "...", "numpy": "...", "plotly": "...", "papermill": "...",
                   "nbclient": "...", "ipykernel": "...", "pyarrow": "..."}
    }

The parent process describes the run (`describe`); the runner's worker, which runs the kernel's
interpreter, adds `kernel` and `packages` and writes the notebook once more, atomically and
read-only (0444): `seal`. The register keeps this provenance and the sha256 of the notebook's
bytes as harvested (`runs.provenance`, `runs.notebook_sha256`); `rca audit verify` reports a
notebook that no longer has those bytes.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fsutil import READ_ONLY, atomic_write, file_sha256

if TYPE_CHECKING:
    from .config import Workspace
    from .models import HypothesisSpec, Snapshot

SCHEMA = "rca-kit.provenance/1"
PACKAGES = ("pandas", "numpy", "plotly", "papermill", "nbclient", "ipykernel", "pyarrow")


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to the workspace root when it lies inside it, else absolute."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(absolute)


def describe(
    workspace: Workspace, spec: HypothesisSpec, snapshot: Snapshot, library_sha256: str
) -> dict[str, Any]:
    """What the parent knows about one run before it starts (see the module docstring)."""
    from . import __version__

    template = workspace.templates_dir / spec.template
    return {
        "schema": SCHEMA,
        "template": shown_path(template, workspace.root),
        "template_sha256": file_sha256(template),
        "spec": {
            "id": spec.id,
            "version": spec.version,
            "sha256": file_sha256(spec.path) if spec.path else None,
        },
        "library": {
            "path": shown_path(workspace.library_dir, workspace.root),
            "sha256": library_sha256,
        },
        "rca_kit": __version__,
        "snapshot_sha256": snapshot.sha256,
        "snapshot_manifest_sha256": snapshot.manifest_sha256,
    }


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a notebook's numbers depend on, in this interpreter (the one
    `python3` kernels run: runner.pin_kernel)."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def protect(path: Path) -> None:
    """Make an evidence file read-only (0444), if it exists."""
    try:
        os.chmod(path, READ_ONLY, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except NotImplementedError:  # a platform that cannot chmod a symlink itself: leave it
        pass


def seal(path: Path, provenance: dict[str, Any], kernel_name: str) -> None:
    """Write `provenance` (plus the kernel and package versions) into an executed notebook's
    metadata and rewrite it atomically, read-only. A file that is not a notebook (or is gone)
    is only made read-only: it is evidence of what happened as it is."""
    try:
        document = json.loads(path.read_bytes())
        if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
            raise ValueError("not a notebook")
    except (OSError, ValueError, RecursionError):
        protect(path)
        return
    language = document["metadata"].get("language_info")
    python = language.get("version") if isinstance(language, dict) else None
    document["metadata"]["rca_kit"] = {
        **provenance,
        "kernel": {"name": kernel_name, "python": python if isinstance(python, str) else None},
        "packages": package_versions(),
    }
    # as nbformat writes a notebook (papermill's own output has its lines split already)
    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False)
    atomic_write(path, text + "\n", mode=READ_ONLY)
