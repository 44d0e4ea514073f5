"""The Amazon lane: SP-API client, notifications, orders, FBA pools, returns, mapping import."""
