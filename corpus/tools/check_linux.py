#!/usr/bin/env python3
"""Ask the running kernel's verifier about every object in manifest.toml and
compare with the `linux` and `linux_strict` fields recorded there.

Two privilege levels are tried per object:
  linux         bpftool as full root (CAP_SYS_ADMIN, CAP_PERFMON, ...):
                pointer leaks, pointer comparisons and uninitialised stack
                reads are allowed, Spectre hardening is off.
  linux_strict  the same bpftool under `setpriv` without CAP_SYS_ADMIN and
                CAP_PERFMON (CAP_BPF and CAP_NET_ADMIN kept): the kernel then
                applies its unprivileged rules (no pointer leaks, no pointer
                comparisons, no uninitialised stack reads) plus Spectre v1/v4
                hardening. Tracing programs (kprobe, tracepoint) need
                CAP_PERFMON, so they are not checked at this level.

Objects with legacy SEC("maps") definitions, which libbpf 1.x refuses, go
through tools/legacy_load.py instead of bpftool.

Usage: check_linux.py [-v] [--json FILE] [OBJECT-NAME ...]
Exit status: 0 everything agrees, 1 some disagreement or load error, 2 usage.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib

sys.dont_write_bytecode = True  # leave no __pycache__ in the corpus
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from legacy_load import has_legacy_maps, verifier_error  # noqa: E402

CORPUS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPFFS = "/sys/fs/bpf"
NET_TYPES = {"xdp", "sched_cls", "socket_filter", "cgroup_skb"}
STRICT = ["setpriv", "--bounding-set=-sys_admin,-perfmon", "--inh-caps=-all", "--"]
TIMEOUT = 600


def bpffs_mounted():
    with open("/proc/mounts") as f:
        return any(l.split()[1] == BPFFS and l.split()[2] == "bpf" for l in f)


def load(obj, strict):
    """Returns (result, message): result is loads | rejected | error."""
    name = os.path.basename(obj).removesuffix(".o").removesuffix(".bpf")
    if has_legacy_maps(obj):
        cmd = [sys.executable, os.path.join(CORPUS, "tools", "legacy_load.py"), obj]
    else:
        pin = os.path.join(BPFFS, f"vouch_test_{name}")
        shutil.rmtree(pin, ignore_errors=True)
        cmd = ["bpftool", "-d", "prog", "loadall", obj, pin]
    if strict:
        cmd = STRICT + cmd
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "error", f"timed out after {TIMEOUT}s"
    finally:
        if not has_legacy_maps(obj):
            shutil.rmtree(pin, ignore_errors=True)
    out = p.stdout + p.stderr
    if p.returncode == 0:
        return "loads", ""
    if has_legacy_maps(obj):
        if p.returncode == 1:
            return "rejected", out.strip().splitlines()[-1].split(": ", 1)[-1]
        return "error", out.strip()
    begin = out.rfind("-- BEGIN PROG LOAD LOG --")
    if begin < 0:
        libbpf = [l for l in out.splitlines() if l.startswith(("libbpf:", "Error:"))]
        return "error", libbpf[-1] if libbpf else out.strip()[-200:]
    log = out[begin:out.find("-- END PROG LOAD LOG --", begin)]
    return "rejected", verifier_error(log)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every verifier message")
    ap.add_argument("--json", help="write the observed results to this file")
    ap.add_argument("objects", nargs="*", help="object names (e.g. xdp_drop_icmp) to check")
    args = ap.parse_args()

    with open(os.path.join(CORPUS, "manifest.toml"), "rb") as f:
        manifest = tomllib.load(f)["program"]
    by_object = {}
    for prog in manifest:
        by_object.setdefault(prog["object"], []).append(prog)
    listed = set(by_object)
    on_disk = {f"build/{n}" for n in os.listdir(os.path.join(CORPUS, "build")) if n.endswith(".o")}
    for missing in sorted(on_disk - listed):
        print(f"warning: {missing} is not in manifest.toml")
    for gone in sorted(listed - on_disk):
        print(f"error: {gone} is in manifest.toml but not built")

    mounted_here = False
    if not bpffs_mounted():
        subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS], check=True)
        mounted_here = True

    results, agree, disagree, skipped, errors = {}, 0, 0, 0, len(listed - on_disk)
    try:
        for obj in sorted(listed & on_disk):
            name = os.path.basename(obj).removesuffix(".bpf.o")
            if args.objects and name not in args.objects:
                continue
            progs = by_object[obj]
            path = os.path.join(CORPUS, obj)
            if all(p.get("linux") == "not-checked" for p in progs):
                observed = {"linux": ("not-checked", progs[0].get("linux_reason", ""))}
            else:
                observed = {"linux": load(path, strict=False)}
            if all(p["program_type"] in NET_TYPES for p in progs):
                observed["linux_strict"] = load(path, strict=True)
            else:
                observed["linux_strict"] = ("not-checked", "tracing program types need CAP_PERFMON")
            results[obj] = {k: {"result": r, "message": m} for k, (r, m) in observed.items()}
            for prog in progs:
                label = f"{obj} {prog['section']}/{prog['function']}"
                for field, (got, msg) in observed.items():
                    want = prog.get(field, "not-checked")
                    if got == "error":
                        errors += 1
                        print(f"ERROR     {label} {field}: {msg}")
                    elif want == "not-checked" or got == "not-checked":
                        skipped += 1
                    elif want == got:
                        agree += 1
                        if args.verbose:
                            print(f"ok        {label} {field}={got}" + (f" ({msg})" if msg else ""))
                    else:
                        disagree += 1
                        print(f"DISAGREE  {label} {field}: manifest says {want}, kernel {got}"
                              + (f" ({msg})" if msg else ""))
    finally:
        if mounted_here:
            subprocess.run(["umount", BPFFS], check=False)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    print(f"check-linux: kernel {os.uname().release}: {agree} agree, {disagree} disagree, "
          f"{skipped} not checked, {errors} errors")
    return 1 if disagree or errors else 0


if __name__ == "__main__":
    sys.exit(main())
