#!/usr/bin/env python3
"""PostgreSQL peer of the energy suite E1-E4: a throwaway cluster, the portfolio in
the layouts a Postgres user would choose, the queries timed, answers and times as JSON.

    energy_pg.py (--csv ROWS.csv | --stdin-copy --scale S) [--scale S]
                 [--layouts rows,real_array,float8_array] [--load LAYOUTS]
                 [--runs 3] [--threads 2] [--queries E1,E2,E3,E4]
                 [--cold first|all|none] [--evict auto|drop_caches|fadvise|none]
                 [--variants best|all] [--jit off|on] [--tmp-dir DIR] [--pg-bin DIR]
                 [--cluster-dir DIR] [--keep]

ROWS.csv holds every version of every batch, `asset_id,ts,version,value` with a
header (`tests/reference/workload_ref.py --energy SCALE --csv ROWS.csv`). The
windows of the queries follow from the data: E1/E4 the local week Jan 9-15 (all
days if the data is shorter), E2 the first local month (at most 31 days), E3
assets 1..10 over every day.

--stdin-copy (the harness): no CSV; each layout of --load arrives on stdin, in
that order, as a PostgreSQL binary COPY stream cut into frames (u32 little-endian
length, then that many bytes; length 0 ends the layout), so nothing is parsed or
staged here and no file holds the data. The windows then follow from --scale.

The cluster: initdb into a fresh directory under --tmp-dir, a free port on
127.0.0.1 and a unix socket in that directory, trust auth. PostgreSQL refuses to
run as root, so when run as root, initdb and the server run as the user `postgres`
(or $ARRAYQ_PG_USER, or `nobody`) through runuser; the client stays root and talks
over the socket. The cluster is stopped and removed at exit, on errors and on
SIGTERM/SIGINT too (--keep leaves the directory for inspection). With
--cluster-dir the cluster lives there and is kept: a later run starts it again
and reuses the layouts recorded in DIR/loaded.json (written after each load) that
are not in --load.

Layouts (tables):
    rows          power_rows(asset_id int, ts timestamptz, version int, value real),
                  primary key (asset_id, ts, version)
    real_array    power_day_f4(asset_id int, day date, version int, t0 timestamptz,
                  vals real[]), primary key (asset_id, day, version); `day` is the
                  local (Europe/Amsterdam) date, t0 its first quarter-hour, vals
                  the day's 96 (92/100 on DST days) values
    float8_array  power_day_f8, the same with double precision[]
Every query keeps the newest version of each batch (E4: the newest <= 2). See
README.md for the JSON on stdout.
"""
import argparse
import atexit
import datetime as dt
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
TZ = "Europe/Amsterdam"
LAYOUTS = {"rows": "power_rows", "real_array": "power_day_f4", "float8_array": "power_day_f8"}
SYSTEM_NAMES = {"rows": "postgres-rows", "real_array": "postgres-real[]",
                "float8_array": "postgres-float8[]"}
ALL_QUERIES = ["E1", "E2", "E3", "E4"]
FULL = {"E1", "E3", "E4"}  # answers reported in full


# --------------------------------------------------------------------------- cluster

class Cluster:
    """A throwaway PostgreSQL cluster; stop() is idempotent and runs at exit."""

    def __init__(self, bindir, tmp_dir, threads, jit, keep, cluster_dir=None):
        self.bindir, self.keep = bindir, keep or cluster_dir is not None
        if cluster_dir:
            os.makedirs(cluster_dir, exist_ok=True)
            self.dir = os.path.abspath(cluster_dir)
        else:
            self.dir = tempfile.mkdtemp(prefix="arrayq-pg-", dir=tmp_dir)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        # unix socket paths are limited to ~107 bytes
        self.sock = self.dir if len(self.dir) < 80 else tempfile.mkdtemp(prefix="pgs-")
        self.user = None
        self.running = False
        if os.geteuid() == 0:
            self.user = os.environ.get("ARRAYQ_PG_USER") or next(
                (u for u in ("postgres", "nobody") if _has_user(u)), None)
            if self.user is None:
                sys.exit("running as root and no user postgres/nobody to run PostgreSQL as")
            pw = pwd.getpwnam(self.user)
            for d in {self.dir, self.sock}:
                os.chown(d, pw.pw_uid, pw.pw_gid)
            _check_traversable(self.dir, pw.pw_uid, pw.pw_gid)
        atexit.register(self.stop)
        self.port = _free_port()
        self.reused = os.path.exists(os.path.join(self.data, "PG_VERSION"))
        if self.reused:
            have = open(os.path.join(self.data, "PG_VERSION")).read().strip()
            want = self._run(["postgres", "--version"]).split()[-1].split(".")[0]
            if have != want:
                sys.exit(f"{self.data} was made by PostgreSQL {have}, the server is {want}:"
                         f" delete {self.dir}")
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                # a server left running by a killed run: stop it (fails harmlessly if stale)
                try:
                    self._run(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
                except RuntimeError:
                    pass
        else:
            self._run(["initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                       "--encoding=UTF8", "--no-locale", "--no-sync"])
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("\ninclude_if_exists = 'arrayq.conf'\n")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sock}'",
            # The bulk-load advice of the docs ("Populating a Database"): no WAL for
            # tables created and filled in one transaction.
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "shared_buffers": "'1GB'",
            "work_mem": "'64MB'",
            "maintenance_work_mem": "'512MB'",
            "effective_cache_size": "'8GB'",
            "random_page_cost": "1.1",  # SSD
            "max_wal_size": "'4GB'",
            "max_worker_processes": str(max(8, threads)),
            "max_parallel_workers": str(threads),
            "max_parallel_workers_per_gather": str(threads),
            "max_parallel_maintenance_workers": str(threads),
            "jit": jit,
            "timezone": "'UTC'",
            "log_min_messages": "warning",
        }
        # Rewritten at every start (port, socket), included from postgresql.conf.
        conf_path = os.path.join(self.data, "arrayq.conf")
        with open(conf_path, "w") as f:
            f.write("# arrayq bench peer\n")
            f.writelines(f"{k} = {v}\n" for k, v in conf.items())
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(conf_path, pw.pw_uid, pw.pw_gid)
        self.settings = {k: v.strip("'") for k, v in conf.items()}
        self.start()

    def _cmd(self, args):
        exe = os.path.join(self.bindir, args[0]) if self.bindir else args[0]
        cmd = [exe] + args[1:]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return cmd

    def _run(self, args):
        r = subprocess.run(self._cmd(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{r.stdout}")
        return r.stdout

    def start(self):
        self._run(["pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])
        self.running = True

    def restart(self):
        """Empties shared_buffers (a cold start of the server)."""
        self._run(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop"])
        self.running = False
        self.start()

    def stop(self):
        if self.running:
            try:
                self._run(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop"])
            except Exception as e:  # still try to clean up
                peerlib.eprint(f"pg_ctl stop: {e}")
            self.running = False
        if not self.keep and self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.sock != self.dir:
                shutil.rmtree(self.sock, ignore_errors=True)
            self.dir = None

    def connect(self):
        import psycopg

        return psycopg.connect(host=self.sock, port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _check_traversable(path, uid, gid):
    """The server user must reach its data directory through every parent."""
    p = os.path.dirname(os.path.abspath(path))
    while p and p != "/":
        st = os.stat(p)
        if not (st.st_mode & 0o001 or (st.st_gid == gid and st.st_mode & 0o010)
                or st.st_uid == uid):
            sys.exit(f"{p} is not searchable by the PostgreSQL user; use --tmp-dir elsewhere")
        p = os.path.dirname(p)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_bindir(given):
    if given:
        return given
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and os.path.exists(os.path.join(out.stdout.strip(), "initdb")):
            return out.stdout.strip()
    except FileNotFoundError:
        pass
    base = "/usr/lib/postgresql"
    if os.path.isdir(base):
        vers = sorted((v for v in os.listdir(base) if v.isdigit()), key=int, reverse=True)
        for v in vers:
            if os.path.exists(os.path.join(base, v, "bin", "initdb")):
                return os.path.join(base, v, "bin")
    if shutil.which("initdb"):
        return ""  # on PATH
    sys.exit("no PostgreSQL binaries (initdb): install postgresql or pass --pg-bin")


# --------------------------------------------------------------------------- data

class Portfolio:
    """The CSV, parsed once (for the array layouts and the query windows)."""

    def __init__(self, path):
        import pandas as pd

        df = pd.read_csv(path, dtype={"asset_id": np.int32, "version": np.int32,
                                      "value": np.float64})
        ts = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
        self.asset = df["asset_id"].to_numpy()
        self.version = df["version"].to_numpy()
        self.value = df["value"].to_numpy().astype(np.float32)
        self.ts = ts.dt.tz_convert(None).to_numpy().astype("datetime64[us]")
        local = pd.DatetimeIndex(ts).tz_convert(TZ)
        self.day = np.asarray(local.normalize().tz_localize(None).to_numpy(),
                              dtype="datetime64[D]")
        self.rows = len(df)
        self.n_assets = int(self.asset.max())
        self.days = np.unique(self.day)  # local dates, sorted

    def batches(self):
        """(asset, day, version, t0, values) per batch, values ordered by ts."""
        order = np.lexsort((self.ts, self.version, self.day, self.asset))
        a, d, v = self.asset[order], self.day[order], self.version[order]
        t, x = self.ts[order], self.value[order]
        brk = np.flatnonzero((a[1:] != a[:-1]) | (d[1:] != d[:-1]) | (v[1:] != v[:-1])) + 1
        starts = np.concatenate(([0], brk))
        ends = np.concatenate((brk, [len(a)]))
        for s, e in zip(starts.tolist(), ends.tolist()):
            yield (int(a[s]), d[s].item(), int(v[s]),
                   t[s].item().replace(tzinfo=dt.timezone.utc), x[s:e])

    def windows(self):
        return windows([d.item() for d in self.days])


SIZES = {"XS": (20, 3), "S": (200, 31), "M": (5000, 365)}


class Extent:
    """What the queries need to know of the data when it comes from the harness:
    the sizes of the scale (local days from 2023-01-01)."""

    def __init__(self, scale):
        self.n_assets, n_days = SIZES[scale]
        self.days = [dt.date(2023, 1, 1) + dt.timedelta(days=k) for k in range(n_days)]
        self.rows = None

    def windows(self):
        return windows(self.days)


def windows(days):
    """Local date ranges [first, last] of E1/E4 (week), E2 (month), E3 (all)."""
    week = days[8:15] if len(days) >= 15 else days
    month = days[:31]
    return {"week": (week[0], week[-1]), "month": (month[0], month[-1]),
            "all": (days[0], days[-1])}


def _read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise RuntimeError(f"stdin ended inside a frame ({len(b)} of {n} bytes)")
    return b


def copy_frames(cp, f):
    """Passes one layout's framed binary COPY stream from f to the server untouched."""
    n_bytes = 0
    while True:
        n = int.from_bytes(_read_exact(f, 4), "little")
        if n == 0:
            return n_bytes
        cp.write(_read_exact(f, n))
        n_bytes += n


def create_sql(layout):
    table = LAYOUTS[layout]
    if layout == "rows":
        return (f"CREATE TABLE {table} (asset_id int NOT NULL, ts timestamptz NOT NULL,"
                f" version int NOT NULL, value real NOT NULL)")
    elem = "real" if layout == "real_array" else "double precision"
    return (f"CREATE TABLE {table} (asset_id int NOT NULL, day date NOT NULL,"
            f" version int NOT NULL, t0 timestamptz NOT NULL, vals {elem}[] NOT NULL)")


def primary_key(layout):
    cols = "asset_id, ts, version" if layout == "rows" else "asset_id, day, version"
    return f"ALTER TABLE {LAYOUTS[layout]} ADD PRIMARY KEY ({cols})"


def load_stream(conn, layout, f):
    """Create and fill one layout's table from a framed binary COPY stream on f.

    Table, COPY and primary key are one transaction: with wal_level=minimal the
    server then writes no WAL for them (it syncs the files at commit instead)."""
    table = LAYOUTS[layout]
    cur = conn.cursor()
    t0 = time.perf_counter()
    with conn.transaction():
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(create_sql(layout))
        with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as cp:
            stream_bytes = copy_frames(cp, f)
        t_copy = time.perf_counter() - t0
        cur.execute(primary_key(layout))
    t_index = time.perf_counter() - t0 - t_copy
    out = _finish_load(cur, table, t_copy, t_index)
    out["stream_bytes"] = stream_bytes
    return out


def _finish_load(cur, table, t_copy, t_index):
    t1 = time.perf_counter()
    cur.execute(f"VACUUM (ANALYZE) {table}")  # statistics + visibility map (index-only scans)
    t_vacuum = time.perf_counter() - t1
    cur.execute("CHECKPOINT")
    cur.execute(f"SELECT count(*), pg_total_relation_size('{table}'),"
                f" pg_relation_size('{table}') FROM {table}")
    n, total, heap = cur.fetchone()
    return {"table": table, "rows": n, "copy_s": t_copy, "index_s": t_index,
            "vacuum_analyze_s": t_vacuum, "seconds": t_copy + t_index + t_vacuum,
            "total_bytes": total, "heap_bytes": heap}


def load(conn, layout, csv_path, portfolio):
    """Create and fill one layout's table from the CSV; returns its load report."""
    table = LAYOUTS[layout]
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    t0 = time.perf_counter()
    if layout == "rows":
        # bulk-load recipe of the PostgreSQL docs: COPY first, then the index
        cur.execute(create_sql(layout))
        with open(csv_path, "rb") as f, cur.copy(
                f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as cp:
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                cp.write(block)
        t_copy = time.perf_counter() - t0
    else:
        cur.execute(create_sql(layout))
        pg_elem = "float4[]" if layout == "real_array" else "float8[]"
        with cur.copy(f"COPY {table} (asset_id, day, version, t0, vals)"
                      f" FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int4", "date", "int4", "timestamptz", pg_elem])
            for a, d, v, ts0, vals in portfolio.batches():
                cp.write_row((a, d, v, ts0, vals.tolist()))
        t_copy = time.perf_counter() - t0
    cur.execute(primary_key(layout))
    t_index = time.perf_counter() - t0 - t_copy
    return _finish_load(cur, table, t_copy, t_index)


# --------------------------------------------------------------------------- queries

def _lit_ts(d):
    """timestamptz literal of local midnight of date d (Europe/Amsterdam)."""
    return f"timestamptz '{d.isoformat()} 00:00 {TZ}'"


def _ids(ids):
    return "ARRAY[" + ",".join(str(i) for i in ids) + "]"


def sql_rows(q, variant, ids, d0, d1, max_version):
    """E1/E2/E4 (per quarter-hour sum over ids, None: all) and E3 on the row table."""
    t0, t1 = _lit_ts(d0), _lit_ts(d1 + dt.timedelta(days=1))
    where = f"ts >= {t0} AND ts < {t1}"
    if ids is not None:
        where = f"asset_id = ANY({_ids(ids)}) AND " + where
    if max_version:
        where += f" AND version <= {max_version}"
    if variant == "distinct_on":
        # backward scan of the primary key: the first row of each (asset, ts) is the newest
        newest = (f"SELECT DISTINCT ON (asset_id, ts) asset_id, ts, value FROM power_rows"
                  f" WHERE {where} ORDER BY asset_id DESC, ts DESC, version DESC")
    elif variant == "not_exists":
        vcond = f" AND n.version <= {max_version}" if max_version else ""
        newest = (f"SELECT asset_id, ts, value FROM power_rows r WHERE {where} AND NOT EXISTS"
                  f" (SELECT 1 FROM power_rows n WHERE n.asset_id = r.asset_id AND n.ts = r.ts"
                  f" AND n.version > r.version{vcond})")
    elif variant == "window":
        newest = (f"SELECT asset_id, ts, value FROM (SELECT asset_id, ts, value, row_number()"
                  f" OVER (PARTITION BY asset_id, ts ORDER BY version DESC) AS k"
                  f" FROM power_rows WHERE {where}) w WHERE k = 1")
    elif variant == "max_version":
        newest = (f"SELECT r.asset_id, r.ts, r.value FROM power_rows r JOIN"
                  f" (SELECT asset_id, ts, max(version) AS version FROM power_rows WHERE {where}"
                  f" GROUP BY asset_id, ts) m USING (asset_id, ts, version)")
    else:
        raise ValueError(variant)
    if q == "E3":
        return (f"SELECT asset_id, (ts AT TIME ZONE '{TZ}')::date AS day,"
                f" sum(value::float8) * 0.25 AS mwh FROM ({newest}) n"
                f" GROUP BY 1, 2 ORDER BY 1, 2")
    return f"SELECT ts, sum(value::float8) AS mw FROM ({newest}) n GROUP BY ts ORDER BY ts"


def sql_arrays(q, variant, table, f8, ids, d0, d1, max_version):
    where = f"day BETWEEN DATE '{d0}' AND DATE '{d1}'"
    if ids is not None:
        where = f"asset_id = ANY({_ids(ids)}) AND " + where
    if max_version:
        where += f" AND version <= {max_version}"
    cols = "asset_id, day, t0, vals"
    if variant == "distinct_on":
        newest = (f"SELECT DISTINCT ON (asset_id, day) {cols} FROM {table} WHERE {where}"
                  f" ORDER BY asset_id DESC, day DESC, version DESC")
    elif variant == "not_exists":
        vcond = f" AND n.version <= {max_version}" if max_version else ""
        newest = (f"SELECT {cols} FROM {table} r WHERE {where} AND NOT EXISTS (SELECT 1 FROM"
                  f" {table} n WHERE n.asset_id = r.asset_id AND n.day = r.day"
                  f" AND n.version > r.version{vcond})")
    elif variant == "window":
        newest = (f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY"
                  f" asset_id, day ORDER BY version DESC) AS k FROM {table} WHERE {where}) w"
                  f" WHERE k = 1")
    elif variant == "max_version":
        newest = (f"SELECT {', '.join('r.' + c for c in cols.split(', '))} FROM {table} r JOIN"
                  f" (SELECT asset_id, day, max(version) AS version FROM {table} WHERE {where}"
                  f" GROUP BY asset_id, day) m USING (asset_id, day, version)")
    else:
        raise ValueError(variant)
    v = "v" if f8 else "v::float8"
    if q == "E3":
        return (f"SELECT asset_id, day, (SELECT sum({v}) FROM unnest(vals) AS v) * 0.25 AS mwh"
                f" FROM ({newest}) n ORDER BY 1, 2")
    return (f"SELECT t0 + (i - 1) * interval '15 minutes' AS ts, sum({v}) AS mw"
            f" FROM ({newest}) n, unnest(vals) WITH ORDINALITY AS u(v, i)"
            f" GROUP BY 1 ORDER BY 1")


VARIANTS = ["distinct_on", "not_exists", "window", "max_version"]
# The fastest variant per (layout, query), measured at scale S (README.md).
BEST = {
    ("rows", "E1"): "distinct_on", ("rows", "E2"): "distinct_on",
    ("rows", "E3"): "distinct_on", ("rows", "E4"): "distinct_on",
    ("real_array", "E1"): "distinct_on", ("real_array", "E2"): "distinct_on",
    ("real_array", "E3"): "distinct_on", ("real_array", "E4"): "distinct_on",
    ("float8_array", "E1"): "distinct_on", ("float8_array", "E2"): "distinct_on",
    ("float8_array", "E3"): "distinct_on", ("float8_array", "E4"): "distinct_on",
}


def query_sql(layout, q, variant, portfolio):
    w = portfolio.windows()
    n = portfolio.n_assets
    if q in ("E1", "E4"):
        ids, (d0, d1) = list(range(1, n + 1, 50)), w["week"]
    elif q == "E2":
        ids, (d0, d1) = None, w["month"]  # all assets: no asset predicate
    else:
        ids, (d0, d1) = list(range(1, min(10, n) + 1)), w["all"]
    max_version = 2 if q == "E4" else None
    if layout == "rows":
        return sql_rows(q, variant, ids, d0, d1, max_version)
    return sql_arrays(q, variant, LAYOUTS[layout], layout == "float8_array", ids, d0, d1,
                      max_version)


def answer(q, rows):
    if q == "E3":
        assets = sorted({r[0] for r in rows})
        days = sorted({r[1] for r in rows})
        m = np.full((len(assets), len(days)), np.nan)
        ai = {a: k for k, a in enumerate(assets)}
        di = {d: k for k, d in enumerate(days)}
        for a, d, x in rows:
            m[ai[a], di[d]] = float(x)
        out = peerlib.digest(m, full=True)
        out.update(assets=assets, first_day=days[0].isoformat(), last_day=days[-1].isoformat())
        return out
    out = peerlib.digest(np.array([float(r[1]) for r in rows]), full=q in FULL)
    out.update(first_ts=rows[0][0].isoformat(), last_ts=rows[-1][0].isoformat())
    return out


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="PostgreSQL peer of the energy queries E1-E4")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="every version of every batch (asset_id,ts,version,value)")
    src.add_argument("--stdin-copy", action="store_true",
                     help="the layouts of --load arrive on stdin as framed binary COPY"
                          " streams, in that order (needs --scale)")
    ap.add_argument("--scale", choices=["XS", "S", "M"],
                    help="check the data has this scale's size (--csv); the query windows"
                         " (--stdin-copy)")
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help="the layouts queried")
    ap.add_argument("--load", default=None,
                    help="the layouts loaded (default: every one of --layouts); the others"
                         " must be recorded in --cluster-dir's loaded.json")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="max_parallel_workers(_per_gather)")
    ap.add_argument("--queries", default=",".join(ALL_QUERIES), help="'' to load only")
    ap.add_argument("--cold", choices=["first", "all", "none"], default="first",
                    help="restart the server and evict the page cache before the first run"
                         " of each query (default), before every run, or never")
    ap.add_argument("--evict", choices=["auto", "drop_caches", "fadvise", "none"], default="auto")
    ap.add_argument("--variants", choices=["best", "all"], default="best",
                    help="time the fastest formulation only, or every one (newest-version"
                         " by DISTINCT ON, NOT EXISTS, row_number(), max(version) join)")
    ap.add_argument("--jit", choices=["off", "on"], default="off")
    ap.add_argument("--tmp-dir", default=None, help="parent of the cluster directory")
    ap.add_argument("--pg-bin", default=None, help="directory of initdb/pg_ctl")
    ap.add_argument("--cluster-dir", default=None,
                    help="keep the cluster here and reuse it (loaded.json lists its tables)")
    ap.add_argument("--data-id", default="",
                    help="recorded in loaded.json: what the data is (the harness checks it)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory")
    a = ap.parse_args()
    layouts = [x for x in a.layouts.split(",") if x]
    to_load = layouts if a.load is None else [x for x in a.load.split(",") if x]
    queries = [q.strip().upper() for q in a.queries.split(",") if q.strip()]
    if (set(layouts) - set(LAYOUTS) or set(to_load) - set(LAYOUTS)
            or set(queries) - set(ALL_QUERIES)):
        ap.error(f"layouts are {list(LAYOUTS)}, queries {ALL_QUERIES}")
    if a.stdin_copy and not a.scale:
        ap.error("--stdin-copy needs --scale")
    marker_path = os.path.join(a.cluster_dir, "loaded.json") if a.cluster_dir else None
    marker = {"data": a.data_id, "layouts": {}}
    if marker_path and os.path.exists(marker_path):
        with open(marker_path) as f:
            marker = json.load(f)
    missing = [x for x in layouts if x not in to_load and x not in marker["layouts"]]
    if missing:
        ap.error(f"layouts {missing} are neither in --load nor in {marker_path}")

    # SIGTERM/SIGINT -> SystemExit, so the cluster is stopped by atexit
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    t0 = time.perf_counter()
    if a.stdin_copy:
        data = Extent(a.scale)
    else:
        data = Portfolio(a.csv)
        sizes = (data.n_assets, len(data.days))
        if a.scale and sizes != SIZES[a.scale]:
            sys.exit(f"{a.csv}: {sizes[0]} assets x {sizes[1]} days,"
                     f" scale {a.scale} has {SIZES[a.scale]}")
    parse_s = time.perf_counter() - t0

    cluster = Cluster(find_bindir(a.pg_bin), a.tmp_dir, a.threads, a.jit, a.keep,
                      a.cluster_dir)
    try:
        conn = cluster.connect()
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        loads, systems = {}, {}
        for layout in to_load:
            if a.stdin_copy:
                loads[layout] = load_stream(conn, layout, sys.stdin.buffer)
            else:
                loads[layout] = load(conn, layout, a.csv, data)
            loads[layout]["loaded_at"] = dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds")
            peerlib.eprint(f"load {layout}: {loads[layout]['rows']} rows in"
                           f" {loads[layout]['seconds']:.2f} s")
            if marker_path:
                marker["data"] = a.data_id
                marker["layouts"][layout] = loads[layout]
                with open(marker_path + ".tmp", "w") as f:
                    json.dump(marker, f, indent=1)
                os.replace(marker_path + ".tmp", marker_path)
        for layout in layouts:
            if layout not in loads:
                loads[layout] = dict(marker["layouts"][layout], cached=True)

        state = {"conn": conn}

        def restart():
            state["conn"].close()
            cluster.restart()
            state["conn"] = cluster.connect()

        for layout in layouts:
            name = SYSTEM_NAMES[layout]
            out_q = {}
            for q in queries:
                variants = VARIANTS if a.variants == "all" else [BEST[(layout, q)]]
                res = {}
                for var in variants:
                    sql = query_sql(layout, q, var, data)

                    def run(sql=sql):
                        return state["conn"].execute(sql).fetchall()

                    rows, times, labels, used = peerlib.time_runs(
                        run, a.runs, a.cold, a.evict, [cluster.data],
                        before_cold=restart)
                    res[var] = {"times_s": times, "labels": labels, "variant": var,
                                "sql": sql, "answer": answer(q, rows), "cache_eviction": used}
                    peerlib.eprint(f"{name} {q} {var}: "
                                   + " ".join(f"{t * 1e3:.1f}ms" for t in times))
                best = min(res.values(), key=lambda r: min(r["times_s"][1:] or r["times_s"]))
                entry = dict(best)
                if len(res) > 1:
                    entry["variants"] = {k: {"times_s": v["times_s"], "labels": v["labels"],
                                             "sum": v["answer"]["sum"]}
                                         for k, v in res.items()}
                out_q[q] = entry
            systems[name] = {"layout": layout, "table": LAYOUTS[layout], "load": loads[layout],
                             "queries": out_q}
            if queries:
                plan = state["conn"].execute(
                    "EXPLAIN (COSTS OFF) " + out_q[queries[0]]["sql"]).fetchall()
                systems[name]["plan_" + queries[0]] = [r[0] for r in plan]
        state["conn"].close()
    finally:
        cluster.stop()

    peerlib.dump({
        "suite": "energy",
        "system": "postgres",
        "threads": a.threads,
        "runs": a.runs,
        "cold": a.cold,
        "csv": os.path.abspath(a.csv) if a.csv else None,
        "csv_rows": data.rows,
        "csv_parse_s": parse_s if a.csv else None,
        "source": "csv" if a.csv else "stdin (binary COPY)",
        "cluster_reused": cluster.reused,
        "n_assets": data.n_assets,
        "n_days": len(data.days),
        "windows": {k: [v[0].isoformat(), v[1].isoformat()]
                    for k, v in data.windows().items()},
        "run_as": cluster.user or pwd.getpwuid(os.geteuid()).pw_name,
        "settings": cluster.settings,
        "versions": dict(peerlib.versions(["psycopg", "psycopg-binary", "numpy", "pandas"]),
                         postgres=server_version),
        "systems": systems,
    })


if __name__ == "__main__":
    main()
