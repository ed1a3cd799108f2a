#!/bin/sh
# The crypt driver's benchmark (issue 20), standalone, ratios in one run:
#   bench/crypt.sh [--rounds N] [--build DIR] [--work DIR] [--out DIR] [--no-build]
#
# On stores made by licvault-gen (--seed 1) of 100,000 and 10,000 licenses:
#   crypt+file backup / file backup                    target <= 1.15 x
#   crypt+file restore / file restore                  target <= 1.10 x
#   bundle+crypt+file backup / bundle+file backup      target <= 1.10 x
#   bundle+crypt+file restore / bundle+file restore    (reported)
#   key derivation (Argon2id), default and test parameters, reported alone
#   peak RSS of crypt+file backup and restore at 10k and 100k with the default
#   KDF parameters: within 10 %, at most 96 MiB
# Each pair runs back to back, the order swapped every round; medians of
# --rounds (default 3) rounds, each command under /usr/bin/time.  The time
# ratios use small KDF parameters (opslimit 1, memlimit 8 KiB) so that they
# measure the data path; the KDF is timed on its own.
# Results: OUT/results.txt (what the report quotes) and OUT/results.csv.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rounds=3
build=$top/build-bench-crypt
work=/var/tmp/lvcrypt-bench
out=$top/bench/results/crypt
do_build=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-build) do_build=0; shift ;;
	*) echo "usage: bench/crypt.sh [--rounds N] [--build DIR] [--work DIR] [--out DIR] [--no-build]" >&2; exit 2 ;;
	esac
done
if [ $do_build = 1 ]; then
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLICVAULT_BUILD_TESTS=OFF >/dev/null
	cmake --build "$build" -j2 --target licvault_cli licvault-gen lv_file lv_bundle lv_crypt >/dev/null
fi
cli=$build/cli/licvault
mkdir -p "$work" "$out"
csv=$out/results.csv
txt=$out/results.txt
echo "case,size,round,command,seconds,rss_kb,cpu_seconds" > "$csv"
: > "$txt"
say() { echo "$*" | tee -a "$txt"; }

export LICVAULT_PASSPHRASE=bench-passphrase
fast=$work/fast.cfg   # small KDF: the data path only
slow=$work/slow.cfg   # the default KDF (libsodium's interactive class)
nothreads=$work/nothreads.cfg
printf '[licvault]\nkeep = 1\n[driver "crypt"]\nkdf_opslimit = 1\nkdf_memlimit = 8192\n[service]\nrestores_per_day = 1000000\nmax_machines = 64\n' > "$fast"
printf '[licvault]\nkeep = 1\n[service]\nrestores_per_day = 1000000\nmax_machines = 64\n' > "$slow"
printf '[licvault]\nkeep = 1\n[driver "crypt"]\nkdf_opslimit = 1\nkdf_memlimit = 8192\nthreads = no\n[service]\nrestores_per_day = 1000000\nmax_machines = 64\n' > "$nothreads"

# run CASE SIZE ROUND LABEL CMD...: time one command, append to the CSV
run() {
	run_c=$1 run_s=$2 run_r=$3 run_l=$4
	shift 4
	if ! /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err"; then
		echo "$run_c $run_l: FAILED" >&2
		cat "$work/err" >&2
		exit 1
	fi
	set -- $(cat "$work/time")
	echo "$run_c,$run_s,$run_r,$run_l,$1,$2,$(echo "$3 + $4" | bc)" >> "$csv"
}

rmdb() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

# min CASE SIZE LABEL FIELD
minof() {
	awk -F, -v c="$1" -v s="$2" -v l="$3" -v f="$4" '$1==c && $2==s && $4==l {print $f}' "$csv" | sort -g | head -1
}

# median CASE SIZE LABEL FIELD(5 seconds, 6 rss, 7 CPU seconds)
median() {
	awk -F, -v c="$1" -v s="$2" -v l="$3" -v f="$4" '$1==c && $2==s && $4==l {print $f}' "$csv" | sort -g |
		awk '{v[NR]=$1} END {if (NR) print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2); else print "nan"}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

pair() { # CASE SIZE ROUNDS "LABEL_A" "CMD_A" "LABEL_B" "CMD_B" "PREP" : alternate A and B
	p_c=$1 p_s=$2 p_n=$3 la=$4 ca=$5 lb=$6 cb=$7 prep=$8
	i=1
	while [ $i -le "$p_n" ]; do
		if [ $((i % 2)) = 1 ]; then
			sh -c "$prep"; run "$p_c" "$p_s" $i "$la" sh -c "$ca"
			sh -c "$prep"; run "$p_c" "$p_s" $i "$lb" sh -c "$cb"
		else
			sh -c "$prep"; run "$p_c" "$p_s" $i "$lb" sh -c "$cb"
			sh -c "$prep"; run "$p_c" "$p_s" $i "$la" sh -c "$ca"
		fi
		i=$((i + 1))
	done
	ma=$(median "$p_c" "$p_s" "$la" 5)
	mb=$(median "$p_c" "$p_s" "$lb" 5)
	na=$(minof "$p_c" "$p_s" "$la" 5)
	nb=$(minof "$p_c" "$p_s" "$lb" 5)
	ca=$(median "$p_c" "$p_s" "$la" 7)
	cb=$(median "$p_c" "$p_s" "$lb" 7)
	say "$(printf '%-15s %-7s %-24s / %-12s wall median %6.2f / %6.2f s = %s   min %6.2f / %6.2f s = %s   CPU median %5.2f / %5.2f s = %s' \
		"$p_c" "$p_s" "$lb" "$la" "$mb" "$ma" "$(ratio "$mb" "$ma")" "$nb" "$na" "$(ratio "$nb" "$na")" "$cb" "$ca" "$(ratio "$cb" "$ca")")"
}

say "crypt bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), libsodium $(pkg-config --modversion libsodium 2>/dev/null || echo '?')"
say "rounds: $rounds; time ratios with kdf_opslimit 1, kdf_memlimit 8192; each line: crypt / plain, as wall-time"
say "medians and minimums (the least disturbed run) and CPU-time (user + sys) medians"

for n in 100000 10000; do
	store=$work/store-$n.db
	[ -f "$store" ] || "$build/cli/licvault-gen" --store "$store" --count $n --seed 1 >/dev/null
	say "== $n licenses: store $(stat -c %s "$store") bytes"
	f=$work/f-$n cl=$work/c-$n bf=$work/bf-$n bc=$work/bc-$n
	rm -rf "$f" "$cl" "$bf" "$bc"
	mkdir -p "$bf" "$bc"
	"$cli" -q --config "$fast" crypt init "crypt+file://$cl" >/dev/null
	"$cli" -q --config "$fast" crypt init "crypt+file://$bc" >/dev/null
	# backups (--overwrite: the next generation, the older removed: the same work for both)
	"$cli" -q --config "$fast" --store "$store" backup "file://$f"
	"$cli" -q --config "$fast" --store "$store" backup "crypt+file://$cl"
	r=$rounds
	pair backup $n $r "file" "'$cli' -q --config '$fast' --store '$store' backup --overwrite 'file://$f'" \
		"crypt+file" "'$cli' -q --config '$fast' --store '$store' backup --overwrite 'crypt+file://$cl'" "sync"
	pair restore $n $r "file" "'$cli' -q --config '$fast' --store '$work/r.db' restore --individualize 'file://$f'" \
		"crypt+file" "'$cli' -q --config '$fast' --store '$work/r.db' restore --individualize 'crypt+file://$cl'" \
		"rm -f '$work/r.db' '$work/r.db-wal' '$work/r.db-shm'; sync"
	pair restore-nothreads $n $r "file" "'$cli' -q --config '$fast' --store '$work/r.db' restore --individualize 'file://$f'" \
		"crypt+file threads=no" "'$cli' -q --config '$nothreads' --store '$work/r.db' restore --individualize 'crypt+file://$cl'" \
		"rm -f '$work/r.db' '$work/r.db-wal' '$work/r.db-shm'; sync"
	"$cli" -q --config "$fast" --store "$store" backup "bundle+file://$bf/x.lvb"
	"$cli" -q --config "$fast" --store "$store" backup "bundle+crypt+file://$bc/x.lvb"
	pair bundle-backup $n $r "bundle+file" "'$cli' -q --config '$fast' --store '$store' backup --overwrite 'bundle+file://$bf/x.lvb'" \
		"bundle+crypt+file" "'$cli' -q --config '$fast' --store '$store' backup --overwrite 'bundle+crypt+file://$bc/x.lvb'" "sync"
	pair bundle-restore $n $r "bundle+file" "'$cli' -q --config '$fast' --store '$work/r.db' restore --individualize 'bundle+file://$bf/x.lvb'" \
		"bundle+crypt+file" "'$cli' -q --config '$fast' --store '$work/r.db' restore --individualize 'bundle+crypt+file://$bc/x.lvb'" \
		"rm -f '$work/r.db' '$work/r.db-wal' '$work/r.db-shm'; sync"
	say "   sizes: file pack $(stat -c %s "$f"/*.pack), crypt+file pack $(stat -c %s "$cl"/*.pack), bundle $(stat -c %s "$bf"/x.g*.lvb | tail -1), bundle+crypt $(stat -c %s "$bc"/x.g*.lvb | tail -1)"
	# peak RSS with the default KDF parameters (a location initialized with them)
	d=$work/d-$n
	rm -rf "$d"
	"$cli" -q --config "$slow" crypt init "crypt+file://$d" >/dev/null
	run rss $n 1 "crypt+file backup (default KDF)" "$cli" -q --config "$slow" --store "$store" backup "crypt+file://$d"
	rmdb "$work/r.db"
	run rss $n 1 "crypt+file restore (default KDF)" "$cli" -q --config "$slow" --store "$work/r.db" restore --individualize "crypt+file://$d"
	run rss $n 1 "file backup" "$cli" -q --config "$slow" --store "$store" backup --overwrite "file://$f"
	rm -rf "$d"
done

say "== peak RSS (MiB), default KDF parameters"
for l in "crypt+file backup (default KDF)" "crypt+file restore (default KDF)" "file backup"; do
	a=$(median rss 10000 "$l" 6)
	b=$(median rss 100000 "$l" 6)
	say "$(printf '%-34s 10k %6.1f   100k %6.1f   growth %+.1f%%' "$l" "$(echo "$a / 1024" | bc -l)" "$(echo "$b / 1024" | bc -l)" "$(echo "($b - $a) * 100 / $a" | bc -l)")"
done

say "== key derivation (Argon2id), alone: licvault crypt export-key (one KDF) minus licvault crypt keys (none)"
for cfg in slow fast; do
	file=$work/$cfg.cfg
	k=$work/k-$cfg
	rm -rf "$k"
	"$cli" -q --config "$file" crypt init "crypt+file://$k" >/dev/null
	i=1
	while [ $i -le 5 ]; do
		run kdf $cfg $i export "$cli" -q --config "$file" crypt export-key "crypt+file://$k"
		run kdf $cfg $i keys "$cli" -q --config "$file" crypt keys "crypt+file://$k"
		i=$((i + 1))
	done
	e=$(median kdf $cfg export 5)
	ks=$(median kdf $cfg keys 5)
	m=$(median kdf $cfg export 6)
	params=$("$cli" -q --config "$file" crypt keys "crypt+file://$k" | sed -n 's/.*\(Argon2id opslimit [0-9]* memlimit [0-9]*\).*/\1/p')
	say "$(printf '%-5s %-45s %.3f s   (peak RSS %.1f MiB)' "$cfg" "$params" "$(echo "$e - $ks" | bc -l)" "$(echo "$m / 1024" | bc -l)")"
	rm -rf "$k"
done
say "raw timings: $csv"
