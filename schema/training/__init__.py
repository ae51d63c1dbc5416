"""Training jobs in GraphQL: start, cancel, delete, and read them."""
