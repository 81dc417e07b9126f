"""PostgreSQL storage: schema, engine, and the writers and readers services use."""
