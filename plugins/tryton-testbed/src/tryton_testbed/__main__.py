"""`python -m tryton_testbed`."""

from tryton_testbed.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
