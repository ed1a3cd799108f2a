#!/bin/bash
# bench/sftp-jump.sh: a backup of N licenses (default 100,000) over SFTP on
# loopback, three ways, alternated round after round:
#
#   direct-base  sftp://127.0.0.1:PORT/dir with the driver BEFORE issue 21
#                (built from --base, default: where this branch left main)
#   direct-new   the same URI with this tree's driver (ssh_config read: ssh -G)
#   jump-new     sftp://lvjump-target/dir, a Host alias whose ProxyJump goes
#                through the same sshd (ssh -W), with this tree's driver
#
# and writes results.csv and summary.txt to --out (default
# bench/results/sftp-jump).  The targets: jump-new / direct-new <= 1.5,
# direct-new / direct-base within 5%.
#
# Standalone: builds both trees in Release under --work, makes the store once
# (kept), starts a private sshd on 127.0.0.1 and a free port (stopped by PID on
# exit), touches no system config.  Needs: cmake, a C compiler, the project's
# build dependencies, OpenSSH client and server, /usr/bin/time, git.
#
#   bench/sftp-jump.sh                         # 100,000 licenses, 3 rounds
#   bench/sftp-jump.sh --count 10000 --rounds 2
set -euo pipefail

COUNT=100000
ROUNDS=3
SRC=$(cd "$(dirname "$0")/.." && pwd)
BASE=""
WORK=/var/tmp/licvault-bench-jump
OUT="$SRC/bench/results/sftp-jump"
BUILD=1
while [ $# -gt 0 ]; do
	case "$1" in
	--count) COUNT=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--base) BASE=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) echo "sftp-jump.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$BASE" ]; then
	BASE=$(git -C "$SRC" merge-base HEAD main 2>/dev/null || git -C "$SRC" rev-parse HEAD~1)
fi
mkdir -p "$WORK" "$OUT"
say() { printf '%s\n' "$*" >&2; }

# ---- builds ----------------------------------------------------------------
build() { # SRCDIR BUILDDIR
	cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	cmake --build "$2" -j2 --target licvault licvault-gen lv_sftp >/dev/null
}
if [ "$BUILD" = 1 ]; then
	say "building this tree in $WORK/build-new"
	build "$SRC" "$WORK/build-new"
	say "building the base $BASE in $WORK/build-base"
	rm -rf "$WORK/base-src"
	mkdir -p "$WORK/base-src"
	git -C "$SRC" archive "$BASE" | tar -x -C "$WORK/base-src"
	build "$WORK/base-src" "$WORK/build-base"
fi
LV_NEW="$WORK/build-new/cli/licvault"
LV_BASE="$WORK/build-base/cli/licvault"
GEN="$WORK/build-new/cli/licvault-gen"

# ---- the store (kept between runs) ------------------------------------------
STORE="$WORK/store-$COUNT.db"
if [ ! -s "$STORE" ]; then
	say "making a store of $COUNT licenses"
	"$GEN" --store "$STORE" --count "$COUNT" --seed 1 >/dev/null
fi

# ---- a private sshd ----------------------------------------------------------
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
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/id_ed25519"
cp "$D/id_ed25519.pub" "$D/authorized_keys"
chmod 644 "$D/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ME=$(id -un)
cat >"$D/sshd_config" <<EOF
# licvault bench sshd: loopback only; it is its own jump host (ssh -W to itself)
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
MaxStartups 100
UseDNS no
X11Forwarding no
AllowTcpForwarding yes
PermitOpen 127.0.0.1:$PORT
PrintMotd no
AllowUsers $ME
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -f "$D/sshd_config" -D -e 2>"$D/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
	sleep 0.1
done
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/host_ed25519.pub")" >"$D/known_hosts"

# the hop under a name of its own: OpenSSH refuses a ProxyJump spelled as its own target ("jumphost loop")
cat >"$D/ssh_config" <<EOF
Host lvjump-target
  HostName 127.0.0.1
  Port $PORT
  ProxyJump $ME@lvjump-hop:$PORT
Host lvjump-hop
  HostName 127.0.0.1
Host *
  User $ME
  IdentityFile $D/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $D/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
EOF
cat >"$D/new.conf" <<EOF
[driver "sftp"]
ssh_config = $D/ssh_config
use_agent = no
connect_retries = 0
EOF
cat >"$D/base.conf" <<EOF
[driver "sftp"]
known_hosts = $D/known_hosts
identity_file = $D/id_ed25519
use_agent = no
connect_retries = 0
EOF
DEST="$WORK/dest"

# ---- the runs ------------------------------------------------------------------
CSV="$OUT/results.csv"
echo "case,round,wall_s,user_s,sys_s,maxrss_kb,sshd_cpu_s" >"$CSV"
# cpu of sshd's finished sessions (the listener's reaped children), in seconds
sshd_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($14 + $15) / hz }' "/proc/$SSHD_PID/stat"; }
run() { # CASE ROUND
	local lv conf uri
	case "$1" in
	direct-base) lv=$LV_BASE; conf=$D/base.conf; uri="sftp://127.0.0.1:$PORT$DEST" ;;
	direct-new) lv=$LV_NEW; conf=$D/new.conf; uri="sftp://127.0.0.1:$PORT$DEST" ;;
	jump-new) lv=$LV_NEW; conf=$D/new.conf; uri="sftp://lvjump-target$DEST" ;;
	esac
	rm -rf "$DEST" # not timed: every run writes a new set into an empty place
	sync
	local before after
	before=$(sshd_cpu)
	if ! /usr/bin/time -f "%e,%U,%S,%M" -o "$D/time" "$lv" --config "$conf" --store "$STORE" -q backup "$uri" \
		>"$D/out" 2>&1; then
		say "$1 round $2 failed:"; cat "$D/out" >&2; exit 1
	fi
	sleep 0.2 # the session processes end and are reaped
	after=$(sshd_cpu)
	echo "$1,$2,$(cat "$D/time"),$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')" >>"$CSV"
	say "$1 round $2: $(cut -d, -f1 "$D/time") s"
}
CASES=(direct-base direct-new jump-new)
for r in $(seq "$ROUNDS"); do
	for k in 0 1 2; do
		run "${CASES[$(( (k + r) % 3 ))]}" "$r"
	done
done
rm -rf "$DEST"

# ---- the summary ----------------------------------------------------------------
python3 - "$CSV" "$OUT/summary.txt" "$COUNT" "$ROUNDS" "$BASE" "$(du -m "$STORE" | cut -f1)" <<'EOF'
import csv, os, statistics, subprocess, sys
rows = list(csv.DictReader(open(sys.argv[1])))
out, count, rounds, base, mb = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def med(case, col):
    return statistics.median(float(r[col]) for r in rows if r["case"] == case)
w = {c: med(c, "wall_s") for c in ("direct-base", "direct-new", "jump-new")}
cpu = {c: med(c, "user_s") + med(c, "sys_s") for c in w}
scpu = {c: med(c, "sshd_cpu_s") for c in w}
lines = [
    "sftp-jump: a backup of %s licenses (store %s MB), %s rounds, medians" % (count, mb, rounds),
    "machine: %s cores, load average before the summary %s" % (os.cpu_count(), open("/proc/loadavg").read().split()[:3]),
    "%s; libssh2 1.10; base %s" % (subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip(), base[:12]),
    "",
    "%-12s %8s %16s %12s %8s" % ("case", "wall s", "licvault cpu s", "sshd cpu s", "MB/s"),
]
for c in w:
    lines.append("%-12s %8.2f %16.2f %12.2f %8.1f" % (c, w[c], cpu[c], scpu[c], float(mb) / w[c]))
lines += [
    "",
    "jump-new / direct-new   = %.2f  (target <= 1.5)" % (w["jump-new"] / w["direct-new"]),
    "direct-new / direct-base = %.3f (target within 5%%: 0.95..1.05)" % (w["direct-new"] / w["direct-base"]),
    "",
    "licvault cpu counts libssh2 and, for jump-new, the ssh -W proxy it runs (a reaped child); sshd cpu",
    "counts the sessions (for jump-new: the jump hop, which decrypts every byte once more, and the target).",
    "MB/s: the store's size over the wall time (the pack is about the store's size).",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
