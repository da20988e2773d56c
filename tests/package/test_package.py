#!/usr/bin/env python3
"""Checks of the OpenWrt packaging (tests/package/run.sh runs this).

They look at what `make package` put into dist/ (the nft-offload ipk of every
target built there, at least aarch64, and the LuCI ipk when luci-app/htdocs
exists), and at the scripts in files/ as OpenWrt runs them: under busybox sh
(OpenWrt's ash), in staging roots, never on the host's /etc.

Test doubles, because the real things do not exist on the build machine:
fake_uci.py for OpenWrt's uci CLI; stub procd functions and a stub `ubus`
for the init script; a stub SDK (rules.mk, package.mk, rust-package.mk) to
evaluate openwrt/nft-offload/Makefile.

The last line printed is "N passed, N failed, N skipped".
"""

import gzip
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DIST = Path(os.environ.get("DIST", REPO / "dist"))
if not DIST.is_absolute():
    DIST = REPO / DIST
sys.path.insert(0, str(HERE))
import fake_uci  # noqa: E402

BUSYBOX = shutil.which("busybox")
TESTS = []


class Skip(Exception):
    pass


def test(fn):
    TESTS.append(fn)
    return fn


def sh(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(list(args), **kw)


def ash():
    """The shell OpenWrt runs scripts with: busybox ash when available."""
    return [BUSYBOX, "sh"] if BUSYBOX else ["sh"]


# ---------------------------------------------------------------- the ipk

def cargo_version():
    m = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    return m.group(1)


def makefile_var(name):
    text = (REPO / "openwrt/nft-offload/Makefile").read_text()
    m = re.search(rf"^{name}:=(.*)$", text, re.M)
    return m.group(1).strip() if m else None


FULL_VERSION = f"{cargo_version()}-{makefile_var('PKG_RELEASE')}"
ARCH_FILE_WORDS = {  # what file(1) says for each OpenWrt arch
    "x86_64": "x86-64",
    "aarch64_cortex-a53": "ARM aarch64",
    "arm_cortex-a7_neon-vfpv4": "ARM, EABI5",
    "mipsel_24kc": "MIPS, MIPS32",
}


class Ipk:
    def __init__(self, path):
        self.path = Path(path)
        self.raw = self.path.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(self.raw), mode="r:gz") as outer:
            self.outer = [(m.name, outer.extractfile(m).read()) for m in outer.getmembers()]
        parts = dict(self.outer)
        self.control = self._members(parts["./control.tar.gz"])
        self.data = self._members(parts["./data.tar.gz"])
        self.fields = {}
        key = None
        for line in self.control["./control"][1].decode().splitlines():
            if line.startswith(" ") and key:
                self.fields[key] += "\n" + line[1:]
            else:
                key, _, value = line.partition(": ")
                self.fields[key] = value

    @staticmethod
    def _members(blob):
        out = {}
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m) if m.isfile() else None
                out[m.name] = (m, f.read() if f else None)
        return out

    def extract_data(self, root):
        with tarfile.open(fileobj=io.BytesIO(dict(self.outer)["./data.tar.gz"]), mode="r:gz") as tar:
            tar.extractall(root, filter="tar") if hasattr(tarfile, "data_filter") else tar.extractall(root)

    def file(self, path):
        return self.data["." + path][1]


def nft_ipks():
    found = sorted(DIST.glob(f"nft-offload_{FULL_VERSION}_*.ipk"))
    if not any("aarch64" in p.name for p in found):
        raise AssertionError(f"no aarch64 ipk for {FULL_VERSION} in {DIST}: run make package-aarch64")
    return [Ipk(p) for p in found]


EXPECTED_DATA = {
    "./usr/sbin/nftoffload": 0o755,
    "./etc/init.d/nftoffload": 0o755,
    "./etc/config/nftoffload": 0o600,
    "./etc/uci-defaults/80_nftoffload": 0o755,
    "./usr/share/acl.d/nftoffload.json": 0o644,
}


@test
def ipk_outer_layout_is_what_opkg_reads():
    for ipk in nft_ipks():
        assert ipk.raw[:2] == b"\x1f\x8b", f"{ipk.path.name}: outer archive is not gzip"
        names = [n for n, _ in ipk.outer]
        assert names == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"], names
        assert dict(ipk.outer)["./debian-binary"] == b"2.0\n"


@test
def control_fields_name_version_depends_and_arch():
    for ipk in nft_ipks():
        f = ipk.fields
        for key in ("Package", "Version", "Depends", "Source", "SourceName", "License",
                    "Section", "Architecture", "Installed-Size", "Description"):
            assert f.get(key), f"{ipk.path.name}: control field {key} missing or empty"
        assert f["Package"] == "nft-offload"
        assert f["Version"] == FULL_VERSION, f["Version"]
        deps = [d.strip() for d in f["Depends"].split(",")]
        for kmod in ("kmod-nft-offload", "kmod-nft-core", "kmod-nf-conntrack-netlink"):
            assert kmod in deps, f"Depends lacks {kmod}: {deps}"
        assert "libc" not in deps, "static binary must not depend on libc"
        assert ipk.path.name == f"nft-offload_{FULL_VERSION}_{f['Architecture']}.ipk"
        assert f["Architecture"] in ARCH_FILE_WORDS, f["Architecture"]
        size = sum(len(d) for m, d in ipk.data.values() if m.isfile())
        assert int(f["Installed-Size"]) == size, (f["Installed-Size"], size)


@test
def conffiles_and_maintainer_scripts():
    for ipk in nft_ipks():
        c = ipk.control
        assert c["./conffiles"][1] == b"/etc/config/nftoffload\n", c["./conffiles"][1]
        for name in ("./postinst", "./prerm", "./postrm"):
            m, body = c[name]
            assert stat.S_IMODE(m.mode) == 0o755, f"{name} mode {oct(m.mode)}"
            r = sh(*ash(), "-n", "-c", body.decode())
            assert r.returncode == 0, f"{name}: {r.stderr}"
        assert b"IPKG_INSTROOT" in c["./postinst"][1]


@test
def data_has_exactly_the_package_files_with_modes_and_root_owner():
    for ipk in nft_ipks():
        files = {n: stat.S_IMODE(m.mode) for n, (m, _) in ipk.data.items() if m.isfile()}
        assert files == EXPECTED_DATA, f"{ipk.path.name}: {files}"
        for name, (m, _) in ipk.data.items():
            assert m.uid == 0 and m.gid == 0, f"{name} owned by {m.uid}:{m.gid}"
            if m.isdir():
                assert stat.S_IMODE(m.mode) == 0o755, f"{name} mode {oct(m.mode)}"


@test
def acl_is_valid_json_granting_only_read_methods():
    for ipk in nft_ipks():
        acl = json.loads(ipk.file("/usr/share/acl.d/nftoffload.json"))
        assert "user" in acl or "group" in acl, "ubusd ignores an ACL without user or group"
        methods = acl["access"]["nftoffload"]["methods"]
        assert sorted(methods) == ["flows", "status"], methods
        assert "*" not in json.dumps(acl), "no wildcards: set/reload stay root-only"


@test
def default_config_has_globals_and_every_zone_off():
    for ipk in nft_ipks():
        sections = fake_uci.parse(ipk.file("/etc/config/nftoffload").decode())
        g = [s for s in sections if s["type"] == "globals"]
        assert len(g) == 1 and g[0]["name"] == "globals", sections
        assert g[0]["options"] == {"enabled": "1", "hw_check": "1"}, g[0]["options"]
        zones = {s["options"]["name"]: s["options"]["mode"] for s in sections if s["type"] == "zone"}
        assert zones == {"lan": "off", "wan": "off"}, zones


@test
def binary_is_static_for_the_labelled_arch():
    for ipk in nft_ipks():
        with tempfile.NamedTemporaryFile() as tmp:
            tmp.write(ipk.file("/usr/sbin/nftoffload"))
            tmp.flush()
            desc = sh("file", "-b", tmp.name).stdout
        assert "statically linked" in desc or "static-pie linked" in desc, desc
        assert ARCH_FILE_WORDS[ipk.fields["Architecture"]] in desc, desc


@test
def aarch64_binary_prints_its_version_under_qemu():
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    assert qemu, "qemu-aarch64-static missing: make package-deps"
    ipk = next(i for i in nft_ipks() if i.fields["Architecture"].startswith("aarch64"))
    with tempfile.TemporaryDirectory() as d:
        exe = Path(d) / "nftoffload"
        exe.write_bytes(ipk.file("/usr/sbin/nftoffload"))
        exe.chmod(0o755)
        r = sh(qemu, str(exe), "--version", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"nftoffload {cargo_version()}", r.stdout


@test
def unit_tests_pass_on_target_under_qemu():
    targets = os.environ.get("PACKAGE_TEST_TARGETS", "aarch64").split()
    for t in targets:
        r = sh(str(REPO / "scripts/package/unit-tests.sh"), t, cwd=REPO, timeout=3600)
        out = r.stdout + r.stderr
        assert r.returncode == 0, f"{t}: unit tests failed:\n{out[-3000:]}"
        results = re.findall(r"^test result: (\w+)\. (\d+) passed; (\d+) failed", out, re.M)
        assert results and all(ok == "ok" and failed == "0" for ok, _, failed in results), out[-3000:]
        assert sum(int(p) for _, p, _ in results) > 0, f"{t}: no unit test ran"


@test
def ipk_builder_is_reproducible():
    with tempfile.TemporaryDirectory() as d:
        stage = Path(d) / "stage"
        (stage / "etc/config").mkdir(parents=True)
        (stage / "etc/config/x").write_text("config x\n")
        outs = []
        for i, epoch in enumerate(("1700000000", "1700000000", "1800000000")):
            out = Path(d) / f"out{i}"
            r = sh(sys.executable, str(REPO / "scripts/package/mkipk.py"), "--root", str(stage),
                   "--out", str(out), "--control", "Package=x", "--control", "Version=1-1",
                   "--control", "Architecture=all", "--control", "Description=x",
                   "--conffile", "/etc/config/x", env={**os.environ, "SOURCE_DATE_EPOCH": epoch})
            assert r.returncode == 0, r.stderr
            outs.append((out / "x_1-1_all.ipk").read_bytes())
        assert outs[0] == outs[1], "same input, different ipk"
        assert outs[0] != outs[2], "SOURCE_DATE_EPOCH ignored"
        r = sh(sys.executable, str(REPO / "scripts/package/mkipk.py"), "--root", str(stage),
               "--out", d, "--control", "Package=x", "--control", "Version=1",
               "--control", "Architecture=all", "--control", "Description=x",
               "--conffile", "/etc/config/missing")
        assert r.returncode != 0, "a conffile that is not in the package must be refused"


@test
def versions_and_depends_agree_between_sdk_makefile_and_make_package():
    version = makefile_var("PKG_VERSION")
    assert version == cargo_version(), (version, cargo_version())
    # apk (25.12) versions: digits and dots, release as -rN; no letters or '-'.
    assert re.fullmatch(r"\d+(\.\d+)*", version), version
    assert re.fullmatch(r"\d+", makefile_var("PKG_RELEASE") or ""), makefile_var("PKG_RELEASE")
    text = (REPO / "openwrt/nft-offload/Makefile").read_text()
    m = re.search(r"DEPENDS:=\$\(RUST_ARCH_DEPENDS\)(.*)$", text, re.M)
    assert m, "DEPENDS must start with $(RUST_ARCH_DEPENDS)"
    sdk_deps = [d.lstrip("+") for d in m.group(1).split()]
    lib = (REPO / "scripts/package/lib.sh").read_text()
    ipk_deps = re.search(r'^NFT_DEPENDS="([^"]*)"', lib, re.M).group(1).split(", ")
    assert sdk_deps == ipk_deps, (sdk_deps, ipk_deps)


# ------------------------------------------------- installing into a root

def strace_writes(logdir, root, cwd):
    """Paths written (or exec'd) by the traced processes, from strace -ff logs."""
    writes, execs = [], []
    str_re = re.compile(r'"((?:[^"\\]|\\.)*)"')
    one_path = {"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "chmod", "fchmodat",
                "chown", "lchown", "fchownat", "truncate", "mknod", "mknodat", "utimensat",
                "creat", "setxattr", "lsetxattr", "removexattr"}
    two_paths = {"rename", "renameat", "renameat2", "link", "linkat"}
    for log in Path(logdir).iterdir():
        for line in log.read_text(errors="replace").splitlines():
            m = re.match(r"(\w+)\((.*)\)\s+=\s+(-?\d+|\?)", line)
            if not m or m.group(3) == "-1":
                continue  # a failed call (mkdir -p on an existing /tmp) changed nothing
            call, args, _ = m.groups()
            paths = str_re.findall(args)
            if call == "execve" and paths:
                execs.append(paths[0])
            elif call in ("open", "openat") and paths:
                if re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND", args):
                    writes.append(paths[0])
            elif call in one_path and paths:
                writes.append(paths[0])
            elif call in ("symlink", "symlinkat") and paths:
                writes.append(paths[-1])
            elif call in two_paths:
                writes.extend(paths)
    resolved = [os.path.normpath(p if p.startswith("/") else os.path.join(cwd, p)) for p in writes]
    outside = [p for p in resolved
               if p not in ("/dev/null", "/dev/tty") and not (p + "/").startswith(str(root) + "/")]
    return outside, execs


def staging_root(ipk, d):
    root = Path(d) / "root"
    root.mkdir()
    ipk.extract_data(root)
    scripts = Path(d) / "control"
    scripts.mkdir()
    for name in ("postinst", "prerm", "postrm"):
        (scripts / name).write_bytes(ipk.control["./" + name][1])
        (scripts / name).chmod(0o755)
    return root, scripts


def run_traced(script, root, d, extra_env=None):
    logdir = Path(d) / "strace"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "IPKG_INSTROOT": str(root), **(extra_env or {})}
    r = sh("strace", "-f", "-ff", "-qq", "-o", str(logdir / "t"), "-e", "trace=%file,%process",
           *ash(), str(script), cwd=str(root), env=env, timeout=60)
    outside, execs = strace_writes(logdir, root, str(root))
    return r, outside, execs


FORBIDDEN_EXEC = re.compile(r"(/etc/init\.d/|/etc/rc\.common|(^|/)(ubus|uci|kill|pidof|nftoffload|procd)$)")


@test
def postinst_in_staging_root_enables_service_there_and_touches_nothing_else():
    if not shutil.which("strace"):
        raise Skip("strace not installed")
    ipk = next(i for i in nft_ipks() if i.fields["Architecture"].startswith("aarch64"))
    with tempfile.TemporaryDirectory() as d:
        root, scripts = staging_root(ipk, d)
        r, outside, execs = run_traced(scripts / "postinst", root, d)
        assert r.returncode == 0, r.stderr
        assert not outside, f"postinst wrote outside the root: {outside}"
        bad = [e for e in execs if FORBIDDEN_EXEC.search(e)]
        assert not bad, f"postinst ran service commands on the host: {bad}"
        start = re.search(r"^START=(\d+)", (root / "etc/init.d/nftoffload").read_text(), re.M).group(1)
        link = root / f"etc/rc.d/S{start}nftoffload"
        assert link.is_symlink() and os.readlink(link) == "../init.d/nftoffload", "service not enabled in root"
        assert (root / "etc/uci-defaults/80_nftoffload").exists(), \
            "uci-defaults must stay for first boot in an image"


@test
def prerm_in_staging_root_disables_there_and_touches_nothing_else():
    if not shutil.which("strace"):
        raise Skip("strace not installed")
    ipk = next(i for i in nft_ipks() if i.fields["Architecture"].startswith("aarch64"))
    with tempfile.TemporaryDirectory() as d:
        root, scripts = staging_root(ipk, d)
        r, _, _ = run_traced(scripts / "postinst", root, d)
        assert r.returncode == 0, r.stderr
        assert list((root / "etc/rc.d").glob("S*nftoffload"))
        r, outside, execs = run_traced(scripts / "prerm", root, d)
        assert r.returncode == 0, r.stderr
        assert not outside, f"prerm wrote outside the root: {outside}"
        assert not [e for e in execs if FORBIDDEN_EXEC.search(e)], execs
        assert not list((root / "etc/rc.d").glob("[SK]*nftoffload")), "rc.d links left behind"


# ------------------------------------------------------- the init script

INIT = REPO / "files/etc/init.d/nftoffload"

HARNESS = r"""
# Test double for rc.common/procd: every procd call and `start` is logged.
log() { echo "$*" >> "$LOG"; }
procd_open_instance() { log procd_open_instance "$@"; }
procd_set_param() { log procd_set_param "$@"; }
procd_close_instance() { log procd_close_instance "$@"; }
procd_add_reload_trigger() { log procd_add_reload_trigger "$@"; }
start() { log start "$@"; }
. "$INIT"
[ -z "$STUB_PROG" ] || PROG="$STUBS/nftoffload"
"$@"
"""


def run_init(func, d, ubus_rc=0, stub_prog=False):
    d = Path(d)
    stubs = d / "stubs"
    stubs.mkdir(exist_ok=True)
    logf = d / "log"
    logf.write_text("")
    for name, rc in (("ubus", ubus_rc), ("nftoffload", 0)):
        p = stubs / name
        p.write_text(f'#!/bin/sh\necho "{name} $*" >> "$LOG"\nexit {rc}\n')
        p.chmod(0o755)
    harness = d / "harness.sh"
    harness.write_text(HARNESS)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "LOG": str(logf), "INIT": str(INIT), "STUBS": str(stubs),
           "STUB_PROG": "1" if stub_prog else ""}
    r = sh(*ash(), str(harness), func, env=env, timeout=30)
    return r, logf.read_text().splitlines()


@test
def init_script_parses_in_sh_and_ash():
    for shell in (["sh"], ash()):
        r = sh(*shell, "-n", str(INIT))
        assert r.returncode == 0, f"{shell}: {r.stderr}"
    assert INIT.read_text().startswith("#!/bin/sh /etc/rc.common\n")
    assert os.access(INIT, os.X_OK), "init script not executable"
    assert re.search(r"^USE_PROCD=1$", INIT.read_text(), re.M)


@test
def init_starts_after_the_firewall():
    start = int(re.search(r"^START=(\d+)$", INIT.read_text(), re.M).group(1))
    assert start > 19, f"START={start}: the firewall starts at 19"


@test
def init_reload_asks_the_daemon_over_ubus():
    with tempfile.TemporaryDirectory() as d:
        r, log = run_init("reload_service", d)
        assert r.returncode == 0, r.stderr
        assert log == ["ubus call nftoffload reload"], log


@test
def init_reload_starts_the_service_when_the_daemon_is_not_on_ubus():
    with tempfile.TemporaryDirectory() as d:
        r, log = run_init("reload_service", d, ubus_rc=4)
        assert r.returncode == 0, r.stderr
        assert log == ["ubus call nftoffload reload", "start"], log


@test
def init_start_runs_the_daemon_with_respawn():
    with tempfile.TemporaryDirectory() as d:
        r, log = run_init("start_service", d)
        assert r.returncode == 0, r.stderr
        assert log[0] == "procd_open_instance" and log[-1] == "procd_close_instance", log
        assert "procd_set_param command /usr/sbin/nftoffload daemon" in log, log
        assert any(l.startswith("procd_set_param respawn") for l in log), log


@test
def init_reloads_on_nftoffload_firewall_and_network_changes():
    with tempfile.TemporaryDirectory() as d:
        r, log = run_init("service_triggers", d)
        assert r.returncode == 0, r.stderr
        assert log == ["procd_add_reload_trigger nftoffload firewall network"], log


@test
def init_stop_removes_our_tables():
    with tempfile.TemporaryDirectory() as d:
        r, log = run_init("service_stopped", d, stub_prog=True)
        assert r.returncode == 0, r.stderr
        assert log == ["nftoffload flush"], log


# --------------------------------------------------- the uci-defaults script

UCI_DEFAULTS = REPO / "files/etc/uci-defaults/80_nftoffload"

FIREWALL = """config defaults
\toption input 'REJECT'
\toption forward 'REJECT'

config zone
\toption name 'lan'
\tlist network 'lan'
\toption input 'ACCEPT'

config zone
\toption name 'wan'
\tlist network 'wan'
\tlist network 'wan6'
\toption masq '1'

config zone 'guest_zone'
\toption name 'guest'
\tlist network 'guest'

config zone
\tlist network 'broken_no_name'

config forwarding
\toption src 'lan'
\toption dest 'wan'
"""

OURS = """config globals 'globals'
\toption enabled '1'
\toption hw_check '1'

config zone
\toption name 'lan'
\toption mode 'software'
"""


def run_uci_defaults(d, firewall=FIREWALL, ours=OURS):
    """Run the script as uci-defaults does, with the uci test double."""
    d = Path(d)
    confdir = d / "etc/config"
    confdir.mkdir(parents=True, exist_ok=True)
    if firewall is not None:
        (confdir / "firewall").write_text(firewall)
    if ours is not None:
        (confdir / "nftoffload").write_text(ours)
    stubs = d / "stubs"
    stubs.mkdir(exist_ok=True)
    uci = stubs / "uci"
    uci.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_uci.py"}" "$@"\n')
    uci.chmod(0o755)
    logf = d / "uci.log"
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "UCI_FAKE_CONFDIR": str(confdir), "UCI_FAKE_LOG": str(logf)}
    # OpenWrt: ( . ./script ) && rm -f script, in /etc/uci-defaults.
    r = sh(*ash(), "-c", '( . "$1" )', "uci-defaults", str(UCI_DEFAULTS), env=env, cwd=str(d), timeout=60)
    log = logf.read_text().splitlines() if logf.exists() else []
    return r, confdir, log


def zones_of(confdir):
    sections = fake_uci.parse((confdir / "nftoffload").read_text())
    return [(s["options"].get("name"), s["options"].get("mode")) for s in sections if s["type"] == "zone"]


@test
def uci_defaults_adds_off_sections_for_zones_without_one():
    with tempfile.TemporaryDirectory() as d:
        r, confdir, _ = run_uci_defaults(d)
        assert r.returncode == 0, r.stderr
        assert zones_of(confdir) == [("lan", "software"), ("wan", "off"), ("guest", "off")], zones_of(confdir)
        globals_ = [s for s in fake_uci.parse((confdir / "nftoffload").read_text()) if s["type"] == "globals"]
        assert globals_ and globals_[0]["options"]["enabled"] == "1"


@test
def uci_defaults_never_writes_the_firewall_config():
    with tempfile.TemporaryDirectory() as d:
        r, confdir, log = run_uci_defaults(d)
        assert r.returncode == 0, r.stderr
        assert (confdir / "firewall").read_text() == FIREWALL, "firewall config changed"
        writes = [l for l in log if re.match(r"(-q )?(set|add|delete|rename|reorder|add_list|del_list|revert) firewall", l)
                  or re.match(r"(-q )?commit( firewall)?$", l)]
        assert not writes, writes
        assert not (confdir / ".staged/firewall.json").exists()


@test
def uci_defaults_is_idempotent():
    with tempfile.TemporaryDirectory() as d:
        r, confdir, _ = run_uci_defaults(d)
        assert r.returncode == 0, r.stderr
        first = (confdir / "nftoffload").read_text()
        (Path(d) / "uci.log").unlink()
        r, confdir, log = run_uci_defaults(d, firewall=None, ours=None)
        assert r.returncode == 0, r.stderr
        assert (confdir / "nftoffload").read_text() == first
        assert not [l for l in log if " add " in f" {l} " or "commit" in l], log


@test
def uci_defaults_without_firewall_config_does_nothing():
    with tempfile.TemporaryDirectory() as d:
        r, confdir, log = run_uci_defaults(d, firewall=None)
        assert r.returncode == 0, r.stderr
        assert (confdir / "nftoffload").read_text() == OURS
        assert not (confdir / "firewall").exists()


@test
def uci_defaults_fills_the_shipped_default_config():
    shipped = (REPO / "files/etc/config/nftoffload").read_text()
    with tempfile.TemporaryDirectory() as d:
        r, confdir, _ = run_uci_defaults(d, ours=shipped)
        assert r.returncode == 0, r.stderr
        assert zones_of(confdir) == [("lan", "off"), ("wan", "off"), ("guest", "off")], zones_of(confdir)


# ----------------------------------------------------------- LuCI app

@test
def luci_app_ipk():
    if not (REPO / "luci-app/htdocs").is_dir():
        raise Skip("luci-app/htdocs not present")
    path = DIST / f"luci-app-nftoffload_{FULL_VERSION}_all.ipk"
    assert path.exists(), f"{path.name} missing: make package-luci"
    ipk = Ipk(path)
    assert ipk.fields["Architecture"] == "all"
    assert "nft-offload" in [d.strip() for d in ipk.fields["Depends"].split(",")]
    files = [n for n, (m, _) in ipk.data.items() if m.isfile()]
    want = ["./www/" + str(p.relative_to(REPO / "luci-app/htdocs"))
            for p in (REPO / "luci-app/htdocs").rglob("*") if p.is_file()]
    assert sorted(want) == sorted(f for f in files if f.startswith("./www/")), files
    for name, (m, _) in ipk.data.items():
        assert m.uid == 0 and m.gid == 0
        if name.startswith("./www/") and m.isfile():
            assert stat.S_IMODE(m.mode) == 0o644, f"{name} mode {oct(m.mode)}"
        if name.endswith(".json"):
            json.loads(ipk.data[name][1])


# ------------------------------------------- the SDK Makefile (stub SDK)

STUB_RULES = r"""
# Test double for the SDK's rules.mk: the install commands OpenWrt defines.
INCLUDE_DIR:=$(TOPDIR)/include
CP:=cp -fpR
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
"""
STUB_PACKAGE = r"""
# Test double for the SDK's package.mk: BuildPackage reads the package
# definition; stub-* targets run or print what the SDK would.
PKG_BUILD_DIR:=$(STUB_OUT)/build
PKG_INSTALL_DIR:=$(PKG_BUILD_DIR)/ipkg-install
define BuildPackage
  $$(eval $$(Package/$(1)))
  STUB_DEPENDS:=$$(DEPENDS)
  STUB_CONFFILES:=$$(strip $$(Package/$(1)/conffiles))
endef
stub-vars:
	@echo 'RUSTFLAGS=$(CARGO_RUSTFLAGS)'
	@echo 'PKG_VARS=$(CARGO_PKG_VARS)'
	@echo 'DEPENDS=$(STUB_DEPENDS)'
	@echo 'CONFFILES=$(STUB_CONFFILES)'
	@echo 'BUILD_DEPENDS=$(PKG_BUILD_DEPENDS)'
stub-prepare:
	$(Build/Prepare)
stub-install:
	$(call Package/nft-offload/install,$(STUB_OUT)/root)
"""
STUB_RUST = r"""
# Test double for the packages feed's lang/rust/rust-package.mk: the parts
# the package Makefile relies on (dynamic linking and unwinding by default).
RUST_ARCH_DEPENDS:=@(aarch64||arm||mipsel||x86_64)
CARGO_RUSTFLAGS+=-Ctarget-feature=-crt-static
CARGO_PKG_VARS= RUSTFLAGS="$(CARGO_RUSTFLAGS)" CARGO_PROFILE_RELEASE_PANIC=unwind
define RustBinPackage
endef
"""


@test
def sdk_makefile_evaluates_and_installs_what_the_ipk_holds():
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        top, out = d / "sdk", d / "out"
        (top / "include").mkdir(parents=True)
        (top / "feeds/packages/lang/rust").mkdir(parents=True)
        (top / "rules.mk").write_text(STUB_RULES)
        (top / "include/package.mk").write_text(STUB_PACKAGE)
        (top / "feeds/packages/lang/rust/rust-package.mk").write_text(STUB_RUST)
        make = ["make", "-s", "-C", str(REPO / "openwrt/nft-offload"), f"TOPDIR={top}", f"STUB_OUT={out}"]
        r = sh(*make, "stub-vars")
        assert r.returncode == 0, r.stderr
        v = dict(l.split("=", 1) for l in r.stdout.splitlines())
        crt = re.findall(r"-Ctarget-feature=([+-])crt-static", v["RUSTFLAGS"])
        assert crt and crt[-1] == "+", f"not static: {v['RUSTFLAGS']}"
        panics = re.findall(r"CARGO_PROFILE_RELEASE_PANIC=(\w+)", v["PKG_VARS"])
        assert panics and panics[-1] == "abort", v["PKG_VARS"]
        deps = v["DEPENDS"].split()
        assert deps[0] == "@(aarch64||arm||mipsel||x86_64)", deps
        assert deps[1:] == ["+kmod-nft-offload", "+kmod-nft-core", "+kmod-nf-conntrack-netlink"], deps
        assert v["CONFFILES"] == "/etc/config/nftoffload", v["CONFFILES"]
        assert v["BUILD_DEPENDS"] == "rust/host"
        r = sh(*make, "stub-prepare")
        assert r.returncode == 0, r.stderr
        assert (out / "build/Cargo.lock").exists() and (out / "build/src/main.rs").exists()
        (out / "build/ipkg-install/bin").mkdir(parents=True)
        (out / "build/ipkg-install/bin/nftoffload").write_bytes(b"\x7fELF")
        r = sh(*make, "stub-install")
        assert r.returncode == 0, r.stderr
        installed = {"./" + str(p.relative_to(out / "root")): stat.S_IMODE(p.stat().st_mode)
                     for p in (out / "root").rglob("*") if p.is_file()}
        assert installed == EXPECTED_DATA, installed
        for path in EXPECTED_DATA:
            if path != "./usr/sbin/nftoffload":
                assert (out / "root" / path).read_bytes() == (REPO / "files" / path).read_bytes(), path


# ------------------------------------------------------------------ runner

def main():
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for fn in TESTS:
        if only and not any(o in fn.__name__ for o in only):
            continue
        try:
            fn()
        except Skip as e:
            skipped += 1
            print(f"skip - {fn.__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print(f"FAIL - {fn.__name__}: {detail}")
        else:
            passed += 1
            print(f"ok - {fn.__name__}")
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
