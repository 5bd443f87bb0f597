#!/usr/bin/env python3
"""Load the programs of an object with legacy SEC("maps") map definitions.

libbpf 1.x (and so bpftool 7.x) refuses `struct bpf_map_def` maps, so this is
a minimal loader for exactly that case: it creates each map with
BPF_MAP_CREATE, patches the 64-bit immediate loads that reference it into
BPF_PSEUDO_MAP_FD loads, and calls BPF_PROG_LOAD once per program with the
verifier log on. It supports nothing else (no BTF, no .data/.rodata/.bss, no
bpf-to-bpf calls, no CO-RE) and says so instead of guessing.

Usage: legacy_load.py [-v] OBJECT
Prints one line per program: "loads NAME" or "rejected NAME: <verifier error>".
Exit status: 0 all loaded, 1 some rejected, 2 could not try.
"""

import ctypes
import os
import platform
import re
import struct
import sys

SHT_SYMTAB, SHT_REL = 2, 9
SHF_EXECINSTR = 0x4
STT_FUNC, STB_GLOBAL = 2, 1
BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
BPF_PSEUDO_MAP_FD = 1
LOG_SIZE = 1 << 20

# Section-name prefixes -> BPF_PROG_TYPE_* (include/uapi/linux/bpf.h).
PROG_TYPES = [
    ("socket", 1),
    ("kprobe/", 2), ("kretprobe/", 2),
    ("classifier", 3), ("tc", 3),
    ("tracepoint/", 5),
    ("xdp", 6),
    ("cgroup_skb/", 8),
]
EXPECTED_ATTACH = {"cgroup_skb/ingress": 0, "cgroup_skb/egress": 1}
SYSCALL_BPF = {"x86_64": 321, "aarch64": 280}


class Unsupported(Exception):
    pass


class Elf:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise Unsupported("not a 64-bit little-endian ELF file")
        self.data = data
        (shoff,) = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        self.sections = []
        for i in range(shnum):
            f = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
            self.sections.append(
                dict(name_off=f[0], type=f[1], flags=f[2], offset=f[4], size=f[5],
                     link=f[6], info=f[7]))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s["name"] = self.cstr(strtab["offset"] + s["name_off"])
        self.symbols = []
        for s in self.sections:
            if s["type"] != SHT_SYMTAB:
                continue
            names = self.sections[s["link"]]
            for off in range(s["offset"], s["offset"] + s["size"], 24):
                name, info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
                self.symbols.append(dict(name=self.cstr(names["offset"] + name), info=info,
                                         shndx=shndx, value=value, size=size))

    def cstr(self, off):
        return self.data[off:self.data.index(b"\0", off)].decode()

    def body(self, sec):
        return self.data[sec["offset"]:sec["offset"] + sec["size"]]

    def index(self, name):
        for i, s in enumerate(self.sections):
            if s["name"] == name:
                return i
        return None


_INSN = re.compile(r"^\d+: \(")
_NOISE = re.compile(r"^(\s|; |mark_precise|last_idx|regs=|parent |from \d+ to|\d+: R\d|func#|Live regs|$)")


def verifier_error(log):
    """The verifier's own error message: the first line after the last
    echoed instruction that is not a register-state or source-line dump."""
    lines = log.splitlines()
    start = max((i for i, l in enumerate(lines) if _INSN.match(l)), default=-1) + 1
    for line in lines[start:]:
        line = line.split("verification time")[0].strip()
        if line and not _NOISE.match(line):
            return line
    return "no verifier message"


def has_legacy_maps(path):
    with open(path, "rb") as f:
        return Elf(f.read()).index("maps") is not None


def bpf(cmd, attr):
    libc = ctypes.CDLL(None, use_errno=True)
    nr = SYSCALL_BPF.get(platform.machine())
    if nr is None:
        raise Unsupported(f"bpf syscall number unknown for {platform.machine()}")
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    ret = libc.syscall(nr, cmd, buf, len(attr))
    if ret < 0:
        return -ctypes.get_errno()
    return ret


def create_maps(elf):
    idx = elf.index("maps")
    sec = elf.sections[idx]
    fds = {}
    for sym in elf.symbols:
        if sym["shndx"] != idx or sym["name"] == "":
            continue
        mtype, ksize, vsize, maxent, flags = struct.unpack_from(
            "<5I", elf.data, sec["offset"] + sym["value"])
        attr = bytearray(72)
        struct.pack_into("<5I", attr, 0, mtype, ksize, vsize, maxent, flags)
        attr[28:28 + 15] = sym["name"].encode()[:15].ljust(15, b"\0")
        fd = bpf(BPF_MAP_CREATE, attr)
        if fd < 0:
            raise Unsupported(f"BPF_MAP_CREATE {sym['name']}: {os.strerror(-fd)}")
        fds[sym["name"]] = fd
    return idx, fds


def programs(elf):
    for i, sec in enumerate(elf.sections):
        if not sec["flags"] & SHF_EXECINSTR or sec["name"] == ".text":
            continue
        for sym in elf.symbols:
            if sym["shndx"] == i and sym["info"] & 0xF == STT_FUNC and sym["info"] >> 4 == STB_GLOBAL:
                yield i, sec, sym
    for s in elf.sections:
        if s["name"] == ".text" and s["size"]:
            raise Unsupported(".text subprograms are not supported")


def load(elf, maps_idx, fds, sec_idx, sec, sym, verbose):
    insns = bytearray(elf.body(sec)[sym["value"]:sym["value"] + sym["size"]])
    for rel in elf.sections:
        if rel["type"] != SHT_REL or rel["info"] != sec_idx:
            continue
        for off in range(rel["offset"], rel["offset"] + rel["size"], 16):
            r_off, r_info = struct.unpack_from("<QQ", elf.data, off)
            if not sym["value"] <= r_off < sym["value"] + sym["size"]:
                continue
            target = elf.symbols[r_info >> 32]
            if target["shndx"] != maps_idx:
                raise Unsupported(f"relocation against {target['name']!r} outside SEC(\"maps\")")
            pos = r_off - sym["value"]
            if insns[pos] != 0x18:
                raise Unsupported(f"map relocation on a non-ld_imm64 instruction at {pos // 8}")
            insns[pos + 1] = (BPF_PSEUDO_MAP_FD << 4) | (insns[pos + 1] & 0x0F)
            struct.pack_into("<i", insns, pos + 4, fds[target["name"]])
    for pc in range(0, len(insns), 8):
        if insns[pc] == 0x85 and insns[pc + 1] >> 4 == 1:
            raise Unsupported("bpf-to-bpf calls are not supported")

    ptype = next((t for p, t in PROG_TYPES if sec["name"].startswith(p)), None)
    if ptype is None:
        raise Unsupported(f"unknown program type for section {sec['name']!r}")
    lic_idx = elf.index("license")
    license_ = ctypes.create_string_buffer(
        elf.body(elf.sections[lic_idx]) if lic_idx is not None else b"GPL")
    code = ctypes.create_string_buffer(bytes(insns), len(insns))
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = bytearray(128)
    struct.pack_into("<IIQQIIQ", attr, 0, ptype, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(license_), 2 if verbose else 1, LOG_SIZE,
                     ctypes.addressof(log))
    attr[48:48 + 15] = sym["name"].encode()[:15].ljust(15, b"\0")
    struct.pack_into("<I", attr, 68, EXPECTED_ATTACH.get(sec["name"], 0))
    fd = bpf(BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace")
    if fd >= 0:
        os.close(fd)
        return True, text
    return False, text or os.strerror(-fd)


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    try:
        with open(args[0], "rb") as f:
            elf = Elf(f.read())
        if elf.index("maps") is None:
            raise Unsupported("object has no SEC(\"maps\"); use bpftool")
        maps_idx, fds = create_maps(elf)
        status = 0
        for sec_idx, sec, sym in list(programs(elf)):
            ok, log = load(elf, maps_idx, fds, sec_idx, sec, sym, verbose)
            if verbose:
                print(log, file=sys.stderr)
            if ok:
                print(f"loads {sym['name']}")
            else:
                print(f"rejected {sym['name']}: {verifier_error(log)}")
                status = 1
        return status
    except (Unsupported, OSError) as e:
        print(f"legacy_load.py: cannot load {args[0]}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
