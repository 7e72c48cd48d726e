"""Storage: the database tables, migrations, sessions and the blob store."""
