#!/usr/bin/env python3
"""Test double for OpenWrt's `uci` CLI (the real one, libuci, does not build
or install on the build machine). It implements only what the package's
scripts use, with uci's observable behaviour:

  uci [-q] show CONFIG          exit 1 when CONFIG does not exist
  uci [-q] get CONFIG.SECTION[.OPTION]   SECTION may be @type[i] (i<0 from
                                the end); get of a section prints its type
  uci [-q] add CONFIG TYPE      prints the new anonymous section's id
  uci [-q] set CONFIG.SECTION.OPTION=VALUE
  uci [-q] commit [CONFIG]

Like uci, changes are staged (here in $UCI_FAKE_CONFDIR/.staged/) and only
written to the config file on commit; get sees staged changes. Every call
is appended to $UCI_FAKE_LOG (one line, arguments joined by spaces), so a
test can tell which configs were touched.
"""

import json
import os
import re
import shlex
import sys
import zlib

CONFDIR = os.environ.get("UCI_FAKE_CONFDIR", "/etc/config")
STAGED = os.path.join(CONFDIR, ".staged")


def parse(text):
    """UCI file -> list of sections {type, name, anonymous, options: {k: str|list}}."""
    sections = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        if not words:
            continue
        kw = words[0]
        if kw == "package":
            continue
        if kw == "config":
            sec = {"type": words[1], "name": None, "options": {}}
            if len(words) > 2:
                sec["name"] = words[2]
            sections.append(sec)
        elif kw in ("option", "list"):
            if not sections or len(words) < 3:
                raise ValueError(f"line {lineno}: {raw!r}")
            opts = sections[-1]["options"]
            if kw == "option":
                opts[words[1]] = words[2]
            else:
                opts.setdefault(words[1], [])
                if not isinstance(opts[words[1]], list):
                    raise ValueError(f"line {lineno}: list after option {words[1]}")
                opts[words[1]].append(words[2])
        else:
            raise ValueError(f"line {lineno}: unknown keyword {kw!r}")
    return sections


def quote(v):
    return "'" + v.replace("'", "'\\''") + "'"


def serialize(sections):
    out = []
    for sec in sections:
        head = f"config {sec['type']}"
        if sec["name"] and not sec.get("anonymous"):
            head += f" {quote(sec['name'])}"
        out.append(head)
        for k, v in sec["options"].items():
            if isinstance(v, list):
                out.extend(f"\tlist {k} {quote(x)}" for x in v)
            else:
                out.append(f"\toption {k} {quote(v)}")
        out.append("")
    return "\n".join(out)


def load(config):
    """Sections of CONFIG (staged if there are uncommitted changes), or None."""
    staged = os.path.join(STAGED, config + ".json")
    if os.path.exists(staged):
        with open(staged) as fh:
            return json.load(fh)
    path = os.path.join(CONFDIR, config)
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        sections = parse(fh.read())
    for i, sec in enumerate(sections):
        if sec["name"] is None:
            sec["name"] = f"cfg{i + 1:02x}{zlib.crc32(sec['type'].encode()) % 0x10000:04x}"
            sec["anonymous"] = True
    return sections


def stage(config, sections):
    os.makedirs(STAGED, exist_ok=True)
    with open(os.path.join(STAGED, config + ".json"), "w") as fh:
        json.dump(sections, fh)


def find(sections, ref):
    m = re.fullmatch(r"@([A-Za-z0-9_]+)\[(-?\d+)\]", ref)
    if m:
        typed = [s for s in sections if s["type"] == m.group(1)]
        idx = int(m.group(2))
        try:
            return typed[idx] if idx >= -len(typed) else None
        except IndexError:
            return None
    return next((s for s in sections if s["name"] == ref), None)


def main(argv):
    with open(os.environ.get("UCI_FAKE_LOG", os.devnull), "a") as log:
        log.write(" ".join(argv) + "\n")
    quiet = False
    while argv and argv[0].startswith("-"):
        if argv[0] == "-q":
            quiet = True
        else:
            return fail(f"fake uci: unsupported flag {argv[0]}", quiet)
        argv = argv[1:]
    if not argv:
        return fail("fake uci: no command", quiet)
    cmd, args = argv[0], argv[1:]

    if cmd == "show":
        sections = load(args[0])
        if sections is None:
            return fail("uci: Entry not found", quiet)
        for s in sections:
            print(f"{args[0]}.{s['name']}={s['type']}")
        return 0

    if cmd == "get":
        parts = args[0].split(".", 2)
        sections = load(parts[0]) if len(parts) >= 2 else None
        sec = find(sections, parts[1]) if sections is not None else None
        if sec is None:
            return fail("uci: Entry not found", quiet)
        if len(parts) == 2:
            print(sec["type"])
            return 0
        val = sec["options"].get(parts[2])
        if val is None:
            return fail("uci: Entry not found", quiet)
        print(" ".join(val) if isinstance(val, list) else val)
        return 0

    if cmd == "add":
        config, typ = args
        sections = load(config)
        if sections is None:
            return fail("uci: Entry not found", quiet)
        name = f"cfg{len(sections) + 1:02x}{zlib.crc32(typ.encode()) % 0x10000:04x}"
        sections.append({"type": typ, "name": name, "anonymous": True, "options": {}})
        stage(config, sections)
        print(name)
        return 0

    if cmd == "set":
        path, sep, value = args[0].partition("=")
        parts = path.split(".")
        if not sep or len(parts) != 3:
            return fail("fake uci: only CONFIG.SECTION.OPTION=VALUE is supported", quiet)
        sections = load(parts[0])
        sec = find(sections, parts[1]) if sections is not None else None
        if sec is None:
            return fail("uci: Entry not found", quiet)
        sec["options"][parts[2]] = value
        stage(parts[0], sections)
        return 0

    if cmd == "commit":
        if args:
            configs = args
        elif os.path.isdir(STAGED):
            configs = [f[: -len(".json")] for f in os.listdir(STAGED)]
        else:
            configs = []
        for config in configs:
            staged = os.path.join(STAGED, config + ".json")
            if not os.path.exists(staged):
                continue
            with open(staged) as fh:
                sections = json.load(fh)
            with open(os.path.join(CONFDIR, config), "w") as fh:
                fh.write(serialize(sections))
            os.remove(staged)
        return 0

    return fail(f"fake uci: unsupported command {cmd}", quiet)


def fail(msg, quiet):
    if not quiet:
        print(msg, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
