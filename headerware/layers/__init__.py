"""headerware layers: one module per concern; public names are exported from ``headerware``."""
