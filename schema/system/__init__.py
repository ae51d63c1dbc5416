"""GraphQL surface of health and application information."""
