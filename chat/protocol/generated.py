"""The page's generated ES modules (codes.js from the wire codes, emojidata.js from the
emoji tables): one command line for each, `python -m <module> [--check]`, writing the
file or, with --check, failing when it is not current (the test suite checks both)."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def generate_main(
    path: Path, render: Callable[[], str], module: str, argv: list[str] | None = None
) -> int:
    """Write `render()` to `path` when it differs; with --check, exit 1 instead."""
    parser = argparse.ArgumentParser(description=f"Write {path.name}.")
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args(argv)
    text = render()
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current == text:
        return 0
    if args.check:
        print(f"{path} is not current: run python -m {module}", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    return 0
