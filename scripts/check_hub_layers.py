#!/usr/bin/env python3
"""Fails when an #include inside src/hub runs from a lower layer to a higher one.

The layers, lowest first (src/hub/CMakeLists.txt): ref, source, store, http, and the hub's root
(get_kernel). A file may include its own layer and the ones below it, never one above.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HUB = os.path.join(ROOT, "src", "hub")
ORDER = ["ref", "source", "store", "http", ""]  # "" = src/hub itself
INCLUDE = re.compile(r'^\s*#\s*include\s+"hub/([^"]+)"', re.M)


def layer_of(rel):  # "store/publish.h" -> "store"; "get_kernel.h" -> ""
    head = rel.split("/")[0] if "/" in rel else ""
    return head if head in ORDER else None


def main():
    bad = []
    for dirpath, _, filenames in os.walk(HUB):
        for f in filenames:
            if not f.endswith((".h", ".cc")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, HUB)
            mine = layer_of(rel)
            if mine is None:
                bad.append(f"src/hub/{rel}: not in a known layer {ORDER[:-1]}")
                continue
            for inc in INCLUDE.findall(open(path, encoding="utf-8").read()):
                theirs = layer_of(inc)
                if theirs is None or ORDER.index(theirs) > ORDER.index(mine):
                    bad.append(f"src/hub/{rel} ({mine or 'hub'}) includes hub/{inc} "
                               f"({theirs or 'hub'}), a higher layer")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
