"""Fleet bulk operations: many entities of one type, many models, one request each."""
