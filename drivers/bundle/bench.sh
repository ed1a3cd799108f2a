#!/bin/sh
# Bundle benchmark (figures for the report, not a test):
#   drivers/bundle/bench.sh [RELEASE_BUILD_DIR] [WORK_DIR] [LEVELS]
# On a 100,000-license store made by licvault-gen: licvault backup to
# bundle+file:// at each level (threads on and off at the default level) vs
# tar czf of the store file and gzip -6 -c of it; restore vs tar xzf; sizes;
# peak RSS from /usr/bin/time.  Runs each pair back to back, in the same run.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-bundle-rel}
work=${2:-/tmp/lvbench}
levels=${3:-"1 6 9"}
cli=$build/cli/licvault
mkdir -p "$work"
store=$work/store.db
[ -f "$store" ] || "$build/cli/licvault-gen" --store "$store" --count 100000 >/dev/null
t() { # label, command...: prints label, wall seconds, CPU seconds, peak RSS KB
	label=$1; shift
	/usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { echo "$label: FAILED"; cat "$work/err"; return 1; }
	set -- $(cat "$work/time")
	printf '%-38s %7.2f s wall %7.2f s CPU %8d KB peak RSS\n' "$label" "$1" "$(echo "$2 + $3" | bc)" "$4"
}
size() { stat -c %s "$1"; }
# a bundle URI .../x.lvb writes generation files x.g<16 hex>.lvb: the newest one
newest() { ls "${1%.lvb}".g*.lvb | tail -1; }
echo "store: $(size "$store") bytes, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
sync
t "tar czf" tar czf "$work/store.tgz" -C "$work" store.db
t "gzip -6 -c" sh -c "gzip -6 -c '$store' > '$work/store.gz'"
for l in $levels; do
	printf '[driver "bundle"]\nlevel = %s\nthreads = yes\n[service]\nrestores_per_day = 1000\n' "$l" > "$work/cfg"
	rm -f "$work/x$l".*
	t "licvault backup bundle level $l" "$cli" -q --config "$work/cfg" --store "$store" backup "bundle+file://$work/x$l.lvb"
	echo "    bundle $(size "$(newest "$work/x$l.lvb")") bytes = $(echo "scale=3; $(size "$(newest "$work/x$l.lvb")") / $(size "$work/store.tgz")" | bc) x the tar.gz"
done
l1=$(echo $levels | cut -d' ' -f1)
printf '[driver "bundle"]\nlevel = %s\nthreads = no\n[service]\nrestores_per_day = 1000\n' "$l1" > "$work/cfg1"
rm -f "$work/x$l1-nt".*
t "licvault backup level $l1 threads=no" "$cli" -q --config "$work/cfg1" --store "$store" backup "bundle+file://$work/x$l1-nt.lvb"
printf '[driver "bundle"]\nlevel = %s\nthreads = yes\n[service]\nrestores_per_day = 1000\n' "$l1" > "$work/cfg"
t "licvault backup level $l1 --overwrite" "$cli" -q --config "$work/cfg" --store "$store" backup --overwrite "bundle+file://$work/x$l1-nt.lvb"
t "tar czf (again)" tar czf "$work/store.tgz" -C "$work" store.db
rm -rf "$work/x" && mkdir -p "$work/x"
t "tar xzf" tar xzf "$work/store.tgz" -C "$work/x"
rm -f "$work/r.db" "$work/r.db-wal" "$work/r.db-shm"
t "licvault restore bundle level $l1" "$cli" -q --config "$work/cfg" --store "$work/r.db" restore --individualize "bundle+file://$work/x$l1.lvb"
rm -rf "$work/plain" "$work/r2.db" "$work/r2.db-wal" "$work/r2.db-shm"
t "licvault backup file:// (no bundle)" "$cli" -q --config "$work/cfg" --store "$store" backup "file://$work/plain"
t "licvault restore file:// (no bundle)" "$cli" -q --config "$work/cfg" --store "$work/r2.db" restore --individualize "file://$work/plain"
