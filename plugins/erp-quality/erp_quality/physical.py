"""The column types each Parquet file of a table declares in its footer.

A table must never hold one column with two incompatible types across its files:
readers then fall back to text (DuckDB reads the whole column as VARCHAR) or fail
(pyarrow's ``unify_schemas``: ``decimal128(38, 3) vs string``). Only the footers are
read (two small ranged requests per file).

Two types are compatible when one reader type holds both without loss: integers and
decimals of any width or scale (a schema contract may widen int64 to a decimal or a
decimal to a larger precision), structs field by field, lists by item. Compatible
mixes are a warning (files of an older, narrower schema); anything else is an error.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import struct
import typing as t
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq

if t.TYPE_CHECKING:
    from erp_quality.lake import Lake

FOOTER_READERS = 16  # footers read at once (two small ranged GETs each)


def footer_schema(lake: Lake, key: str) -> pa.Schema:
    """The Arrow schema in one Parquet file's footer (only the footer is read)."""
    s3, bucket = lake._s3, lake.config.bucket
    tail = s3.get_object(Bucket=bucket, Key=key, Range="bytes=-8")["Body"].read()
    length = struct.unpack("<I", tail[:4])[0]
    footer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length + 8}")["Body"].read()
    return pq.read_schema(io.BytesIO(b"PAR1" + footer))


def column_types(lake: Lake, stream: str) -> dict[str, dict[str, tuple[pa.DataType, int]]]:
    """Per column, each type its files declare (by name) and how many files declare it."""
    found: dict[str, dict[str, tuple[pa.DataType, int]]] = defaultdict(dict)
    keys = [key for key in lake.keys(f"{stream}/") if key.endswith(".parquet")]
    with cf.ThreadPoolExecutor(max_workers=FOOTER_READERS) as pool:
        schemas = list(pool.map(lambda key: footer_schema(lake, key), keys))
    for schema in schemas:
        for field in schema:
            types = found[field.name]
            name = str(field.type)
            types[name] = (field.type, types.get(name, (field.type, 0))[1] + 1)
    return dict(found)


def _family(kind: pa.DataType) -> str:
    """A reader type holding every value of the types of one family."""
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        return "exact number"
    if pa.types.is_struct(kind):
        return "struct"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"list<{_family(kind.value_type)}>"
    return str(kind)


def compatible(kinds: t.Iterable[pa.DataType]) -> bool:
    """Whether one reader type holds every value of all these types without loss."""
    kinds = list(kinds)
    families = {_family(k) for k in kinds}
    if families == {"struct"}:
        return _structs_compatible(kinds)
    return len(families) <= 1


def _structs_compatible(kinds: list[pa.DataType]) -> bool:
    children: dict[str, list[pa.DataType]] = defaultdict(list)
    for kind in kinds:
        for i in range(kind.num_fields):
            children[kind.field(i).name].append(kind.field(i).type)
    return all(compatible(types) for types in children.values())
