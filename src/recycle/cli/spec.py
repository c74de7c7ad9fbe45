"""CLI commands: spec (filled in by its issue)."""
