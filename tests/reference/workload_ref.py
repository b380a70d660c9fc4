#!/usr/bin/env python3
"""arrayq's numpy reference for the reference workloads (see storage/workload/README.md).

Written from the formulas alone, independently of the Rust generator, so that tests
can check the Rust data and any query result against a second implementation.
Values are computed in float64 in the formulas' operation order and rounded to
float32 once, at the end; the Rust generator must match them bit for bit.

    workload_ref.py --era5 XS --out cube.npy                 # (time, lat, lon) float32
    workload_ref.py --era5 XS --queries [--outdir DIR]       # Q1..Q6 JSON (+ Q4.npy, Q5.npy)
    workload_ref.py --energy XS --out m.npy [--as-of-round R]  # (asset, quarter) float32
    workload_ref.py --energy XS --queries                    # E1..E4 JSON
    workload_ref.py --energy XS --csv rows.csv               # every version, ingest order

Needs numpy; time zones come from zoneinfo (system database or the tzdata package).
"""
import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

TAU = 2 * np.pi
DEG = np.pi / 180  # the factor numpy's radians() multiplies by

# --------------------------------------------------------------------------- hash

def mix(keys):
    """SplitMix64 of a uint64 array (numpy integer arrays wrap silently)."""
    z = np.asarray(keys, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def to_unit(z):
    """Uniform float64 in [0, 1) from the top 53 bits of a hash."""
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def parse_scale(text):
    s = text.upper()
    if s not in ("XS", "S", "M"):
        raise argparse.ArgumentTypeError(f"unknown scale {text!r}")
    return s

# --------------------------------------------------------------------------- era5

ERA5_HOURS = {"XS": 48, "S": 744, "M": 8760}
LATS = 72.0 - 0.25 * np.arange(153)
LONS = -25.0 + 0.25 * np.arange(281)


def era5_block(h0, h1):
    """t2m for hours h0..h1-1 as float32 (h1-h0, 153, 281)."""
    hi = np.arange(h0, h1, dtype=np.uint64).reshape(-1, 1, 1)
    ii = np.arange(153, dtype=np.uint64).reshape(1, -1, 1)
    jj = np.arange(281, dtype=np.uint64).reshape(1, 1, -1)
    h = hi.astype(np.float64)
    la = LATS.reshape(1, -1, 1)
    lo = LONS.reshape(1, 1, -1)
    season = -np.cos(TAU * (h / 24 - 15) / 365.25)
    diurnal = np.cos(TAU * (h % 24 + lo / 15 - 14) / 24)
    wave = np.sin(3 * (la * DEG) + 2 * (lo * DEG) + TAU * h / 97)
    noise = to_unit(mix((hi << np.uint64(32)) + (ii << np.uint64(16)) + jj)) - 0.5
    t = (288.15 - 0.55 * (la - 45) + (8 + 0.15 * (la - 34)) * season
         + 4 * diurnal + 3 * wave + noise)
    return t.astype(np.float32)


def era5_cube(scale):
    n = ERA5_HOURS[scale]
    out = np.empty((n, 153, 281), dtype=np.float32)
    for h0 in range(0, n, 168):  # a week at a time keeps float64 temporaries small
        h1 = min(h0 + 168, n)
        out[h0:h1] = era5_block(h0, h1)
    return out


def era5_queries(c, outdir=None):
    """Expected answers of Q1..Q6; Q4 (float64) and Q5 (float32) also as .npy files."""
    n = c.shape[0]
    i52 = int(np.flatnonzero(LATS == 52.0)[0])
    j5 = int(np.flatnonzero(LONS == 5.0)[0])
    box_i = np.flatnonzero((LATS >= 50) & (LATS <= 54))
    box_j = np.flatnonzero((LONS >= 3) & (LONS <= 8))
    q2 = min(14 * 24 + 12, n - 1)  # 2023-01-15T12:00Z, or the last hour
    week = min(7 * 24, n)
    n_days = week // 24
    box = c[:, box_i[0]:box_i[-1] + 1, box_j[0]:box_j[-1] + 1].astype(np.float64)
    q4 = c[:week].astype(np.float64).mean(axis=0)
    q5 = c[:n_days * 24].reshape(n_days, 24, 153, 281).max(axis=1)
    if outdir:
        os.makedirs(outdir, exist_ok=True)
        np.save(os.path.join(outdir, "Q4.npy"), q4)
        np.save(os.path.join(outdir, "Q5.npy"), q5)
    return {
        "Q1": c[:, i52, j5].tolist(),
        "Q2_hour": q2,
        "Q2": c[q2].tolist(),
        "Q2_sum": float(c[q2].astype(np.float64).sum()),
        "Q3": box.mean(axis=(1, 2)).tolist(),
        "Q4_sum": float(q4.sum()),
        "Q5_sum": float(q5.astype(np.float64).sum()),
        "Q6": float(c.mean(dtype=np.float64)),
    }

# --------------------------------------------------------------------------- energy

ENERGY_SIZES = {"XS": (20, 3), "S": (200, 31), "M": (5000, 365)}
AMS = ZoneInfo("Europe/Amsterdam")
Q0 = datetime(2022, 12, 31, 23, 0, tzinfo=timezone.utc)
QUARTER = timedelta(minutes=15)


def day_table(n_days):
    """[(first UTC quarter, quarters)] of local days 0..n_days-1 (92/100 on DST days)."""
    edges = []
    for d in range(n_days + 1):
        local = (datetime(2023, 1, 1) + timedelta(days=d)).replace(tzinfo=AMS)
        edges.append((local.astimezone(timezone.utc) - Q0) // QUARTER)
    return [(edges[d], edges[d + 1] - edges[d]) for d in range(n_days)]


def quarter_axes(days):
    """Per UTC quarter: local hour of day (float) and local day index."""
    n_q = days[-1][0] + days[-1][1]
    hour = np.empty(n_q)
    for q in range(n_q):
        t = (Q0 + q * QUARTER).astimezone(AMS)
        hour[q] = t.hour + t.minute / 60.0
    day = np.repeat(np.arange(len(days)), [n for _, n in days])
    return hour, day


def energy_values(ids, hour, day, pick_version):
    """float32 (len(ids), quarters) of the given asset ids; pick_version(V) -> version."""
    a = np.asarray(ids, dtype=np.int64).reshape(-1, 1)
    q = np.arange(hour.size, dtype=np.int64).reshape(1, -1)
    kind, cap = a % 3, 1 + a % 17
    solar = (np.maximum(0.0, np.sin(np.pi * (hour - 6) / 12))
             * (0.6 + 0.4 * np.sin(TAU * (day - 80) / 365)))
    wind = 0.5 + 0.4 * np.sin(TAU * q / (96 * 3.7) + a)
    load = 0.6 + 0.2 * np.cos(TAU * (hour - 18) / 24)
    shape = np.where(kind == 0, solar, np.where(kind == 1, wind, load))
    au = a.astype(np.uint64)
    n_versions = 1 + (mix((au << np.uint64(20)) + day.astype(np.uint64)) % np.uint64(3)).astype(np.int64)
    v = pick_version(n_versions)
    noise = to_unit(mix((au << np.uint64(40)) + (q.astype(np.uint64) << np.uint64(4))
                        + v.astype(np.uint64))) - 0.5
    return (cap * shape + 0.05 * cap * noise * (n_versions - v)).astype(np.float32), n_versions


def energy_matrix(scale, as_of_round=None):
    """Portfolio (asset, quarter) after round as_of_round (None: newest versions)."""
    n_assets, n_days = ENERGY_SIZES[scale]
    days = day_table(n_days)
    hour, day = quarter_axes(days)
    pick = (lambda V: V) if as_of_round is None else (lambda V: np.minimum(V, as_of_round))
    out = np.empty((n_assets, hour.size), dtype=np.float32)
    for a0 in range(0, n_assets, 250):  # bounded float64 temporaries
        ids = np.arange(a0 + 1, min(a0 + 250, n_assets) + 1)
        out[a0:a0 + ids.size] = energy_values(ids, hour, day, pick)[0]
    return out, days


def energy_queries(scale):
    m, days = energy_matrix(scale)
    old, _ = energy_matrix(scale, as_of_round=2)
    pos = np.arange(0, m.shape[0], 50)  # positions of ids 1, 51, 101, ...
    week = days[8:15] if len(days) >= 15 else days  # local Jan 9-15
    w0, w1 = week[0][0], week[-1][0] + week[-1][1]
    month = days[:31]
    m0, m1 = month[0][0], month[-1][0] + month[-1][1]
    m64 = m.astype(np.float64)
    return {
        "E1_window": [int(w0), int(w1)],
        "E1": m64[pos, w0:w1].sum(axis=0).tolist(),
        "E2_sum": float(m64[:, m0:m1].sum()),
        "E3": [[float(m64[a, q0:q0 + n].sum() * 0.25) for q0, n in days]
               for a in range(min(10, m.shape[0]))],
        "E4": old.astype(np.float64)[pos, w0:w1].sum(axis=0).tolist(),
    }


def energy_csv(scale, path):
    """Every version of every batch: round 1, 2, 3; within a round by asset, then time."""
    n_assets, n_days = ENERGY_SIZES[scale]
    days = day_table(n_days)
    hour, day = quarter_axes(days)
    q = np.arange(hour.size)
    stamps = np.datetime_as_string(np.datetime64("2022-12-31T23:00:00")
                                   + q * np.timedelta64(15, "m"), unit="s")
    with open(path, "w") as f:
        f.write("asset_id,ts,version,value\n")
        for r in (1, 2, 3):
            for a in range(1, n_assets + 1):
                vals, nv = energy_values([a], hour, day, lambda V: np.full_like(V, r))
                keep = np.flatnonzero(nv[0] >= r)
                f.writelines(f"{a},{stamps[k]}Z,{r},{float(vals[0, k])!r}\n" for k in keep)

# --------------------------------------------------------------------------- cli

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--era5", type=parse_scale, metavar="SCALE")
    which.add_argument("--energy", type=parse_scale, metavar="SCALE")
    ap.add_argument("--out", help="write the cube / portfolio matrix as .npy")
    ap.add_argument("--as-of-round", type=int, help="energy --out: state after this round")
    ap.add_argument("--queries", action="store_true", help="print expected answers as JSON")
    ap.add_argument("--outdir", help="era5 --queries: also write Q4.npy and Q5.npy here")
    ap.add_argument("--csv", help="energy: write every version of every batch as CSV")
    a = ap.parse_args()
    if a.era5:
        if a.as_of_round is not None or a.csv:
            ap.error("--as-of-round and --csv are for --energy")
        c = era5_cube(a.era5)
        if a.out:
            np.save(a.out, c)
        if a.queries:
            json.dump(era5_queries(c, a.outdir), sys.stdout)
            print()
    else:
        if a.out:
            np.save(a.out, energy_matrix(a.energy, a.as_of_round)[0])
        if a.csv:
            energy_csv(a.energy, a.csv)
        if a.queries:
            json.dump(energy_queries(a.energy), sys.stdout)
            print()


if __name__ == "__main__":
    main()
