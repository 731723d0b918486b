"""Optional imports that rca-kit's own processes never use, kept from costing seconds.

jsonschema (which nbformat imports, and so papermill and nbconvert) imports `rfc3987_syntax`
whenever it is installed (JupyterLab's event schemas pull it in), and that module compiles a
grammar at import: about 1.3 CPU-seconds in every process that reads or writes a notebook,
only to check the "iri" string format, which nbformat never asks for (it validates without a
format checker). The CLI, the runner workers and the serve hosts block it before anything
imports nbformat; jsonschema then leaves that one format unchecked, as it does when the
package is not installed. Kernels, where notebooks run user code, are not touched.
"""

from __future__ import annotations

import sys

UNUSED = ("rfc3987_syntax",)


def skip_unused_imports() -> None:
    """Make `import rfc3987_syntax` fail at once in this process (jsonschema expects that)."""
    for name in UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
