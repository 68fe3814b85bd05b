"""The fault matrix: the whole pipeline under faults, as a pytest suite."""
