"""Drives fstore with psycopg 3: DDL, a parameterised INSERT, COPY FROM STDIN
through cursor.copy(), reads from the offline and online stores in text and
binary formats, online feature vectors through the fast path, and errors
caught by SQLSTATE.

Usage: python copy_and_query.py PORT
"""

import sys
from datetime import datetime

import psycopg
from psycopg import errors

port = int(sys.argv[1])
with psycopg.connect(f"host=127.0.0.1 port={port} dbname=fstore user=py", autocommit=True) as conn:
    cur = conn.cursor()
    cur.execute(
        """CREATE FEATURE GROUP purchases (
               user_id BIGINT NOT NULL, at TIMESTAMP NOT NULL, amount DOUBLE PRECISION, shop TEXT,
               PRIMARY KEY (user_id), EVENT TIME (at)) ONLINE"""
    )
    cur.execute(
        "INSERT INTO purchases VALUES (%s, %s, %s, %s)",
        (1, datetime(2026, 1, 1, 9, 0), 12.5, "north"),
    )

    rows = [(i % 50, datetime(2026, 1, 2 + i % 20, 10, 0), float(i), f"shop{i % 7}") for i in range(2000)]
    with cur.copy("COPY purchases (user_id, at, amount, shop) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    assert cur.rowcount == 2000, cur.rowcount

    with cur.copy("COPY purchases FROM STDIN (FORMAT csv, HEADER true)") as copy:
        copy.write("user_id,at,amount,shop\n")
        copy.write("1000,2026-02-01 00:00:00,1.0,csv\n1001,2026-02-01 00:00:00,,\n")

    cur.execute("SELECT count(*) FROM purchases")
    assert cur.fetchone()[0] == 2003

    # Latest per key, read in binary format.
    bcur = conn.cursor(binary=True)
    bcur.execute("SELECT user_id, at, amount FROM online.purchases WHERE user_id = %s", (7,))
    user_id, at, amount = bcur.fetchone()
    expected = max((r for r in rows if r[0] == 7), key=lambda r: (r[1], rows.index(r)))
    assert (user_id, at, amount) == (7, expected[1], expected[2]), (user_id, at, amount, expected)

    cur.execute("SELECT shop FROM online.purchases WHERE user_id = ANY(%s) ORDER BY user_id", ([1000, 1001],))
    assert cur.fetchall() == [("csv",), (None,)]

    # A malformed COPY line fails the whole COPY with its line number.
    try:
        with cur.copy("COPY purchases FROM STDIN (FORMAT csv)") as copy:
            copy.write("2000,2026-03-01 00:00:00,1,ok\n2001,not a time,1,bad\n")
        raise AssertionError("bad COPY accepted")
    except errors.InvalidTextRepresentation as e:
        assert "line 2" in (e.diag.context or ""), e.diag.context
    cur.execute("SELECT count(*) FROM purchases WHERE user_id >= 2000")
    assert cur.fetchone()[0] == 0

    # A feature view, a training dataset, and COPY … TO STDOUT in binary and
    # text, the way training data is pulled into Python.
    cur.execute(
        """CREATE FEATURE GROUP shops (shop TEXT NOT NULL, at TIMESTAMP NOT NULL, rating BIGINT,
               PRIMARY KEY (shop), EVENT TIME (at))"""
    )
    cur.execute("INSERT INTO shops VALUES ('shop1', '2026-01-01', 5), ('shop1', '2026-01-10', 2)")
    cur.execute(
        """CREATE FEATURE VIEW buys AS SELECT p.user_id, p.at, p.amount, s.rating
           FROM purchases p ASOF LEFT JOIN shops s ON p.shop = s.shop AND p.at >= s.at"""
    )
    notices = []
    conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    cur.execute("CREATE TRAINING DATASET buys_td FROM buys SPLIT RANDOM (train 0.8, test 0.2) SEED 1")
    assert any("reading feature view" in n for n in notices), notices
    assert any("2003 rows" in n for n in notices), notices
    cur.execute("SELECT count(*) FROM buys_td")
    total = cur.fetchone()[0]
    assert total == 2003, total
    with cur.copy("COPY (SELECT user_id, amount, rating, split FROM buys_td) TO STDOUT (FORMAT binary)") as copy:
        copy.set_types(["int8", "float8", "int8", "text"])
        pulled = list(copy.rows())
    assert len(pulled) == total, len(pulled)
    assert {r[3] for r in pulled} == {"train", "test"}
    cur.execute("SELECT user_id, amount, rating, split FROM buys_td")
    assert sorted(pulled, key=repr) == sorted(cur.fetchall(), key=repr)
    with cur.copy("COPY buys_td (user_id, split) TO STDOUT (FORMAT csv, HEADER)") as copy:
        text = b"".join(bytes(chunk) for chunk in copy).decode()
    assert text.splitlines()[0] == "user_id,split" and len(text.splitlines()) == total + 1

    # Online feature vectors from Python (the wire fast path), prepared
    # server-side, parameters in text; then binary results.
    for _ in range(3):
        cur.execute(
            "SELECT user_id, amount, rating FROM online.buys WHERE user_id = ANY(%s)",
            ([7, 424242, 1],),
            prepare=True,
        )
        got = cur.fetchall()
        assert [r[0] for r in got] == [7, 1], got
    bcur.execute("SELECT * FROM online.buys WHERE user_id = %s", (1,), prepare=True)
    vector = bcur.fetchone()
    assert [d.name for d in bcur.description] == ["user_id", "at", "amount", "rating"]
    assert vector[0] == 1 and isinstance(vector[1], datetime), vector
    cur.execute("SELECT calls FROM fs.metrics WHERE query_kind = 'online_vector'")
    assert cur.fetchone()[0] == 4
    try:
        cur.execute("SELECT * FROM online.purchases WHERE user_id = %s", ("seven",))
        raise AssertionError("a key that is not a bigint was accepted")
    except errors.InvalidTextRepresentation as e:
        assert "bigint" in str(e), e

    try:
        cur.execute("SELECT * FROM nowhere")
        raise AssertionError("missing table accepted")
    except errors.UndefinedTable:
        pass

print("psycopg: ok")
