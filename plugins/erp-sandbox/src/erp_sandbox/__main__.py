"""`python -m erp_sandbox`."""

from erp_sandbox.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
