"""CLI command modules; ``citywatch.cli`` registers them."""
