"""Contender `dlt`: dlt's rest_api source → filesystem destination (Parquet on S3).

    python bench/dlt_contender.py BASE_URL API_KEY PIPELINES_DIR [PAGE_SIZE]

The bucket URL, S3 credentials and endpoint come from dlt's environment variables
(DESTINATION__FILESYSTEM__…), set by bench/run.py. dlt's defaults otherwise: types
are inferred from the JSON (decimals arrive as floats → double). Prints the number
of rows dlt normalized into `sales_order_lines`.
"""

from __future__ import annotations

import sys
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source


class ShortPageOffsetPaginator(OffsetPaginator):
    """Offset paging that also stops after a page shorter than the limit."""

    def _stop_after_this_page(self, data: list[Any] | None = None) -> bool:
        return not data or len(data) < self.limit


def source(base_url: str, api_key: str, page_size: int) -> Any:
    """The rest_api source reading only sales order lines."""
    return rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/",
                "headers": {"X-API-Key": api_key},
                "paginator": ShortPageOffsetPaginator(limit=page_size, total_path=None),
            },
            "resources": [
                {
                    "name": "sales_order_lines",
                    "endpoint": {"path": "api/v1/sales-order-lines", "data_selector": "value"},
                    "primary_key": "LineKey",
                    "write_disposition": "append",
                }
            ],
        }
    )


def main(argv: list[str]) -> int:
    """Run the pipeline once; print the normalized row count."""
    base_url, api_key, pipelines_dir = argv[:3]
    page_size = int(argv[3]) if len(argv) > 3 else 5000
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination="filesystem",
        dataset_name="erp",
        pipelines_dir=pipelines_dir,
    )
    pipeline.run(source(base_url, api_key, page_size), loader_file_format="parquet")
    counts = pipeline.last_trace.last_normalize_info.row_counts  # type: ignore[union-attr]
    print(counts.get("sales_order_lines", 0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
