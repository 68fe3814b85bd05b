"""Singer tap for ERP REST APIs, driven by per-ERP profiles."""
