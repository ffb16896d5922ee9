#!/usr/bin/env python3
"""The khub CLI against its own definitions (src/cli/spec.h, docs/cli.md).

Usage: cli_definitions_test.py KHUB SOURCE_DIR

- `khub help --json` is the definitions; every command's `--help` and `-h` (exit 0, same text on
  stdout) lists exactly those options, each with its type, its default and one example;
- every option a command's source reads (args.has/get/... in src/cli/*.cc) is declared;
- a mistyped option or command names the nearest valid one; exit codes are 0 ok, 1 failure, 2 usage;
- the bash completion script, run in bash, completes commands, options and choices, and the zsh
  one names every option of every command.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

KHUB, SRC = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(*args, env=None):
    p = subprocess.run([KHUB, *args], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


rc, out, err = run("help", "--json")
assert rc == 0, err
defs = json.loads(out)
by_name = {d["name"]: d for d in defs}
for must in ["generate", "train", "bench", "bench decode", "bench train", "serve", "download"]:
    check(must in by_name, f"definition of {must}")

# 1. --help and -h against the definitions.
TYPES = {"flag", "text", "integer", "number", "list", "path", "choice"}
for d in defs:
    name = d["name"]
    rc, help_text, err = run(*name.split(), "--help")
    check(rc == 0, f"khub {name} --help exit {rc}: {err}")
    rc2, h_text, _ = run(*name.split(), "-h")
    check(rc2 == 0 and h_text == help_text, f"khub {name} -h differs from --help")
    check(help_text.startswith(f"usage: khub {name}"), f"khub {name} --help usage line")
    if d["subcommands"]:
        for s in d["subcommands"]:
            check(s.split()[-1] in help_text, f"khub {name} --help lists {s}")
        continue
    blocks = {}
    for m in re.finditer(r"^  --(\S+)[^\n]*\n((?:      [^\n]*\n)+)", help_text, re.M):
        blocks[m.group(1)] = m.group(2)
    declared = [o["name"] for o in d["options"]]
    check(len(declared) == len(set(declared)), f"khub {name}: an option declared twice")
    check(sorted(blocks) == sorted(declared),
          f"khub {name} --help lists {sorted(blocks)}, definition {sorted(declared)}")
    for o in d["options"]:
        b = blocks.get(o["name"], "")
        check(o["type"] in TYPES and re.search(rf"^      {o['type']}\b", b, re.M),
              f"khub {name} --{o['name']}: type {o['type']} in help")
        check(o["help"] and o["help"] in b, f"khub {name} --{o['name']}: description")
        if o["type"] == "flag":
            check("e.g. --" + o["name"] in b, f"khub {name} --{o['name']}: example")
            continue
        check(o["example"], f"khub {name} --{o['name']}: the definition has an example")
        check(f"e.g. --{o['name']} {o['example']}" in b, f"khub {name} --{o['name']}: example")
        if o["default"]:
            check(f"default {o['default']}" in b, f"khub {name} --{o['name']}: default")
        elif o["default_doc"] == "required":
            check(", required" in b, f"khub {name} --{o['name']}: required")
        else:
            check("default: " + (o["default_doc"] or "unset") in b,
                  f"khub {name} --{o['name']}: default in words")
        for c in o["choices"]:
            check(c in b, f"khub {name} --{o['name']}: choice {c}")
    for p in d["positionals"]:
        check(f"  {p['name']}" in help_text, f"khub {name} --help names {p['name']}")

# 2. Options read in the sources are declared by a definition in the same file; helpers without
# one (load_options.cc, train_common.cc) by some definition.
shared = {o["name"] for d in defs for o in d["options"]}
for fn in sorted(os.listdir(os.path.join(SRC, "src/cli"))):
    if not fn.endswith(".cc"):
        continue
    text = open(os.path.join(SRC, "src/cli", fn)).read()
    read = set(re.findall(r'args\.(?:has|get|get_int|get_double|get_or|get_int_or|get_double_or|all)'
                          r'\("([a-z0-9-]+)"', text))
    names = set(re.findall(r'\.name = "([a-z -]+)"', text))
    allowed = set()
    for n in names:
        allowed |= {o["name"] for o in by_name[n]["options"]} if n in by_name else set()
    if not names:
        allowed = shared
    for r in sorted(read - allowed):
        failures.append(f"{fn} reads --{r}, which no definition in it declares")

# 3. Nearest names and exit codes.
rc, out, err = run("generate", "--max-new-token", "3")
check(rc == 2 and "unknown option --max-new-token; did you mean --max-new-tokens?" in err,
      f"nearest option: rc {rc}, {err!r}")
check(out == "", "no stdout on a usage error")
rc, _, err = run("train", "--lerning-rate", "1")
check(rc == 2 and "unknown option --lerning-rate" in err and "khub train --help" in err,
      f"unknown option without a near one still points at --help: {err!r}")
rc, _, err = run("generat")
check(rc == 2 and "did you mean 'generate'?" in err, f"nearest command: {rc} {err!r}")
rc, _, err = run("bench", "decod")
check(rc == 2 and "did you mean 'bench decode'?" in err, f"nearest subcommand: {rc} {err!r}")
rc, _, err = run("generate", "--model")
check(rc == 2 and "option --model needs a value" in err, f"missing value: {rc} {err!r}")
rc, _, err = run("generate", "--model", "m", "--max-new-tokens", "lots")
check(rc == 2 and "option --max-new-tokens expects an integer, got 'lots'" in err,
      f"not an integer: {rc} {err!r}")
rc, _, err = run("versions", "a/b", "c/d")
check(rc == 2 and "unexpected argument 'c/d'" in err, f"extra positional: {rc} {err!r}")
rc, _, _ = run()
check(rc == 2, "khub without a command is a usage error")
rc, out, _ = run("--version")
check(rc == 0 and re.fullmatch(r"khub \d+\.\d+\.\d+\n", out), f"--version: {rc} {out!r}")
rc2, out2, _ = run("version")
check(rc2 == 0 and out2 == out, "khub version == khub --version")
rc, out, _ = run("--help")
check(rc == 0 and all(d["name"] in out for d in defs if " " not in d["name"]), "khub --help")
with tempfile.TemporaryDirectory() as t:
    rc, _, err = run("generate", "--model", os.path.join(t, "missing"), "--prompt-ids", "1")
    check(rc == 1 and "khub generate:" in err, f"a failure exits 1: {rc} {err!r}")

# 4. Completion scripts.
rc, bash_script, _ = run("completion", "bash")
check(rc == 0, "completion bash")
rc, zsh_script, _ = run("completion", "zsh")
check(rc == 0 and zsh_script.startswith("#compdef khub"), "completion zsh")
for d in defs:
    for o in d["options"]:
        check(f"--{o['name']}[" in zsh_script, f"zsh completion knows --{o['name']}")
with tempfile.NamedTemporaryFile("w", suffix=".zsh", delete=False) as f:
    f.write(zsh_script)
p = subprocess.run(["zsh", "-n", f.name], capture_output=True, text=True)
os.unlink(f.name)
check(p.returncode == 0, f"zsh -n on the zsh completion script: {p.stderr}")


def complete(*words):
    with tempfile.NamedTemporaryFile("w", suffix=".bash", delete=False) as f:
        f.write(bash_script)
    line = " ".join(["khub", *words])
    script = (f"source {f.name}; COMP_WORDS=(khub {' '.join(words)}); "
              f"COMP_CWORD={len(words)}; COMP_LINE='{line}'; _khub; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    os.unlink(f.name)
    return p.stdout.split()


check("generate" in complete("gen"), f"bash: commands {complete('gen')}")
check("--max-new-tokens" in complete("generate", "--max-new"), "bash: options")
check(complete("bench", "train", "--dtype", "b") == ["bf16"], "bash: choices")
check(complete("bench", "de") == ["decode"], "bash: subcommands")
check(complete("completion", "z") == ["zsh"], "bash: positional choices")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"ok: {len(defs)} command definitions, --help, nearest names, exit codes, completions")
