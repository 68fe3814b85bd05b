"""Helpers shared by the demo, the end-to-end tests, the benchmarks and the fault matrix.

`erp_testing.project`: how to run this Meltano project against a given ERP and S3
endpoint. `erp_testing.processes`: run a command line, kill -9 its plugins at a point,
read its error line. `erp_testing.standard_model`: the columns every landed table has.
Installed editable by `make setup`, so it always describes the checkout it lives in.
"""
