"""The stream_map_files setting: merge order and clear errors."""

from __future__ import annotations

import json

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_erp.stream_map_files import merged_stream_maps, with_stream_map_files


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_files_merge_in_order_and_stream_maps_win(tmp_path):
    base = write(
        tmp_path,
        "model.yml",
        "orders:\n  order_id: DocEntry\n  status: DocStatus\n  __else__: __NULL__\n"
        "lines:\n  line_id: LineKey\n",
    )
    client = write(tmp_path, "client.json", json.dumps({"orders": {"spec_color": "U_Color"}}))
    maps = merged_stream_maps([base, client], {"orders": {"status": "__NULL__"}, "x": None})
    assert maps == {
        "orders": {
            "order_id": "DocEntry",
            "status": "__NULL__",
            "__else__": "__NULL__",
            "spec_color": "U_Color",
        },
        "lines": {"line_id": "LineKey"},
        "x": None,
    }


def test_config_without_files_is_unchanged():
    config = {"base_url": "http://x", "stream_maps": {"a": {"b": "c"}}}
    assert with_stream_map_files(config) == config


def test_config_gets_the_merged_maps(tmp_path):
    path = write(tmp_path, "m.yaml", "orders:\n  order_id: DocEntry\n")
    config = {"stream_map_files": [path], "stream_maps": {"orders": {"total": "DocTotal"}}}
    assert with_stream_map_files(config)["stream_maps"] == {
        "orders": {"order_id": "DocEntry", "total": "DocTotal"}
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "stream_map_files: cannot read"),
        ("orders: [unclosed", "is not valid YAML"),
        ("- a\n- b\n", "must map stream names to stream maps"),
    ],
)
def test_bad_files_name_the_setting_and_the_file(tmp_path, text, message):
    path = str(tmp_path / "maps.yml") if text is None else write(tmp_path, "maps.yml", text)
    with pytest.raises(ConfigValidationError, match=message):
        with_stream_map_files({"stream_map_files": [path]})


def test_a_single_string_is_rejected():
    with pytest.raises(ConfigValidationError, match="expected a list of file paths"):
        with_stream_map_files({"stream_map_files": "model.yml"})
