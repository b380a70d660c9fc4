#!/usr/bin/env python3
"""E1-E3 of the energy suite through arrayq's Postgres door and against PostgreSQL,
both with psycopg2 (the pgbridge suite of arrayq-bench).

    pgbridge_queries.py --door HOST:PORT --door-sql FILE.json --pg DSN --scale S
                        [--layouts rows,real_array,float8_array] [--runs 5]

--door-sql: {"E1": "<arrayq SQL>", ...}, run on the door. On PostgreSQL (DSN, the
tables of energy_pg.py's layouts already loaded) each query runs as energy_pg.py's
fastest formulation (`query_sql`, newest version by DISTINCT ON) on every layout.
Also `SELECT 1` on both (the protocol's floor), and on PostgreSQL a generate_series
of as many rows of the answer's column types as the door returned (the client's and
the protocol's share of each answer). Every query: one untimed run, then --runs timed ones, each `cursor.execute` +
`fetchall` (the round trip included); the answers as peerlib digests. JSON on stdout.
"""
import argparse
import json
import os
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import energy_pg  # noqa: E402
import peerlib  # noqa: E402


def timed(conn, sql, runs):
    cur = conn.cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetchall()
        times.append(time.perf_counter() - t)
    cur.close()
    return rows, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--door", required=True)
    ap.add_argument("--door-sql", required=True)
    ap.add_argument("--pg", required=True)
    ap.add_argument("--scale", required=True, choices=list(energy_pg.SIZES))
    ap.add_argument("--layouts", default="rows,real_array,float8_array")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    with open(a.door_sql) as f:
        door_sql = json.load(f)
    queries = list(door_sql)
    host, port = a.door.rsplit(":", 1)

    out = {"door": {}, "postgres": {}}
    door = psycopg2.connect(host=host, port=int(port), user="bench", dbname="arrayq")
    door.autocommit = True
    # The protocol floor: a statement without data, same client.
    _, times = timed(door, "SELECT 1", a.runs)
    out["door_select1"] = {"times_s": times}
    for q in queries:
        rows, times = timed(door, door_sql[q], a.runs)
        out["door"][q] = {"times_s": times, "sql": door_sql[q], "rows": len(rows),
                          "answer": energy_pg.answer(q, rows)}
        peerlib.eprint(f"door {q}: " + " ".join(f"{t * 1e3:.2f}ms" for t in times))
    door.close()

    pg = psycopg2.connect(a.pg)
    pg.autocommit = True
    _, times = timed(pg, "SELECT 1", a.runs)
    out["postgres_select1"] = {"times_s": times}
    data = energy_pg.Extent(a.scale)
    for layout in [x for x in a.layouts.split(",") if x]:
        res = {}
        for q in queries:
            sql = energy_pg.query_sql(layout, q, energy_pg.BEST[(layout, q)], data)
            rows, times = timed(pg, sql, a.runs)
            res[q] = {"times_s": times, "sql": sql, "answer": energy_pg.answer(q, rows)}
            peerlib.eprint(f"{layout} {q}: " + " ".join(f"{t * 1e3:.2f}ms" for t in times))
        out["postgres"][energy_pg.SYSTEM_NAMES[layout]] = res
    # Answer-shaped rows without data: the client's and the protocol's share of a
    # round trip that returns as many rows of the same types as the door's answer.
    out["rows_floor"] = {}
    for q in queries:
        n = out["door"][q]["rows"]
        t = "timestamptz '2023-01-01 00:00+00' + i * interval '15 minutes'"
        cols = f"(i % 10)::int8, {t}, i::float8" if q == "E3" else f"{t}, i::float8"
        sql = f"SELECT {cols} FROM generate_series(1, {n}) i"
        _, times = timed(pg, sql, a.runs)
        out["rows_floor"][q] = {"times_s": times, "sql": sql}
    cur = pg.cursor()
    cur.execute("SHOW server_version")
    out["versions"] = dict(peerlib.versions(["psycopg2-binary", "numpy"]),
                           postgres=cur.fetchone()[0])
    pg.close()
    peerlib.dump(out)


if __name__ == "__main__":
    main()
