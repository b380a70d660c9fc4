"""psycopg2 and psycopg 3 against arrayq's Postgres door (run by server/tests/pg_python.rs).

The expected rows are computed here, with numpy, from the formula `meter` was
written from (server/tests/pg/mod.rs): value = label * 10 + t * 0.5 (float32),
n = label * 1000 + t, every quarter-hour from 2022-12-31T23:00:00Z.
"""

import datetime as dt
import io
import json
import select
import sys

import numpy as np
import psycopg
import psycopg2

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=py dbname=arrayq"
labels = [3, 5, 8]
nt = 8
t0 = dt.datetime(2022, 12, 31, 23, 0, tzinfo=dt.timezone.utc)
times = [t0 + dt.timedelta(minutes=15 * t) for t in range(nt)]
expected = [
    (label, times[t], float(np.float32(label * 10 + t * 0.5)), label * 1000 + t)
    for label in labels
    for t in range(nt)
]

# psycopg2: simple protocol, text values; it opens a transaction (BEGIN) itself.
c2 = psycopg2.connect(dsn)
cur = c2.cursor()
cur.execute("SELECT value, n FROM meter")
assert [d.name for d in cur.description] == ["asset", "time", "value", "n"], cur.description
assert cur.fetchall() == expected
c2.commit()

# psycopg 3: extended protocol, text and binary values.
with psycopg.connect(dsn, autocommit=True) as c3:
    assert c3.execute("SELECT value, n FROM meter").fetchall() == expected
    bcur = c3.cursor(binary=True)
    bcur.execute("SELECT value, n FROM meter WHERE asset = 5")
    assert bcur.fetchall() == [r[1:] for r in expected if r[0] == 5]
    assert c3.execute("SELECT max(n) FROM meter").fetchone() == (8 * 1000 + nt - 1,)
    # Server-side parameters ($1, $2): an int and a timestamptz.
    got = c3.execute("SELECT value, n FROM meter WHERE asset = %s AND time >= %s", (8, times[5])).fetchall()
    assert got == [r[1:] for r in expected if r[0] == 8 and r[1] >= times[5]], got
    # A table of rows (ORDER BY) shows the time dimension as a timestamptz column,
    # in text and in binary.
    top = sorted(expected, key=lambda r: -r[3])[:2]
    got = c3.execute("SELECT n FROM meter ORDER BY n DESC LIMIT 2").fetchall()
    assert got == [(k, r[0], r[1], r[3]) for k, r in enumerate(top)], got
    got = c3.cursor(binary=True).execute("SELECT n FROM meter ORDER BY n DESC LIMIT 2").fetchall()
    assert [g[2] for g in got] == [r[1] for r in top], got
    try:
        c3.execute("SELECT value FROM nowhere")
        raise AssertionError("no error")
    except psycopg.errors.UndefinedTable:
        pass


def wait_notify(conn):
    """psycopg2: the next notification within 10 s."""
    if not conn.notifies:
        ready = select.select([conn], [], [], 10)
        assert ready[0], "no notification in time"
        conn.poll()
    return conn.notifies.pop(0)


# LISTEN with psycopg2, a commit from another session.
listen2 = psycopg2.connect(dsn)
listen2.autocommit = True
listen2.cursor().execute("LISTEN py2arr")
other = psycopg2.connect(dsn)
other.autocommit = True
other.cursor().execute("CREATE ARRAY py2arr (x DOUBLE START 0 STEP 1 LENGTH 2, v REAL)")
n = wait_notify(listen2)
payload = json.loads(n.payload)
assert n.channel == "py2arr" and payload["array"] == "py2arr", (n.channel, payload)
assert payload["kind"] == "create" and payload["version"] == 0, payload

# LISTEN with psycopg 3.
with psycopg.connect(dsn, autocommit=True) as l3, psycopg.connect(dsn, autocommit=True) as w3:
    l3.execute("LISTEN py3arr")
    w3.execute("CREATE ARRAY py3arr (x DOUBLE START 0 STEP 1 LENGTH 2, v REAL)")
    got = list(l3.notifies(timeout=10, stop_after=1))
    assert len(got) == 1 and got[0].channel == "py3arr", got
    assert json.loads(got[0].payload)["kind"] == "create"

# COPY in: psycopg2 copy_expert (csv) and psycopg 3 cursor.copy (binary).
rows = [(a, times[t], 1, float(a + t * 0.25)) for a in (31, 32) for t in range(4)]
body = "".join(f"{a},{ts.isoformat()},{v},{x}\n" for a, ts, v, x in rows)
cur = other.cursor()
cur.copy_expert("COPY pycopy (asset_id, ts, version, value) FROM STDIN (FORMAT csv)", io.StringIO(body))
more = [(33, times[t], 2, float(33 + t * 0.25)) for t in range(4)]
with psycopg.connect(dsn, autocommit=True) as c3:
    with c3.cursor() as cur3:
        with cur3.copy("COPY pycopy (asset_id, ts, version, value) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int8", "timestamptz", "int4", "float8"])
            for r in more:
                copy.write_row(r)
    back = c3.execute("SELECT value FROM pycopy").fetchall()
    # A sum over no values is missing: SQL's NULL, None in Python (not 0).
    nothing = c3.execute("SELECT sum(value) AS s FROM pycopy WHERE asset = 99").fetchall()
    assert nothing == [(None,)], nothing
got = sorted((a, ts, v) for a, ts, v in back if v is not None)
want = sorted((a, ts, x) for a, ts, _, x in rows + more)
assert got == want, (got, want)
print("ok")
