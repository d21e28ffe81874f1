"""The JSON HTTP API (/api/): a transport like the WebSocket consumer, calling the same
services and selectors. Documented by its OpenAPI schema at /api/schema/ (docs/api.md)."""
