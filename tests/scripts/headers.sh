#!/bin/sh
# Each installed public header compiles alone, as C11 and as C++ (as
# libgit2's headertest): it includes what it needs and nothing leaks.
#   tests/scripts/headers.sh BUILD_DIR
set -eu
build=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/lvheaders-XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
inc=$work/prefix/include
n=0
bad=0
for h in $(cd "$inc" && find licvault -name '*.h' | sort); do
	printf '#include <%s>\n#include <%s>\nint lv_headertest_main(void);\nint lv_headertest_main(void) { return 0; }\n' "$h" "$h" >"$work/t.c"
	if ! cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wmissing-prototypes \
		-I"$inc" -c "$work/t.c" -o "$work/t.o" 2>"$work/err"; then
		echo "headers: $h does not compile alone as C11:"
		cat "$work/err"
		bad=1
	fi
	if command -v c++ >/dev/null; then
		cp "$work/t.c" "$work/t.cc"
		if ! c++ -std=c++11 -Wall -Wextra -Werror -I"$inc" -c "$work/t.cc" -o "$work/t.o" 2>"$work/err"; then
			echo "headers: $h does not compile alone as C++:"
			cat "$work/err"
			bad=1
		fi
	fi
	n=$((n + 1))
done
[ $n -gt 0 ] || { echo "headers: nothing installed under $inc"; exit 1; }
[ $bad = 0 ] && echo "headers: $n installed headers compile alone"
exit $bad
