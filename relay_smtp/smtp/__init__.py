"""SMTP edges: the server clients talk to, the next-hop client, the retry spool."""
