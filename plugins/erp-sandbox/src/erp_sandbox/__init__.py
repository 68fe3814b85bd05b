"""A sandbox ERP HTTP API: deterministic synthetic data, live changes and faults."""

__version__ = "0.1.0"
