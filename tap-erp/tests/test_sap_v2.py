"""The sap_s4hana_v2 profile's pieces against SAP's documented OData v2 conventions.

- JSON values: `"\\/Date(<ticks>)\\/"` with ticks in milliseconds since 1970-01-01 UTC,
  `+<offset>` for Edm.DateTimeOffset; Edm.Decimal as a string; rows under
  `d.results`, each with `__metadata`; navigation properties not expanded as
  `{"__deferred": {"uri": ...}}`. OData v2 JSON format:
  https://www.odata.org/documentation/odata-version-2-0/json-format/ ; SAP's note that
  JSON with OData v2 writes a point in time as /Date(ticks)/, ticks in milliseconds:
  https://help.sap.com/doc/c90214be0d934ebdb6f3bce29c63c0ff/15.5.3/en-US/75de80d729c14693bb4124774a772114.html
- URI literals: `datetimeoffset'2016-07-08T12:34:56Z'`, `$inlinecount=allpages`, `$top`,
  `$skip`: https://www.odata.org/documentation/odata-version-2-0/uri-conventions/ and
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-odata/a079a72d-31c1-44df-b315-3972c4c85e57
- Services, entity sets and fields: SAP Business Accelerator Hub,
  https://api.sap.com/api/API_SALES_ORDER_SRV/resource/Sales_Order_Header (and
  API_BUSINESS_PARTNER, API_PRODUCT_SRV, API_MATERIAL_STOCK_SRV).
"""

from __future__ import annotations

import datetime as dt
import decimal
import types

import pytest
import requests
from tap_erp.dialect.decoders import DECODER_MAP
from tap_erp.dialect.metadata import METADATA_FORMATS
from tap_erp.paging import OffsetPager
from tap_erp.profiles import load_profile

SCHEMA = {
    "properties": {
        "SalesOrder": {"type": ["string"]},
        "CreationDate": {"type": ["string", "null"], "format": "date"},
        "LastChangeDateTime": {"type": ["string"], "format": "date-time"},
        "TotalNetAmount": {"type": ["number"]},
        "IsMarkedForDeletion": {"type": ["boolean"]},
    }
}

# (field, wire value, decoded value)
VALUES = [
    ("LastChangeDateTime", "/Date(1700000000000+0000)/", "2023-11-14T22:13:20.000000Z"),
    ("LastChangeDateTime", "/Date(1700000000000)/", "2023-11-14T22:13:20.000000Z"),
    ("LastChangeDateTime", "/Date(1471436392143+0000)/", "2016-08-17T12:19:52.143000Z"),
    ("LastChangeDateTime", "/Date(-1000+0000)/", "1969-12-31T23:59:59.000000Z"),
    ("CreationDate", "/Date(1471392000000)/", "2016-08-17"),  # display-format Date
    ("CreationDate", None, None),
    ("TotalNetAmount", "52.65", decimal.Decimal("52.65")),
    ("TotalNetAmount", "1000.000", decimal.Decimal("1000.000")),
    ("SalesOrder", "/Date(1)/", "/Date(1)/"),  # text fields are left alone
    ("IsMarkedForDeletion", False, False),
]


@pytest.mark.parametrize(("field", "wire", "decoded"), VALUES)
def test_odata_v2_decoder_values(field, wire, decoded):
    decode = DECODER_MAP["odata_v2"].build(SCHEMA)
    assert decode([{field: wire}]) == [{field: decoded}]


def test_odata_v2_decoder_drops_metadata_and_deferred_navigation():
    uri = "https://host/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('1')"
    row = {
        "__metadata": {"id": uri, "uri": uri, "type": "API_SALES_ORDER_SRV.A_SalesOrderType"},
        "SalesOrder": "1",
        "to_Item": {"__deferred": {"uri": f"{uri}/to_Item"}},
    }
    assert DECODER_MAP["odata_v2"].build(SCHEMA)([row]) == [{"SalesOrder": "1"}]


SINCE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BASE = "https://my000000-api.s4hana.cloud.sap"
SALES = f"{BASE}/sap/opu/odata/sap/API_SALES_ORDER_SRV"
# (stream, paginator, values, the URL sent)
REQUESTS = [
    (
        "sales_orders",
        "server",
        {"since": SINCE, "fields": ["SalesOrder", "LastChangeDateTime"]},
        f"{SALES}/A_SalesOrder?$format=json"
        "&$filter=LastChangeDateTime+ge+datetimeoffset'2026-01-01T00:00:00.000Z'"
        "&$select=SalesOrder,LastChangeDateTime&$orderby=LastChangeDateTime+asc,SalesOrder+asc",
    ),
    (
        "sales_orders",
        "server",
        {"since": SINCE, "before": SINCE + dt.timedelta(days=7), "config": {"sap_client": "100"}},
        f"{SALES}/A_SalesOrder?sap-client=100&$format=json"
        "&$filter=LastChangeDateTime+ge+datetimeoffset'2026-01-01T00:00:00.000Z'"
        "+and+LastChangeDateTime+lt+datetimeoffset'2026-01-08T00:00:00.000Z'"
        "&$orderby=LastChangeDateTime+asc,SalesOrder+asc",
    ),
    (  # a snapshot: no filter
        "sales_order_lines",
        "server",
        {},
        f"{SALES}/A_SalesOrderItem?$format=json&$orderby=SalesOrder+asc,SalesOrderItem+asc",
    ),
    (  # client-driven paging: $top / $skip with the count of all pages
        "customers",
        "client",
        {"offset": 2000},
        f"{BASE}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_Customer?$format=json"
        "&$orderby=Customer+asc&$top=1000&$skip=2000&$inlinecount=allpages",
    ),
]


def readable(url: str) -> str:
    """A prepared URL with the characters OData keeps readable unescaped."""
    for code, char in (("%24", "$"), ("%27", "'"), ("%2C", ","), ("%3A", ":")):
        url = url.replace(code, char)
    return url


@pytest.mark.parametrize(("stream", "paginator", "values", "url"), REQUESTS)
def test_requests(stream, paginator, values, url):
    profile = load_profile("sap_s4hana_v2")
    rendered = profile.streams[stream].request.render(
        {"limit": 1000, "config": {}, **values}, BASE, profile.paginator_queries[paginator]
    )
    sent = requests.Request("GET", rendered.url, params=rendered.params).prepare().url
    assert readable(sent) == url
    assert rendered.headers == {"Accept": "application/json", "Prefer": "odata.maxpagesize=1000"}


EDMX = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
  xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
  xmlns:sap="http://www.sap.com/Protocols/SAPData">
 <edmx:DataServices m:DataServiceVersion="2.0">
  <Schema Namespace="API_PRODUCT_SRV" xml:lang="en" sap:schema-version="1"
    xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityType Name="A_ProductType" sap:content-version="1">
    <Key><PropertyRef Name="Product"/></Key>
    <Property Name="Product" Type="Edm.String" Nullable="false" MaxLength="40"
      sap:display-format="UpperCase" sap:label="Product"/>
    <Property Name="CreationDate" Type="Edm.DateTime" Precision="0"
      sap:display-format="Date" sap:label="Created On"/>
    <Property Name="LastChangeDateTime" Type="Edm.DateTimeOffset" Precision="7"
      sap:label="Time Stamp"/>
    <Property Name="YY1_WeightKg_PRD" Type="Edm.Decimal" Precision="13" Scale="3"
      sap:label="Weight (kg)"/>
    <NavigationProperty Name="to_Description" Relationship="API_PRODUCT_SRV.assoc_1"
      FromRole="FromRole_assoc_1" ToRole="ToRole_assoc_1"/>
   </EntityType>
   <EntityContainer Name="API_PRODUCT_SRV_Entities" m:IsDefaultEntityContainer="true">
    <EntitySet Name="A_Product" EntityType="API_PRODUCT_SRV.A_ProductType"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"""


def test_edmx_v2_fields_read_sap_annotations():
    fmt = METADATA_FORMATS["odata_edmx_v2"]
    fields = fmt.fields(fmt.read(EDMX), "A_Product", "A_Product")
    got = [(f.name, fmt.type_map[f.type], f.nullable, f.scale, f.label) for f in fields]
    assert got == [
        ("Product", "string", False, None, "Product"),
        ("CreationDate", "date", True, None, "Created On"),
        ("LastChangeDateTime", "date-time", True, None, "Time Stamp"),
        ("YY1_WeightKg_PRD", "number", True, 3, "Weight (kg)"),
    ]
    assert fmt.fields(fmt.read(EDMX), "A_ProductDescription", "x") is None


# (rows read before, rows on this page, d.__count) -> another page follows
COUNT_STOPS = [
    (0, 150, "300", True),
    (150, 150, "300", False),  # a full page, yet the count is reached
    (0, 40, "40", False),
]


@pytest.mark.parametrize(("position", "rows", "count", "more"), COUNT_STOPS)
def test_client_paging_stops_at_the_inlinecount(position, rows, count, more):
    profile = load_profile("sap_s4hana_v2")
    pager = OffsetPager(
        http=None,
        request=profile.streams["customers"].request,
        paginator=profile.styles["client"],
        paginator_query=profile.paginator_queries["client"],
        records=profile.streams["customers"].records,
        page_size=150,
    )
    page = [{"Customer": str(i)} for i in range(rows)]
    reply = types.SimpleNamespace(body={"d": {"__count": count, "results": page}})
    assert pager._more(reply, page, position) is more
