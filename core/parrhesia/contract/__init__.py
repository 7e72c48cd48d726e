"""The plugin contract: hooks, the value types they exchange, the manager and the host."""
