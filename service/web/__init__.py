"""The web pages: the bureau dashboard and the enterprise and provider portals (docs/web.md)."""
