#!/usr/bin/env python3
"""Fails when a source or document cites a section of docs/design.md that is not there.

A citation is "docs/design.md §N" (a numbered heading "## N." or "### N.M"), a list or range after
it ("docs/design.md §3–§6", "§1, §8"), or "docs/design.md §name" for an anchor <a id="name"></a>
in docs/design.md. The old "DESIGN §N" / "DESIGN.md §N" form, which pointed at no file of this
repository, is an error wherever it appears. Run from anywhere; exits 1 listing every bad cite.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DESIGN = os.path.join(ROOT, "docs", "design.md")
SKIP_DIRS = {".git", "build", ".testdata", "node_modules", "third_party", "fixtures"}  # fixtures: data
EXTS = (".h", ".cc", ".cu", ".cuh", ".md", ".txt", ".py", ".sh", ".cmake", ".toml")

CITE = re.compile(r"docs/design\.md\s+(§[\w.]+(?:\s*(?:–|-|,|and)\s*§[\w.]+)*)")
SECTION = re.compile(r"§([\w.]+)")
OLD = re.compile(r"\bDESIGN(?:\.md)?\s+§")


def known_sections(text):
    numbered = set(re.findall(r"^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", text, re.M))
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    return numbered, anchors


def files():
    for top in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, top)
        if os.path.isfile(path):
            if top.endswith(EXTS) or top == "CMakeLists.txt":
                yield path
            continue
        if top in SKIP_DIRS or not os.path.isdir(path):
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for f in filenames:
                if f.endswith(EXTS) or f == "CMakeLists.txt":
                    yield os.path.join(dirpath, f)


def main():
    numbered, anchors = known_sections(open(DESIGN, encoding="utf-8").read())
    me = os.path.abspath(__file__)
    bad = []
    for path in files():
        if os.path.abspath(path) == me:
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        rel = os.path.relpath(path, ROOT)
        for lineno, line in enumerate(text.splitlines(), 1):
            if OLD.search(line):
                bad.append(f"{rel}:{lineno}: cites DESIGN §, which is no file here: "
                           f"cite docs/design.md §N")
            for m in CITE.finditer(line):
                for sec in SECTION.findall(m.group(1)):
                    sec = sec.rstrip(".")
                    if sec not in numbered and sec not in anchors:
                        bad.append(f"{rel}:{lineno}: docs/design.md has no section §{sec}")
    for b in bad:
        print(b)
    if not numbered:
        print("docs/design.md: no numbered sections found")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
