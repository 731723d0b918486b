"""The papermill engine the runner uses: nbclient's, saving the executed notebook less often.

papermill saves the whole notebook (a deep copy, then JSON) when it starts, before and after
every cell, and when it ends: about 10 ms each for a notebook with a figure, a tenth of a
warm notebook's run. This engine saves when the notebook starts, then at most every
`SAVE_EVERY_S` seconds as cells start and finish, and always when it ends, however it ends
(papermill's `notebook_complete` runs in a `finally`: a cell that raised, a timeout, a dead
kernel). Only a worker killed outright loses the cells of its last `SAVE_EVERY_S` seconds. The
executed notebook is the same papermill notebook.
"""

from __future__ import annotations

import time
from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

NAME = "rca-kit"
SAVE_EVERY_S = 2.0


class SparseSaves(NotebookExecutionManager):  # type: ignore[misc]
    """papermill's execution manager, saving at start, end, and every SAVE_EVERY_S between."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved_at: float | None = None
        self.ending = False

    def save(self, **kwargs: Any) -> None:
        now = time.monotonic()
        if self.ending or self.saved_at is None or now - self.saved_at >= SAVE_EVERY_S:
            super().save(**kwargs)
            self.saved_at = now

    def notebook_complete(self, **kwargs: Any) -> None:
        self.ending = True
        super().notebook_complete(**kwargs)


class Engine(NBClientEngine):  # type: ignore[misc]
    """nbclient's engine with SparseSaves (papermill's Engine.execute_notebook, otherwise)."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        manager = SparseSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        manager.notebook_start()
        try:
            cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
        finally:
            manager.cleanup_pbar()
            manager.notebook_complete()
        return manager.nb


papermill_engines.register(NAME, Engine)
