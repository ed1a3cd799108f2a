#!/bin/sh
# Build the core's libFuzzer targets (clang, ASan + UBSan) and run each for a
# while.
#   tests/fuzz/core/run.sh [SECONDS] [TARGET...]
#     SECONDS  per target (default 60); TARGETs: manifest record license config uri (default all)
#   LV_FUZZ_BUILD  where to build and keep the grown corpus and crashes (default build-fuzz-core)
#   LV_FUZZ_ARGS   more libFuzzer options (e.g. -runs=2000)
#   LV_FUZZ_CANARY=1  also run a canary target that must crash (checks that a crash fails this script)
# Exits non-zero when a target crashes, leaks, times out or fails to build;
# the input that did it is kept in $LV_FUZZ_BUILD/crashes/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-manifest record license config uri}
out=${LV_FUZZ_BUILD:-$top/build-fuzz-core}
cc=${LV_FUZZ_CC:-clang}
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DLV_DRIVER_INSTALL_DIR=\"/nonexistent\" -I$top/core -I$top/include -I$top/drivers/common -w"
libs="-lsqlite3 -lz -linih -luriparser -lpthread -ldl"
mkdir -p "$out/obj" "$out/bin" "$out/crashes" "$out/corpus"

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "run.sh: $cc not found: the fuzz targets need clang with libFuzzer" >&2
	exit 125
fi

# the core, compiled once per change
objs=""
for src in "$top"/core/*.c; do
	o="$out/obj/$(basename "$src" .c).o"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find "$top/core" "$top/include" -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
		$cc $flags -fsanitize=fuzzer-no-link -c "$src" -o "$o" || { echo "run.sh: cannot compile $src" >&2; exit 1; }
	fi
	objs="$objs $o"
done

if [ "${LV_FUZZ_CANARY:-0}" = 1 ]; then
	targets="$targets canary"
	mkdir -p "$out/canary-seed"
	printf 'LVcrash' > "$out/canary-seed/seed"
fi

failed=0
for t in $targets; do
	bin="$out/bin/fuzz_$t"
	extra=""
	if ! $cc $flags -fsanitize=fuzzer "$here/fuzz_$t.c" $objs $extra $libs -o "$bin"; then
		echo "run.sh: cannot build fuzz_$t" >&2
		failed=1
		continue
	fi
	seeds="$here/corpus/$t"
	[ "$t" = canary ] && seeds="$out/canary-seed"
	mkdir -p "$out/corpus/$t"
	log="$out/fuzz_$t.log"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t-" ${LV_FUZZ_ARGS:-} "$out/corpus/$t" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs; see $log and $out/crashes/"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5
		failed=1
	else
		echo "fuzz_$t: clean, ${runs:-?} runs in ${secs}s, ${cov:-cov ?}"
	fi
done
exit $failed
