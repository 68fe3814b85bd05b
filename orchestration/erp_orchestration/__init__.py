"""Runs of many client environments of the Meltano project, and their Dagster definitions."""
