#!/usr/bin/env python3
"""What the disk allows durable sends: the latency of one WAL-like fsync.

A durable send is answered after an fsync of the write-ahead log. Group
commit shares one fsync among every send queued meanwhile, but with `c`
clients at most `c` sends can be waiting, so whatever the CPU does, sends/s
at concurrency c cannot exceed c / (fsync latency). This appends
WAL-frame-sized writes (4 KiB pages plus a 24-byte header, 8 frames per
commit) to a file in DIR, fdatasyncs after each "commit", and prints the
latency distribution and that ceiling for the given concurrencies.

    python3 bench/fsync_ceiling.py [--dir DIR] [--commits N] [--concurrency 16,64]

DIR should be on the filesystem the gateway's data dir is on (default: the
current directory). Nothing is left behind.
"""

import argparse
import os
import statistics
import tempfile
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=".")
    p.add_argument("--commits", type=int, default=2000)
    p.add_argument("--frames", type=int, default=8, help="frames written per commit")
    p.add_argument("--concurrency", default="16,64")
    a = p.parse_args()
    frame = b"\x00" * 24 + b"x" * 4096
    lat = []
    with tempfile.NamedTemporaryFile(dir=a.dir, prefix="fsync-ceiling-") as f:
        fd = f.fileno()
        for i in range(a.commits):
            for _ in range(a.frames):
                os.write(fd, frame)
            if i % 256 == 255:  # the WAL starts over now and then
                os.lseek(fd, 0, os.SEEK_SET)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
    lat.sort()
    q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))] * 1e3
    mean = statistics.mean(lat) * 1e3
    print(f"fdatasync after {a.frames} frames: mean {mean:.3f} ms, median {q(0.5):.3f}, p90 {q(0.9):.3f}, "
          f"p99 {q(0.99):.3f} ({a.commits} commits, {a.dir})")
    for c in (int(x) for x in a.concurrency.split(",")):
        print(f"  c={c}: at most {c / (mean / 1e3):,.0f} durable sends/s (c / mean fsync latency)")


if __name__ == "__main__":
    main()
