"""`fanout demo`: the built-in demo API on loopback and the sample job run against it."""
