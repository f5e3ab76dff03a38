"""A small click log CSV with the awkward parts of real ones, to try `tfnas data infer-schema` on and to test
with: a timestamp, a user id, column names with '-' and spaces, missing tokens ('?', 'NA'), a multi-valued
'|' column, and clicks drawn from a planted logistic model of the features (so models can learn something).

    python -m pipelines.ctr.example_log clicks.csv --rows 20000 [--seed 0] [--gzip]
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os

import numpy as np

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "SciFi", "Thriller", "Kids")
DEVICES = ("phone", "tablet", "desktop", "tv")
REGIONS = ("north", "south", "east", "west", "NA")
HEADER = ("clicked", "ts", "user_id", "ad-id", "price", "capital-gain", "device type", "region", "genres")


def write_example_log(path: str, rows: int = 2000, seed: int = 0, compress: bool = False) -> str:
    """Write the example log to `path` (gzip when `compress`); rows are in time order.  Returns `path`."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(8, rows // 20), rows)
    user_bias = rng.normal(0, 1.0, users.max() + 1)
    ads = rng.integers(0, 50, rows)
    ad_bias = rng.normal(0, 0.8, 50)
    price = np.round(rng.lognormal(2.0, 0.7, rows), 2)
    gain = rng.exponential(200, rows).round(0)
    device = rng.integers(0, len(DEVICES), rows)
    region = rng.integers(0, len(REGIONS), rows)
    genre_w = rng.normal(0, 0.7, len(GENRES))
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    seconds = np.sort(rng.integers(0, 30 * 86400, rows))
    opener = gzip.open if compress else open
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\n")
        for i in range(rows):
            k = int(rng.integers(1, 4))
            genres = rng.choice(len(GENRES), k, replace=False)
            logit = (-1.2 + user_bias[users[i]] + ad_bias[ads[i]] - 0.25 * np.log1p(price[i])
                     + 0.4 * (device[i] == 0) + genre_w[genres].sum() / np.sqrt(k))
            clicked = int(rng.random() < 1 / (1 + np.exp(-logit)))
            ts = (start + dt.timedelta(seconds=int(seconds[i]))).strftime("%Y-%m-%dT%H:%M:%S")
            gain_s = "?" if rng.random() < 0.1 else f"{gain[i]:.0f}"
            f.write(f"{clicked},{ts},u{users[i]},{ads[i]},{price[i]},{gain_s},{DEVICES[device[i]]},"
                    f"{REGIONS[region[i]]},{'|'.join(GENRES[g] for g in genres)}\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gzip", action="store_true")
    args = p.parse_args(argv)
    write_example_log(args.out, args.rows, args.seed, args.gzip)
    print(f"wrote {args.out}: {args.rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
