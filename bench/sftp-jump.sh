#!/bin/bash
# bench/sftp-jump.sh: a backup of N licenses (default 100,000) over SFTP on
# loopback, three ways, alternated round after round:
#
#   direct-base  sftp://127.0.0.1:PORT/dir with the driver BEFORE issue 21
#                (built from --base, default: where this branch left main)
#   direct-new   the same URI with this tree's driver (ssh_config read: ssh -G)
#   jump-new     sftp://lvjump-target/dir, a Host alias whose ProxyJump goes
#                through the same sshd (ssh -W), with this tree's driver
#                (which reaches the hop through licvault-sftp-relay)
#
# and, to show what bounds jump-new:
#
#   jump-nodelay the same through a second sshd that sets TCP_NODELAY on its
#                sockets (an LD_PRELOAD shim built here; OpenSSH sets it only
#                for interactive sessions): what bounded jump-new before the
#                relay, which now makes the two equal
#   ossh-direct, ossh-jump   OpenSSH's own sftp putting a file of the store's
#                size, direct and through the same ProxyJump
#
# and writes results.csv and summary.txt to --out (default
# bench/results/sftp-jump).  The targets: jump-new / direct-new <= 1.5,
# direct-new / direct-base within 5%.
#
# Standalone: builds both trees in Release under --work, makes the store once
# (kept), starts a private sshd on 127.0.0.1 and a free port (stopped by PID on
# exit), touches no system config.  Needs: cmake, a C compiler, the project's
# build dependencies, OpenSSH client and server, /usr/bin/time, git, python3.
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
	cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DLICVAULT_BUILD_TESTS=OFF >/dev/null
	# the CLI's target was "licvault" before it became "licvault_cli" (an older --base)
	cmake --build "$2" -j2 --target licvault_cli licvault-gen lv_sftp >/dev/null 2>&1 ||
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
SSHD2_PID=""
cleanup() {
	for p in $SSHD_PID $SSHD2_PID; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$D"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C lvbench -f "$D/id_ed25519"
cp "$D/id_ed25519.pub" "$D/authorized_keys"
chmod 644 "$D/authorized_keys"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PORT2=$(free_port)
ME=$(id -un)
sshd_config() { # PORT FILE
cat >"$2" <<EOF
# licvault bench sshd: loopback only; it is its own jump host (ssh -W to itself)
Port $1
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
PermitOpen 127.0.0.1:$1
PrintMotd no
AllowUsers $ME
Subsystem sftp internal-sftp
EOF
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; }
sshd_config "$PORT" "$D/sshd_config"
sshd_config "$PORT2" "$D/sshd2_config"
# the shim for the second sshd: TCP_NODELAY on every socket it accepts or connects
cat >"$D/nodelay.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
static void nodelay(int fd) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	int r = ((connect_fn)dlsym(RTLD_NEXT, "connect"))(fd, a, l);
	nodelay(fd);
	return r;
}
int accept(int fd, struct sockaddr *a, socklen_t *l)
{
	int r = ((accept_fn)dlsym(RTLD_NEXT, "accept"))(fd, a, l);
	if (r >= 0)
		nodelay(r);
	return r;
}
EOF
cc -shared -fPIC -o "$D/nodelay.so" "$D/nodelay.c" -ldl
/usr/sbin/sshd -f "$D/sshd_config" -D -e 2>"$D/sshd.log" &
SSHD_PID=$!
LD_PRELOAD="$D/nodelay.so" /usr/sbin/sshd -f "$D/sshd2_config" -D -e 2>"$D/sshd2.log" &
SSHD2_PID=$!
wait_port "$PORT"
wait_port "$PORT2"
for p in "$PORT" "$PORT2"; do
	echo "[127.0.0.1]:$p $(cut -d' ' -f1,2 "$D/host_ed25519.pub")" >>"$D/known_hosts"
done

# the hop under a name of its own: OpenSSH refuses a ProxyJump spelled as its own target ("jumphost loop")
cat >"$D/ssh_config" <<EOF
Host lvjump-target
  HostName 127.0.0.1
  Port $PORT
  ProxyJump $ME@lvjump-hop:$PORT
Host lvjump-hop
  HostName 127.0.0.1
Host lvjump-nd-target
  HostName 127.0.0.1
  Port $PORT2
  ProxyJump $ME@lvjump-nd-hop:$PORT2
Host lvjump-nd-hop
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
sshd_cpu() { cat "/proc/$SSHD_PID/stat" "/proc/$SSHD2_PID/stat" | awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); t += $14 + $15 } END { print t / hz }'; }
run() { # CASE ROUND
	local cmd
	case "$1" in
	direct-base) cmd=("$LV_BASE" --config "$D/base.conf" --store "$STORE" -q backup "sftp://127.0.0.1:$PORT$DEST") ;;
	direct-new) cmd=("$LV_NEW" --config "$D/new.conf" --store "$STORE" -q backup "sftp://127.0.0.1:$PORT$DEST") ;;
	jump-new) cmd=("$LV_NEW" --config "$D/new.conf" --store "$STORE" -q backup "sftp://lvjump-target$DEST") ;;
	jump-nodelay) cmd=("$LV_NEW" --config "$D/new.conf" --store "$STORE" -q backup "sftp://lvjump-nd-target$DEST") ;;
	ossh-direct) cmd=(sh -c "echo 'put $STORE $DEST/store.copy' | sftp -q -F $D/ssh_config -P $PORT -b - $ME@127.0.0.1") ;;
	ossh-jump) cmd=(sh -c "echo 'put $STORE $DEST/store.copy' | sftp -q -F $D/ssh_config -b - lvjump-target") ;;
	esac
	rm -rf "$DEST" # not timed: every run writes into an empty place
	mkdir -p "$DEST"
	sync
	local before after
	before=$(sshd_cpu)
	if ! /usr/bin/time -f "%e,%U,%S,%M" -o "$D/time" "${cmd[@]}" >"$D/out" 2>&1; then
		say "$1 round $2 failed:"; cat "$D/out" >&2; exit 1
	fi
	sleep 0.2 # the session processes end and are reaped
	after=$(sshd_cpu)
	echo "$1,$2,$(cat "$D/time"),$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')" >>"$CSV"
	say "$1 round $2: $(cut -d, -f1 "$D/time") s"
}
CASES=(direct-base direct-new jump-new jump-nodelay ossh-direct ossh-jump)
N=${#CASES[@]}
for r in $(seq "$ROUNDS"); do
	for k in $(seq 0 $((N - 1))); do
		run "${CASES[$(( (k + r) % N ))]}" "$r"
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
w = {c: med(c, "wall_s") for c in ("direct-base", "direct-new", "jump-new", "jump-nodelay", "ossh-direct", "ossh-jump")}
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
    "jump-nodelay / direct-new = %.2f  (the same jump, its sshd with TCP_NODELAY)" % (w["jump-nodelay"] / w["direct-new"]),
    "ossh-jump / ossh-direct = %.2f  (OpenSSH's sftp, same hop)" % (w["ossh-jump"] / w["ossh-direct"]),
    "",
    "licvault cpu (the client's for ossh-*) counts libssh2 and, for jump-*, the ssh -W proxy it runs; sshd cpu",
    "counts the sessions (for jump-new: the jump hop, which decrypts every byte once more, and the target).",
    "MB/s: the store's size over the wall time (the pack is about the store's size).",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
