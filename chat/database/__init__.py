"""How async code reaches the database: reads on their own threads, writes (and the
process's group commit of sends) on the database thread. No ORM here: callers pass services."""
