"""The control plane: clients' ERP connections, pipelines and runs behind a REST API."""
