"""Load and fault harness: a small app behind a full headerware stack (see README.md)."""
