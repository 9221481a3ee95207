"""Terminal output helpers for cli.py (the only module that prints)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a simple table; numbers right-aligned."""
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        numeric = bool(rows) and all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)
        table.add_column(str(col), justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in r))
    console.print(table)


def print_error(message: str) -> None:
    """One clear red line (or a few, for multi-problem config errors) on stderr."""
    err_console.print(f"[bold red]error:[/bold red] {message}", markup=True, soft_wrap=True)
