"""A batch's results: `schema` (the pydantic contracts), `building` (from the database), `writers` (CSV, JSON)."""
