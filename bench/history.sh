#!/bin/bash
# bench/history.sh: the cost of keeping history (issue 18), ratios in one run.
#
#   list 20 generations / list 1, 100,000 licenses each    file://, sftp://   target <= 1.5 x
#   backup to a location holding 20 generations (keep 20)
#     / backup to one holding 1 (keep 1), pruning included  file://, sftp://   target <= 1.05 x
#   peak RSS of list, ls and a pruning backup, 100k / 10k    file://            target within 10 %
#
# Each pair runs back to back, the order swapped every round; medians of
# --rounds (default 5).  The verdict is on the paired ratio (the median over
# rounds of B / A within a round: a slow minute weighs on both runs of its
# round); the ratio of the medians and of the CPU times are printed beside it.  Every backup timed writes one generation and prunes
# one, so each location holds the same number of generations in every round.
# Standalone: builds this tree in Release under --work, makes the stores once
# (kept), starts a private sshd on 127.0.0.1 and a free port (internal-sftp,
# stopped by its PID on exit), touches no system config.  Results:
# OUT/results.txt and OUT/results.csv (default bench/results/history).
#
#   bench/history.sh [--rounds N] [--work DIR] [--out DIR] [--no-build] [--cases file,sftp,rss]
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=5
WORK=/var/tmp/licvault-bench-history
OUT=$SRC/bench/results/history
BUILD=1
CASES=file,sftp,rss
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--cases) CASES=$2; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "history.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$WORK" "$OUT"
B=$WORK/build
if [ "$BUILD" = 1 ]; then
	cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release -DLICVAULT_BUILD_TESTS=OFF >/dev/null
	cmake --build "$B" -j2 --target licvault_cli licvault-gen lv_file lv_sftp >/dev/null
fi
LV=$B/cli/licvault
GEN=$B/cli/licvault-gen
CSV=$OUT/results.csv
TXT=$OUT/results.txt
echo "case,size,round,label,seconds,rss_kb,cpu_seconds" >"$CSV"
: >"$TXT"
say() { printf '%s\n' "$*" | tee -a "$TXT"; }
has() { case ",$CASES," in *",$1,"*) return 0 ;; esac; return 1; }

# ---- a private sshd (internal-sftp: no login shell runs) ---------------------
D=$(mktemp -d "$WORK/sshd-XXXXXX")
chmod 755 "$D"
SSHD_PID=""
cleanup() {
	if [ -n "$SSHD_PID" ]; then
		kill "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
	fi
	rm -rf "$D"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if has sftp; then
	[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/host_ed25519"
	ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/id_ed25519"
	cp "$D/id_ed25519.pub" "$D/authorized_keys"
	chmod 644 "$D/authorized_keys"
	PORT=$(free_port)
	cat >"$D/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $D/host_ed25519
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AuthorizedKeysFile $D/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
AllowUsers $(id -un)
Subsystem sftp internal-sftp
EOF
	/usr/sbin/sshd -f "$D/sshd_config" -D -e 2>"$D/sshd.log" &
	SSHD_PID=$!
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
	echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/host_ed25519.pub")" >"$D/known_hosts"
fi

# two configs: keep 1 and keep 20 (the sftp driver told where its key is)
for k in 1 20; do
	cat >"$WORK/keep$k.cfg" <<EOF
[licvault]
keep = $k
[driver "sftp"]
known_hosts = $D/known_hosts
identity_file = $D/id_ed25519
use_agent = no
ssh_config = no
[service]
restores_per_day = 1000000
max_machines = 64
EOF
done

# t CASE SIZE ROUND LABEL CMD...: one timed run, appended to the CSV
t() {
	local c=$1 s=$2 r=$3 l=$4
	shift 4
	if ! /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err"; then
		echo "$c $l: FAILED" >&2
		cat "$WORK/err" >&2
		exit 1
	fi
	read -r sec rss usr sys <"$WORK/time"
	echo "$c,$s,$r,$l,$sec,$rss,$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')" >>"$CSV"
}
median() { # CASE SIZE LABEL FIELD
	awk -F, -v c="$1" -v s="$2" -v l="$3" -v f="$4" '$1==c && $2==s && $4==l {print $f}' "$CSV" | sort -g |
		awk '{v[NR]=$1} END {if (NR) print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2); else print "nan"}'
}
range() { # CASE SIZE LABEL: min-max of the seconds
	awk -F, -v c="$1" -v s="$2" -v l="$3" '$1==c && $2==s && $4==l {print $5}' "$CSV" | sort -g | sed -n '1p;$p' | paste -sd- -
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
# paired CASE SIZE LABEL_A LABEL_B FIELD: the median over rounds of B / A within one round
# (the two runs of a round are back to back, so a slow minute weighs on both)
paired() {
	awk -F, -v c="$1" -v s="$2" -v la="$3" -v lb="$4" -v f="$5" '$1==c && $2==s && $4==la {a[$3]=$f}
		$1==c && $2==s && $4==lb {b[$3]=$f}
		END {for (r in a) if ((r in b) && a[r] > 0) print b[r] / a[r]}' "$CSV" | sort -g |
		awk '{v[NR]=$1} END {if (NR) printf "%.3f", (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2); else print "nan"}'
}
verdict() { awk -v r="$1" -v m="$2" 'BEGIN {print (r <= m ? "met" : "MISSED")}'; }

# pair CASE SIZE LABEL_A CMD_A LABEL_B CMD_B TARGET: A and B alternated; B / A against TARGET
pair() {
	local c=$1 s=$2 la=$3 ca=$4 lb=$5 cb=$6 target=$7 i
	for i in $(seq "$ROUNDS"); do
		sync
		if [ $((i % 2)) = 1 ]; then
			t "$c" "$s" "$i" "$la" sh -c "$ca"
			t "$c" "$s" "$i" "$lb" sh -c "$cb"
		else
			t "$c" "$s" "$i" "$lb" sh -c "$cb"
			t "$c" "$s" "$i" "$la" sh -c "$ca"
		fi
	done
	local ma mb r
	ma=$(median "$c" "$s" "$la" 5)
	mb=$(median "$c" "$s" "$lb" 5)
	r=$(ratio "$mb" "$ma")
	local pr cpu
	pr=$(paired "$c" "$s" "$la" "$lb" 5)
	cpu=$(ratio "$(median "$c" "$s" "$lb" 7)" "$(median "$c" "$s" "$la" 7)")
	say "$(printf '%-14s %7s  %-22s %7.3f s (%s)   %-22s %7.3f s (%s)   ratio %s, paired %s, cpu %s  target <= %s  %s' \
		"$c" "$s" "$la" "$ma" "$(range "$c" "$s" "$la")" "$lb" "$mb" "$(range "$c" "$s" "$lb")" "$r" "$pr" "$cpu" "$target" "$(verdict "$pr" "$target")")"
}

say "licvault history bench, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "machine: $(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS; medians (min-max)"

store_of() { # N: a store of N licenses, made once
	local st=$WORK/store-$1.db
	[ -s "$st" ] || "$GEN" --store "$st" --count "$1" --seed 1 >/dev/null
	echo "$st"
}

# fill URI N CONFIG: GENERATIONS backups of the store (fresh location)
fill() {
	local uri=$1 n=$2 st=$3 i
	for i in $(seq "$n"); do
		"$LV" -q --config "$WORK/keep20.cfg" --store "$st" backup --overwrite "$uri"
	done
}

# history_case SCHEME SIZE: the list and backup pairs over one driver
history_case() {
	local scheme=$1 n=$2 st base u1 u20
	st=$(store_of "$n")
	if [ "$scheme" = file ]; then
		base=$WORK/loc-$n
		rm -rf "$base"
		mkdir -p "$base"
		u1=file://$base/one u20=file://$base/twenty
	else
		base=$WORK/sftp-$n
		rm -rf "$base"
		mkdir -p "$base"
		u1=sftp://$(id -un)@127.0.0.1:$PORT$base/one u20=sftp://$(id -un)@127.0.0.1:$PORT$base/twenty
	fi
	fill "$u1" 1 "$st"
	fill "$u20" 20 "$st"
	say "   $scheme, $n licenses: 20 generations take $(du -sh "$base/twenty" | cut -f1), one $(du -sh "$base/one" | cut -f1)"
	pair "list-$scheme" "$n" "list 1 generation" "'$LV' -q --config '$WORK/keep1.cfg' list '$u1'" \
		"list 20 generations" "'$LV' -q --config '$WORK/keep20.cfg' list '$u20'" 1.5
	pair "backup-$scheme" "$n" "backup 1 held keep 1" "'$LV' -q --config '$WORK/keep1.cfg' --store '$st' backup --overwrite '$u1'" \
		"backup 20 held keep 20" "'$LV' -q --config '$WORK/keep20.cfg' --store '$st' backup --overwrite '$u20'" 1.05
	rm -rf "$base"
}

if has file; then history_case file 100000; fi
if has sftp; then history_case sftp 100000; fi

if has rss; then
	for n in 10000 100000; do
		st=$(store_of "$n")
		loc=$WORK/rss-$n
		rm -rf "$loc"
		fill "file://$loc" 3 "$st"
		for i in $(seq 3); do
			t rss "$n" "$i" list "$LV" -q --config "$WORK/keep20.cfg" list "file://$loc"
			t rss "$n" "$i" ls "$LV" -q --config "$WORK/keep20.cfg" ls "file://$loc"
			t rss "$n" "$i" "pruning backup" "$LV" -q --config "$WORK/keep1.cfg" --store "$st" backup --overwrite "file://$loc"
			fill "file://$loc" 2 "$st"
		done
	done
	for l in list ls "pruning backup"; do
		a=$(median rss 10000 "$l" 6)
		b=$(median rss 100000 "$l" 6)
		d=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%+.1f", (b - a) * 100 / a}')
		ok=$(awk -v a="$a" -v b="$b" 'BEGIN {d = (b - a) / a; if (d < 0) d = -d; print (d <= 0.10 ? "met" : "MISSED")}')
		say "$(printf 'rss %-16s 10k %6.1f MiB  100k %6.1f MiB  %s%%  target within 10%%  %s' "$l" \
			"$(awk -v k="$a" 'BEGIN {print k / 1024}')" "$(awk -v k="$b" 'BEGIN {print k / 1024}')" "$d" "$ok")"
	done
	rm -rf "$WORK"/rss-*
fi
say "done: $(date -u '+%H:%M UTC')"
