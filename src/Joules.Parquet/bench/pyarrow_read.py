#!/usr/bin/env python3
"""Read a Parquet file with pyarrow, single-threaded, and print rows/s: the reference for `joules parquet bench --read-only`.

Usage: python3 pyarrow_read.py FILE [--repeat N]
Reads every column (pq.read_table(path, use_threads=False)), best of N passes (default 3), like the Joules benchmark.
"""
import argparse
import resource
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    best = float("inf")
    rows = 0
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        table = pq.read_table(args.file, use_threads=False)
        best = min(best, time.perf_counter() - start)
        rows = table.num_rows
        del table
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pyarrow {pa.__version__} read {args.file}: {rows:,} rows, best of {args.repeat} in {best:.3f} s = {rows / best:,.0f} rows/s; peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
