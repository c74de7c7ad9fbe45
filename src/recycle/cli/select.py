"""CLI commands: select (filled in by its issue)."""
