#!/usr/bin/env bash
# Load every program in manifest.toml with the running kernel's verifier and
# compare with the recorded `linux` / `linux_strict` verdicts.
# Needs root, bpftool, setpriv (util-linux) and python3 >= 3.11; skips with a
# message (exit 0) when any is missing, so it is safe to call anywhere.
# Usage: ./check-linux.sh [-v] [--json FILE] [OBJECT-NAME ...]
set -euo pipefail

cd "$(dirname "$0")"

skip() {
	echo "check-linux.sh: skipped: $*"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "not root (loading BPF programs needs CAP_BPF/CAP_SYS_ADMIN)"
command -v bpftool >/dev/null 2>&1 || skip "bpftool not installed (apt-get install bpftool)"
command -v setpriv >/dev/null 2>&1 || skip "setpriv not installed (apt-get install util-linux)"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
python3 -c 'import tomllib' 2>/dev/null || skip "python3 has no tomllib (needs 3.11+)"
[ -e /sys/fs/bpf ] || skip "/sys/fs/bpf does not exist (no bpffs support)"

exec python3 tools/check_linux.py "$@"
