"""Search: the query language (pure) and its highlighting; the SQL is chat/selectors/search.py."""
