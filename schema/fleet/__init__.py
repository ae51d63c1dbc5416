"""GraphQL side of fleet bulk operations (``app.fleet``)."""
