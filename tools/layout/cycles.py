#!/usr/bin/env python3
"""Import cycles between the modules of each crate (issue 24: "no import cycles").

A module is a top-level file or directory under src/, or, inside a directory module, one
of its children (`db/orders`, `workflows/checkout`). An edge is a `crate::a::b` or
`super::x` path outside comments and unit tests. Prints every cycle; exits 1 if any.
"""
import os
import re
import sys
from glob import glob

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
found = False
for crate in sorted(glob("subgraphs/*/src") + glob("crates/*/src") + ["router/src", "src"]):
    edges = {}
    for root, _, files in os.walk(crate):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, crate)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if not parts or parts[-1] == "tests":
                continue
            key = "/".join(parts[:2])
            with open(path, encoding="utf-8") as source:
                text = source.read().split("#[cfg(test)]")[0]
            code = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            for m in re.finditer(r"crate::([a-z_]+)(?:::([a-z_]+))?", code):
                a, b = m.group(1), m.group(2)
                nested = b and (
                    os.path.exists(os.path.join(crate, a, b + ".rs"))
                    or os.path.isdir(os.path.join(crate, a, b))
                )
                target = a + ("/" + b if nested else "")
                if target != key and not key.startswith(target + "/") and not target.startswith(key + "/"):
                    edges.setdefault(key, set()).add(target)
            if len(parts) >= 2:
                for m in re.finditer(r"\bsuper::([a-z_]+)", code):
                    target = "/".join((parts[:-1] + [m.group(1)])[:2])
                    if target != key:
                        edges.setdefault(key, set()).add(target)
    cycles = set()

    def walk(node, stack, seen):
        for nxt in edges.get(node, ()):
            if nxt in stack:
                cycle = stack[stack.index(nxt):]
                first = cycle.index(min(cycle))
                cycles.add(tuple(cycle[first:] + cycle[:first]))
            elif (node, nxt) not in seen:
                seen.add((node, nxt))
                walk(nxt, stack + [nxt], seen)

    for start in list(edges):
        walk(start, [start], set())
    for cycle in sorted(cycles):
        print(f"import cycle in {crate}: {' -> '.join(cycle + (cycle[0],))}")
        found = True
sys.exit(1 if found else 0)
