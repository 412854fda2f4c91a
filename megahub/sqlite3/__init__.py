"""Django's SQLite backend, creating the database's folder on the first connection (ENGINE
"megahub.sqlite3", set by settings for every SQLite database)."""
