"""Reads: each module returns what one page region or API list shows, in a bounded number of queries."""
