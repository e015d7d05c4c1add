"""The provider domain. Its messages, handlers and endpoints arrive with their own issue."""
