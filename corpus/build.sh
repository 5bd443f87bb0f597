#!/usr/bin/env bash
# Rebuild every corpus/build/NAME.bpf.o from corpus/src/{safe,unsafe}/NAME.bpf.c.
#
# The objects are committed, so tests never need clang. Rebuild them with the
# pinned toolchain (Debian bookworm's clang 14) so the bytes stay identical:
# -fdebug-prefix-map rewrites the working directory recorded by -g to ".", and
# sources are passed by relative path, so no absolute path of the build
# machine ends up in DWARF or BTF.
set -euo pipefail

cd "$(dirname "$0")"

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "build.sh: error: '$CLANG' not found (apt-get install clang-14 libbpf-dev, or set CLANG=)" >&2
	exit 1
fi
if ! "$CLANG" --version | grep -q 'clang version 14\.'; then
	echo "build.sh: warning: $("$CLANG" --version | head -n1) is not clang 14; objects will differ from the committed ones" >&2
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
	echo "build.sh: error: /usr/include/bpf/bpf_helpers.h missing (apt-get install libbpf-dev)" >&2
	exit 1
fi

ARCH_INC="/usr/include/$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -I"$ARCH_INC" -fdebug-prefix-map="$PWD"=. -Wall -Werror -Wno-unused-variable)

mkdir -p build
shopt -s nullglob
declare -A seen=()
count=0
for src in src/safe/*.bpf.c src/unsafe/*.bpf.c; do
	name="$(basename "$src" .c)"
	if [ -n "${seen[$name]:-}" ]; then
		echo "build.sh: error: $src and ${seen[$name]} both build build/$name.o" >&2
		exit 1
	fi
	seen[$name]="$src"
	"$CLANG" "${CFLAGS[@]}" -c "$src" -o "build/$name.o"
	echo "  CC  $src -> build/$name.o"
	count=$((count + 1))
done

# Objects whose source is gone must not linger in build/.
for obj in build/*.o; do
	name="$(basename "$obj" .o)"
	if [ -z "${seen[$name]:-}" ]; then
		echo "build.sh: removing stale $obj" >&2
		rm -f "$obj"
	fi
done
echo "build.sh: built $count objects"
