#!/usr/bin/env python3
"""Check every #include against the layer table in README.md ("Source layout").

Prints one PASS/FAIL line per check, as the test programs do:
  layers/includes-follow-the-table   every include crosses an edge the table allows
  layers/no-folder-cycles            no folders include each other, directly or around a circle
Exit 1 on any failure.  `python3 tests/check_layers.py` from anywhere.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)


def read_table():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    if not m:
        sys.exit("check_layers: no layers table in README.md")
    table = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`")
        allowed = cells[2]
        table[folder] = None if allowed == "*" else (
            set() if allowed in ("—", "-", "") else {a.strip() for a in allowed.split(",")})
    return table


def component(table, folder):
    """The table row that governs @folder: itself or the nearest folder above it."""
    f = folder
    while f:
        if f in table:
            return f
        f = os.path.dirname(f)
    return None


def source_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.c", "*.h"],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
    return [f for f in out.split() if os.path.exists(os.path.join(ROOT, f))]


def target_folder(table, src_dir, kind, name):
    """The component an include names, or None for a system header."""
    if name == "kvtier.h" or name.startswith("kvtier/"):
        return "include"
    if kind == '"' and os.path.exists(os.path.join(ROOT, src_dir, name)):
        return component(table, os.path.normpath(os.path.join(src_dir, os.path.dirname(name))))
    if os.path.exists(os.path.join(ROOT, name)):
        return component(table, os.path.dirname(name))
    return None


def find_cycle(edges):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def main():
    table = read_table()
    bad, edges = [], {}
    for path in source_files():
        src = component(table, os.path.dirname(path))
        if src is None:
            bad.append("%s: folder %s is not in the layers table" % (path, os.path.dirname(path)))
            continue
        with open(os.path.join(ROOT, path), errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            dst = target_folder(table, os.path.dirname(path), m.group(1), m.group(2))
            if dst is None or dst == src:
                continue
            edges.setdefault(src, set()).add(dst)
            allowed = table[src]
            if allowed is not None and dst not in allowed:
                bad.append("%s includes %s: %s may not include %s" % (path, m.group(2), src, dst))
    status = 0
    if bad:
        print("\n".join("    " + b for b in bad))
        print("FAIL layers/includes-follow-the-table: %d include(s) across a forbidden edge" % len(bad))
        status = 1
    else:
        print("PASS layers/includes-follow-the-table")
    cycle = find_cycle(edges)
    if cycle:
        print("FAIL layers/no-folder-cycles: %s" % " -> ".join(cycle))
        status = 1
    else:
        print("PASS layers/no-folder-cycles")
    return status


if __name__ == "__main__":
    sys.exit(main())
