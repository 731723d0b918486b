"""The JupyterLab workbench (`rca lab`): working notebooks outside the evidence, the server's
command line, and the server-side guard that keeps Lab from writing into investigations.

`notebooks` and `launch` need only the standard library and rca_kit; `contents` is imported
by the JupyterLab server process alone.
"""
