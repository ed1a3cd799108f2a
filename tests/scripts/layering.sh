#!/bin/sh
# The core's modules form one dependency order (docs/internals.md): a file
# of core/ includes, and calls, only modules before its own.  The order is
# the order of LV_CORE_MODULES in core/CMakeLists.txt.  Fails naming
# each file that includes or calls a module above it.
#   tests/scripts/layering.sh SOURCE_DIR OBJECT_DIR...
# (OBJECT_DIR: where the library's objects are: build/core/CMakeFiles/licvault_core.dir
# and build/core/CMakeFiles/licvault.dir)
set -eu
src=$1
shift
order=$(sed -n '/^set(LV_CORE_MODULES/,/)/p' "$src/core/CMakeLists.txt" |
	tr ' ()' '\n\n\n' | sed -n 's/\.c$//p')
[ -n "$order" ] || { echo "layering: no source list in core/CMakeLists.txt" >&2; exit 2; }
bad=0
ranks=$(echo "$order" | awk '{print $0, NR}')
# includes: "X.h" of core/ in every core/*.c and core/*.h
incs=$(awk -v ranks="$ranks" '
	BEGIN { n = split(ranks, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], p, " "); rank[p[1]] = p[2] } }
	FNR == 1 { f = FILENAME; sub(/.*\//, "", f); me = f; sub(/\.[ch]$/, "", me);
		if (!(me in rank)) print "layering: core/" f " is not a module listed in core/CMakeLists.txt" }
	/^#include "[a-z_]*\.h"/ { inc = $2; gsub(/"/, "", inc); sub(/\.h$/, "", inc);
		if ((inc in rank) && (me in rank) && rank[inc] > rank[me])
			print "layering: core/" f " includes " inc ".h, a module above it" }' "$src"/core/*.c "$src"/core/*.h)
if [ -n "$incs" ]; then
	echo "$incs"
	bad=1
fi
# calls: each object's undefined lv_ symbols, resolved to the object that defines them
calls=$(for o in $(for d in "$@"; do ls "$d"/*.o; done); do
	m=$(basename "$o" .c.o)
	nm "$o" | awk -v m="$m" '$NF ~ /^lv_/ { if ($1 == "U") print "U", m, $2; else if ($2 ~ /^[TDBR]$/) print "D", m, $3 }'
done | awk -v ranks="$ranks" '
	BEGIN { n = split(ranks, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], p, " "); rank[p[1]] = p[2] } }
	$1 == "D" { owner[$3] = $2; next }
	{ use[++k] = $2 " " $3 }
	END { for (i = 1; i <= k; i++) { split(use[i], u, " "); o = owner[u[2]];
		if (o != "" && rank[o] > rank[u[1]]) print "layering: core/" u[1] ".c calls " u[2] " of " o ", a module above it" } }')
if [ -n "$calls" ]; then
	echo "$calls"
	bad=1
fi
[ $bad = 0 ] && echo "layering: $(echo "$order" | wc -l) modules in order, no include or call goes up"
exit $bad
