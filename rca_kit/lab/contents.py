# mypy: disallow-untyped-calls=False
# (jupyter_server's contents classes are not annotated)
"""Inside the JupyterLab server `rca lab` starts: evidence cannot be written through Lab, and
checkpoints live outside it.

- `EvidenceContents`: everything under the investigations folder (`evidence_dir`) is reported
  not writable, and every write to it through Lab (save, new file, upload, rename, delete,
  revert to a checkpoint) is refused with 403, whoever runs the server (file modes do not stop
  root). Reading, and running cells in a kernel, stay possible.
- `MirroredCheckpoints`: with an absolute `checkpoint_dir`, a file's checkpoint keeps the
  file's relative path below it. (FileCheckpoints would put every checkpoint in that one
  folder, where two investigations' `01-backpressure.ipynb` would share one checkpoint.)

Imported only by the server process (jupyter_server is an optional dependency).
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_core.utils import ensure_dir_exists
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from traitlets import Unicode, default

READ_ONLY = (
    "{path} is evidence of an investigation and read-only; "
    "make a working copy (the triage panel's `working copy`) to change it"
)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class MirroredCheckpoints(AsyncFileCheckpoints):
    """File checkpoints below one absolute folder, at each file's own relative path."""

    def checkpoint_path(self, checkpoint_id: str, path: str) -> str:
        if not os.path.isabs(self.checkpoint_dir):
            return str(super().checkpoint_path(checkpoint_id, path))
        parent, _, name = path.strip("/").rpartition("/")
        base, ext = os.path.splitext(name)
        root = os.path.realpath(self.checkpoint_dir)
        folder = os.path.realpath(os.path.join(root, *[p for p in parent.split("/") if p]))
        if not _inside(folder, root):  # the contents manager refuses such paths already
            raise web.HTTPError(404, f"no such file: {path}")
        with self.perm_to_403():
            ensure_dir_exists(folder)
        return os.path.join(folder, f"{base}-{checkpoint_id}{ext}")

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        if isinstance(contents_mgr, EvidenceContents):
            contents_mgr.refuse_evidence(path)
        await super().restore_checkpoint(contents_mgr, checkpoint_id, path)


class EvidenceContents(AsyncLargeFileManager):
    """Jupyter's file contents, with the investigations folder read-only."""

    evidence_dir = Unicode(
        "", config=True, help="The investigations folder: read-only through this server."
    )

    @default("checkpoints_class")
    def _checkpoints_class_default(self) -> type:
        return MirroredCheckpoints

    def is_evidence(self, path: str) -> bool:
        if not self.evidence_dir:
            return False
        os_path = os.path.realpath(self._get_os_path(path.strip("/")))
        return _inside(os_path, os.path.realpath(self.evidence_dir))

    def refuse_evidence(self, *paths: str) -> None:
        for path in paths:
            if self.is_evidence(path):
                raise web.HTTPError(403, READ_ONLY.format(path=path.strip("/")))

    def _mark(self, model: dict[str, Any]) -> dict[str, Any]:
        if self.is_evidence(model["path"]):
            model["writable"] = False
        if model.get("type") == "directory" and isinstance(model.get("content"), list):
            for child in model["content"]:
                self._mark(child)
        return model

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,  # the parent's parameter names
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        model = await super().get(path, content, type, format, require_hash)
        return self._mark(model)

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        self.refuse_evidence(path)
        return self._mark(await super().save(model, path))

    async def delete_file(self, path: str) -> None:
        self.refuse_evidence(path)
        await super().delete_file(path)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        self.refuse_evidence(old_path, new_path)
        await super().rename_file(old_path, new_path)

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        # without a destination Jupyter copies into the source's own folder
        self.refuse_evidence(
            to_path if to_path is not None else from_path.strip("/").rpartition("/")[0]
        )
        return self._mark(await super().copy(from_path, to_path))
