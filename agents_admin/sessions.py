"""The session store of the embedded default (no Redis): Django's database store, its one read per request in SQL.

Every console request and every one-second poll of a run panel reads the session. Through the ORM that read
(``Session.objects.get(session_key=…, expire_date__gt=now)``) cost about 0.3 ms, most of it compiling the query;
the statement takes a tenth of that. Everything else (writes, expiry, cycling the key at sign-in, clearsessions)
is Django's. With Redis, settings choose ``cached_db``, which reads from the cache.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> AbstractBaseSession | None:
        """The live row of this key, or None (and no key, as Django's store does) when it is missing or expired."""
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        sql = (
            f"SELECT session_data, expire_date FROM {self.model._meta.db_table} "
            "WHERE session_key = %s AND expire_date > %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, now])
            row = cursor.fetchone()
        if row is None or self.session_key is None:
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=row[0], expire_date=row[1])
