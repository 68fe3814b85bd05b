"""Data-quality checks and run audit for ERP data landed as Parquet in S3."""
