"""API keys, roles and tenants: who is calling, and what they may see and do."""
