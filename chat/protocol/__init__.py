"""The wire protocol: client frames parsed into typed commands (pure: no Django, no I/O)."""
