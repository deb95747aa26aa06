"""Rich rendering of database statistics, shared by ``stats`` and ``demo``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from flightlog.ops.database_report import DatabaseStats


def _size(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{size} B"


def render_stats(console: Console, stats: DatabaseStats) -> None:
    """Print the counts, outcomes, busiest agents and pending approvals as tables."""
    console.print(
        f"[bold]Flightlog[/bold] at {stats.database} - schema {stats.revision}, "
        f"{_size(stats.size_bytes)}"
    )
    counts = Table("entity", "rows", title="What is stored", title_justify="left")
    for name, count in stats.counts.items():
        counts.add_row(name.replace("_", " "), f"{count:,}")
    console.print(counts)

    outcomes = Table("run status", "runs", title="Task runs", title_justify="left")
    for status, count in sorted(stats.runs_by_status.items()):
        outcomes.add_row(status, f"{count:,}")
    rate = "n/a" if stats.run_success_rate is None else f"{stats.run_success_rate:.1f}%"
    outcomes.add_row("[bold]success rate[/bold]", f"[bold]{rate}[/bold]")
    console.print(outcomes)

    if stats.busiest_agents:
        agents = Table(
            "agent",
            "agent runs",
            "completed",
            "tokens",
            "cost (USD)",
            title="Busiest agents",
            title_justify="left",
        )
        for row in stats.busiest_agents:
            agents.add_row(
                str(row["agent"]),
                f"{row['agent_runs']:,}",
                f"{row['completed']:,}",
                f"{row['tokens']:,}",
                str(row["cost_usd"]),
            )
        console.print(agents)

    pending = Table(
        "waiting for a person", "count", title="Pending approvals", title_justify="left"
    )
    for name, count in stats.pending_approvals.items():
        pending.add_row(name.replace("_", " "), f"{count:,}")
    console.print(pending)
