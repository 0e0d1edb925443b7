"""Audience Workbench: segments over DuckDB, kept equal to SendGrid lists.

The package is importable without Streamlit. Pages, the runner, the CLI and notebooks are thin
doors onto the functions exported here and in the submodules.
"""

__version__ = "0.1.0"
