#!/usr/bin/env python3
"""Build an OpenWrt .ipk from a staged file tree, without the OpenWrt SDK.

An ipk as opkg reads it is a gzip-compressed tar holding, in this order,
./debian-binary ("2.0\n"), ./data.tar.gz and ./control.tar.gz, the same
layout OpenWrt's ipkg-build writes. control.tar.gz holds ./control,
./conffiles and the maintainer scripts; data.tar.gz holds the files with
paths relative to the root ("./usr/sbin/...").

The output is reproducible: every member gets the same mtime
(SOURCE_DATE_EPOCH, or --mtime), uid/gid 0 owned by root:root, members
sorted, and gzip headers without a name or time stamp.

Usage:
  mkipk.py --root STAGE --out DIR --control KEY=VALUE ... \
           [--conffile /etc/config/x ...] [--postinst FILE] [--prerm FILE]
The control fields Package, Version and Architecture are required; the
output file is DIR/<Package>_<Version>_<Architecture>.ipk.
"""

import argparse
import gzip
import io
import os
import stat
import sys
import tarfile

# Control fields in the order OpenWrt's ipkg-build writes them.
FIELD_ORDER = [
    "Package", "Version", "Depends", "Source", "SourceName", "License",
    "LicenseFiles", "Section", "SourceDateEpoch", "URL", "Maintainer",
    "Architecture", "Installed-Size", "Description",
]
REQUIRED = ("Package", "Version", "Architecture", "Description")


def gzip_bytes(data: bytes) -> bytes:
    """gzip without file name and with mtime 0, so equal input gives equal output."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def tar_info(name: str, mode: int, mtime: int, size: int = 0, kind=tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.size = size
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_tar(members, mtime: int) -> bytes:
    """members: list of (name, mode, bytes-or-None-for-dir, symlink-target-or-None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, mode, data, link in members:
            if link is not None:
                info = tar_info(name, 0o777, mtime, kind=tarfile.SYMTYPE)
                info.linkname = link
                tar.addfile(info)
            elif data is None:
                tar.addfile(tar_info(name, mode, mtime, kind=tarfile.DIRTYPE))
            else:
                tar.addfile(tar_info(name, mode, mtime, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def data_members(root: str):
    """Walk the staged root; return tar members and the installed size in bytes."""
    members = [("./", 0o755, None, None)]
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            rel = os.path.normpath(os.path.join(rel_dir, d))
            if os.path.islink(full):
                members.append(("./" + rel, 0o777, None, os.readlink(full)))
            else:
                members.append(("./" + rel + "/", stat.S_IMODE(os.stat(full).st_mode), None, None))
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            rel = os.path.normpath(os.path.join(rel_dir, f))
            if os.path.islink(full):
                members.append(("./" + rel, 0o777, None, os.readlink(full)))
                continue
            with open(full, "rb") as fh:
                data = fh.read()
            size += len(data)
            members.append(("./" + rel, stat.S_IMODE(os.stat(full).st_mode), data, None))
    members.sort(key=lambda m: m[0])
    return members, size


def control_text(fields: dict) -> str:
    lines = []
    keys = [k for k in FIELD_ORDER if k in fields] + sorted(k for k in fields if k not in FIELD_ORDER)
    for key in keys:
        value = fields[key]
        if key == "Description":
            # Continuation lines start with a space; empty lines become " ." as in Debian.
            first, *rest = value.split("\n")
            lines.append(f"Description: {first}")
            for line in rest:
                lines.append(" " + (line if line.strip() else "."))
        else:
            if "\n" in value:
                raise ValueError(f"control field {key} must be one line")
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="staged file tree (becomes data.tar.gz)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--control", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--conffile", action="append", default=[])
    ap.add_argument("--postinst")
    ap.add_argument("--prerm")
    ap.add_argument("--postrm")
    ap.add_argument("--mtime", type=int, default=None)
    args = ap.parse_args(argv)

    mtime = args.mtime
    if mtime is None:
        mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

    fields = {}
    for item in args.control:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--control needs KEY=VALUE, got {item!r}")
        fields[key] = value.replace("\\n", "\n")
    missing = [k for k in REQUIRED if not fields.get(k)]
    if missing:
        ap.error("missing control fields: " + ", ".join(missing))

    members, size = data_members(args.root)
    for conf in args.conffile:
        if not os.path.isfile(os.path.join(args.root, conf.lstrip("/"))):
            ap.error(f"conffile {conf} is not in {args.root}")
    fields["Installed-Size"] = str(size)

    control = [("./", 0o755, None, None),
               ("./control", 0o644, control_text(fields).encode(), None)]
    if args.conffile:
        control.append(("./conffiles", 0o644, ("\n".join(args.conffile) + "\n").encode(), None))
    for name in ("postinst", "prerm", "postrm"):
        path = getattr(args, name)
        if path:
            with open(path, "rb") as fh:
                control.append(("./" + name, 0o755, fh.read(), None))

    outer = [
        ("./debian-binary", 0o644, b"2.0\n", None),
        ("./data.tar.gz", 0o644, gzip_bytes(build_tar(members, mtime)), None),
        ("./control.tar.gz", 0o644, gzip_bytes(build_tar(control, mtime)), None),
    ]
    os.makedirs(args.out, exist_ok=True)
    name = f"{fields['Package']}_{fields['Version']}_{fields['Architecture']}.ipk"
    path = os.path.join(args.out, name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(gzip_bytes(build_tar(outer, mtime)))
    os.replace(tmp, path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
