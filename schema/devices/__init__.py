"""GraphQL surface of device discovery."""
