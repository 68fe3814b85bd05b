"""Run the tap as a module: ``python -m tap_erp``."""

from tap_erp.tap import TapERP

TapERP.cli()
