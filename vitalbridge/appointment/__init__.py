"""The appointment domain. Its messages, handlers and endpoints arrive with their own issue."""
