"""CLI commands: zoo (filled in by its issue)."""
