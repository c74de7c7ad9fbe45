"""CLI commands: fit (filled in by its issue)."""
