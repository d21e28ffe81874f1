"""Your data in and out (#27)."""
