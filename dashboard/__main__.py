"""`python -m dashboard` entry point."""

from dashboard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
