"""GraphQL surface of the model aggregate."""
