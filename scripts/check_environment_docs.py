#!/usr/bin/env python3
"""Fails when an environment variable khub reads is missing from docs/environment.md, or when a
KHUB_* variable is read around the one reader (src/core/env.h; kernels/common/khub_env.h for the
kernels), which is what keeps one rule for every switch.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
READERS = {os.path.join("src", "core", "env.cc"), os.path.join("kernels", "common", "khub_env.h")}
READ = re.compile(r'\b(?:env::(?:get|raw|string|flag|integer|number)|khub_env::(?:get|flag|integer)'
                  r'|env_ms)\(\s*"([A-Z][A-Z0-9_]*)"')
GETENV = re.compile(r'getenv\(\s*"(KHUB_[A-Z0-9_]*)"')


def main():
    docs = open(os.path.join(ROOT, "docs", "environment.md"), encoding="utf-8").read()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", docs))
    bad = []
    for top in ("src", "include", "kernels"):
        for dirpath, _, filenames in os.walk(os.path.join(ROOT, top)):
            for f in filenames:
                if not f.endswith((".h", ".cc", ".cu", ".cuh")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                text = open(path, encoding="utf-8").read()
                for name in READ.findall(text):
                    if name not in documented:
                        bad.append(f"{rel}: reads {name}, which docs/environment.md does not list")
                if rel not in READERS:
                    for name in GETENV.findall(text):
                        bad.append(f"{rel}: getenv(\"{name}\"): read it through core/env.h "
                                   f"(kernels: kernels/common/khub_env.h)")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
