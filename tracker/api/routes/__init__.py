"""One router per resource; each route parses, calls a query or command, returns a schema."""
