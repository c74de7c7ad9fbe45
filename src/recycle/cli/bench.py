"""CLI commands: bench (filled in by its issue)."""
