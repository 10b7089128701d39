"""Storage engines beyond the embedded SQLite file: PostgreSQL's text and vector search so far."""
