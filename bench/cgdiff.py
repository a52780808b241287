#!/usr/bin/env python3
"""Where two builds' instructions per request differ, per function.

  bench/cgdiff.py BEFORE.txt AFTER.txt [--top N] [--match TEXT]

Reads two `annotate-*.txt` files written by `bench/cost.py --callgrind
--annotate` (instructions per request per function, inclusive and self) and
prints, for each of the two, the functions whose cost per request moved
most, largest first: before, after, difference. Function names are
callgrind's (`file:function`, or `???:function` without line tables); a
function renamed or inlined differently between the builds shows up as one
removal and one addition. Standard library only.
"""
import argparse
import re
from pathlib import Path


def load(path, by_function):
    sections, cur = {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("## inclusive="):
            cur = sections.setdefault(line.split("=", 1)[1], {})
        elif cur is not None and line.strip():
            value, name = line.strip().split(None, 1)
            # Drop the object file and the checkout's own path (two builds
            # live in two checkouts); with --by-function, the source file too.
            name = re.sub(r" \[[^\]]*\]$", "", name)
            name = re.sub(r"^/[^ ]*?/(crates/)", r"\1", name)
            if by_function and name.startswith(("/", "???", ".", "crates/")):
                name = re.sub(r"^[^ ]*?:(?=[^:])", "", name, count=1)
            cur[name] = cur.get(name, 0.0) + float(value)
    return sections


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", help="only functions whose name contains this")
    p.add_argument("--by-function", action="store_true",
                   help="merge a function's lines from several source files (self costs add up; inclusive"
                        " ones may then count nested parts twice)")
    a = p.parse_args()
    b, c = load(a.before, a.by_function), load(a.after, a.by_function)
    for section, title in (("yes", "inclusive"), ("no", "self")):
        bs, cs = b.get(section, {}), c.get(section, {})
        rows = []
        for name in set(bs) | set(cs):
            if a.match and a.match not in name:
                continue
            d = cs.get(name, 0.0) - bs.get(name, 0.0)
            rows.append((abs(d), d, bs.get(name, 0.0), cs.get(name, 0.0), name))
        rows.sort(reverse=True)
        print(f"## {title} instructions per request: before, after, difference")
        for _, d, x, y, name in rows[: a.top]:
            print(f"{x:12,.0f} {y:12,.0f} {d:+10,.0f}  {name[:160]}")
        if section == "no":
            print(f"total self: {sum(bs.values()):,.0f} -> {sum(cs.values()):,.0f}")
        print()


if __name__ == "__main__":
    main()
