#!/usr/bin/env python3
"""Keeps one rule for every environment variable khub reads (docs/environment.md). Fails when
  - a variable read in src/, include/ or kernels/ has no row in one of docs/environment.md's
    tables (a row: | `NAME` | default | what it does | for |, all four cells filled);
  - getenv is called anywhere but the one reader (src/core/env.cc; kernels/common/khub_env.h for
    the kernels, which cannot link khub's core), whatever the variable: KHUB_*, HF_*, HOME, PATH;
  - a reader is called with a name that is not a string literal, outside the few wrappers that
    forward a literal of their own (env_ms in src/hub/http/http_client.cc), so no read hides;
  - a table row names a variable that nothing reads any more (src/, include/, kernels/, scripts/).
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
READERS = {os.path.join("src", "core", "env.cc"), os.path.join("kernels", "common", "khub_env.h")}
# Files that define a wrapper taking the variable's name (its callers pass literals, matched below).
WRAPPERS = {os.path.join("src", "hub", "http", "http_client.cc")}
GETTERS = r"(?:env::(?:get|raw|string|flag|integer|number)|khub_env::(?:get|flag|integer)|env_ms)"
READ = re.compile(GETTERS + r'\(\s*"([A-Z][A-Z0-9_]*)"')
READ_NON_LITERAL = re.compile(GETTERS + r'\(\s*(?!")(?!\))')
# Inside the readers themselves: get("HOME"), raw("PATH"), ...
READER_READ = re.compile(r'\b(?:get|raw|string|flag|integer|number)\(\s*"([A-Z][A-Z0-9_]*)"')
GETENV = re.compile(r"\b(?:secure_)?getenv\s*\(")
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$")


def documented_rows(docs):
    """The variables of the docs' table rows, and the problems of rows with an empty cell."""
    rows, bad = {}, []
    for n, line in enumerate(docs.splitlines(), 1):
        m = ROW.match(line)
        if not m:
            continue
        cells = [c.strip() for c in m.group(2).split("|")]
        if len(cells) != 3 or not all(cells):
            bad.append(f"docs/environment.md:{n}: the row of {m.group(1)} needs a default, what it "
                       f"does and who it is for")
        rows[m.group(1)] = n
    return rows, bad


def sources(*tops, exts=(".h", ".cc", ".cu", ".cuh")):
    for top in tops:
        for dirpath, _, filenames in os.walk(os.path.join(ROOT, top)):
            for f in sorted(filenames):
                if f.endswith(exts):
                    path = os.path.join(dirpath, f)
                    yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read()


def main():
    docs = open(os.path.join(ROOT, "docs", "environment.md"), encoding="utf-8").read()
    rows, bad = documented_rows(docs)
    read = set()
    for rel, text in sources("src", "include", "kernels"):
        names = set(READ.findall(text))
        if rel in READERS:
            names |= set(READER_READ.findall(text))
        else:
            for m in GETENV.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{rel}:{line}: calls getenv: read the variable through core/env.h "
                           f"(kernels: kernels/common/khub_env.h)")
            if rel not in WRAPPERS:
                for m in READ_NON_LITERAL.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    bad.append(f"{rel}:{line}: reads a variable whose name is not a string literal")
        for name in sorted(names):
            if name not in rows:
                bad.append(f"{rel}: reads {name}, which has no row in docs/environment.md")
        read |= names
    # Scripts read variables too (KHUB_SIGNING_KEY); a documented name must appear somewhere.
    mentioned = set(read)
    for rel, text in sources("src", "include", "kernels", "scripts", exts=(".sh", ".py")):
        if rel != os.path.relpath(os.path.abspath(__file__), ROOT):
            mentioned |= set(re.findall(r"\b[A-Z][A-Z0-9_]*\b", text))
    for name, n in sorted(rows.items(), key=lambda kv: kv[1]):
        if name not in mentioned:
            bad.append(f"docs/environment.md:{n}: {name} has a row but nothing reads it")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
