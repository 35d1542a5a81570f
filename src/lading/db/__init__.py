"""The catalogue's storage: SQLAlchemy tables, queries and migrations."""
