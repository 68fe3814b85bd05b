"""Shared OData v4 mechanics: model, `$filter`, query options, paging, JSON and CSDL."""
