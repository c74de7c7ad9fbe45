"""Web sessions live in the service's database: a restart keeps them, several server processes
over one database agree, and signing out ends a session in all of them.

Written against the code that kept sessions in each app's memory (a restart signed everyone
out, and a second server did not know the first one's sessions).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from web_helpers import serve

COOKIE = "recycle_session"


def test_a_restart_keeps_the_session(tmp_path: Path) -> None:
    with serve(tmp_path) as first:
        c = first.browser("user")
        assert c.get("/web/zoo").status_code == 200
        token = c.cookies[COOKIE]
    with serve(tmp_path) as second:  # a new server process over the same database
        c = second.browser()
        c.cookies.set(COOKIE, token)
        r = c.get("/web/zoo")
        assert r.status_code == 200 and "Sign out" in r.text


def test_two_servers_agree_and_sign_out_on_one_ends_it_on_both(tmp_path: Path) -> None:
    with serve(tmp_path) as a, serve(tmp_path) as b:
        on_a = a.browser("user")
        token = on_a.cookies[COOKIE]
        on_b = b.browser()
        on_b.cookies.set(COOKIE, token)
        assert on_b.page("/web/zoo").status_code == 200  # signed in on a, known to b
        assert on_b.post("/web/signout", data={"csrf": on_b.csrf}).status_code == 303
        on_a.cookies.set(COOKIE, token)
        assert on_a.get("/web/zoo").headers["location"].startswith("/web/signin")


def test_the_database_holds_neither_the_key_nor_the_session_token(tmp_path: Path) -> None:
    from recycle.service.db import WEB_SESSIONS

    with serve(tmp_path) as site:
        c = site.browser("admin")
        token = c.cookies[COOKIE]
        with site.db.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.select(WEB_SESSIONS)).mappings()]
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    secret = site.keys["admin"].split("_")[2]
    assert token not in stored and secret not in stored
    assert rows[0]["key_id"] == site.keys["admin"].split("_")[1]
