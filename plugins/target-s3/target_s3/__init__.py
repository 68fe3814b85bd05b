"""Singer target landing streams as Parquet in S3-compatible object storage."""
