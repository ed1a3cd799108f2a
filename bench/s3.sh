#!/bin/bash
# S3 benchmark (issue 22): licvault's s3 driver against the AWS CLI on one
# RADOS Gateway, in one run, as ratios (the machines here are shared: only
# ratios of runs made next to each other hold).
#
#   bench/s3.sh [--build DIR] [--no-build] [--work DIR] [--out DIR] [--rounds N] [--sizes 10000,100000]
#
# It starts its own gateway as tests/fixture_rgw.c does (ceph-mon, a memstore
# ceph-osd and radosgw on 127.0.0.1, one ceph.conf under the work dir, the
# S3 user made by radosgw-admin before radosgw starts) and stops it by PID
# (gateway, OSD, monitor) at the end, whatever happens.  Each round, for each
# store size (made once by licvault-gen --seed 1, kept in the work dir):
#   backup   licvault backup s3://bench/set-N             vs  aws s3 cp STORE s3://bench/store-N.db
#   restore  licvault restore s3://bench/set-N (empty)    vs  aws s3 cp --recursive of that set + licvault
#                                                             restore file://DIR (empty)
# and once per round a 256 MiB object: bench/lvobj.c put/get through the s3
# driver vs aws s3 cp up/down (+ sync, as lvobj fsyncs).  The order of
# licvault and its peer alternates each round; what is not measured (removing
# the last round's objects and restore registry, an empty store) is done
# before the clock starts.  Every command runs under /usr/bin/time (wall
# seconds, peak RSS).  Results: OUT/results.txt (medians, ratios against the
# issue's targets), OUT/results.csv (every run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build-bench
work=/var/tmp/licvault-bench-s3
out=$root/bench/results/s3
rounds=3
sizes=10000,100000
do_build=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--no-build) do_build=0; shift ;;
	--work) work=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--sizes) sizes=$2; shift 2 ;;
	*) echo "usage: bench/s3.sh [--build DIR] [--no-build] [--work DIR] [--out DIR] [--rounds N] [--sizes A,B]" >&2; exit 2 ;;
	esac
done
PY=/usr/bin/python3
AWS=/usr/bin/aws
for t in "$PY" "$AWS" /usr/bin/time /usr/bin/radosgw /usr/bin/ceph-mon /usr/bin/ceph-osd; do
	[ -x "$t" ] || { echo "bench/s3.sh: $t is missing (.ci/install-deps)" >&2; exit 2; }
done
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---- build ---------------------------------------------------------------------------------
if [ $do_build = 1 ]; then
	log "build: cmake Release into $build"
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$build" -j2 --target licvault_cli licvault-gen lv_s3 lv_file >/dev/null
fi
LV=$build/cli/licvault
GEN=$build/cli/licvault-gen
LVOBJ=$build/bench-lvobj
cc -O2 -Wall -I"$root/include" -I"$build/include" "$root/bench/lvobj.c" -o "$LVOBJ" \
	-L"$build/core" -llicvault -Wl,-rpath,"$build/core"
export LICVAULT_DRIVER_PATH=$build/drivers

# ---- the gateway (as tests/fixture_rgw.c) ------------------------------------------------------
mkdir -p "$work" "$out"
g=$(mktemp -d /tmp/lvbench-rgw-XXXXXX)
mon_pid= osd_pid= rgw_pid=
stop_pid() { # pid: TERM, 10 s, KILL
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}
cleanup() {
	stop_pid "$rgw_pid"; stop_pid "$osd_pid"; stop_pid "$mon_pid"
	rm -rf "$g"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mon_port=$(free_port); port=$(free_port)
fsid=$(cat /proc/sys/kernel/random/uuid); osd_uuid=$(cat /proc/sys/kernel/random/uuid)
cat >"$g/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
ms bind msgr2 = false
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool size one = true
osd crush chooseleaf type = 0
osd crush update on start = false
osd class update on start = false
osd objectstore = memstore
memstore device bytes = 8589934592
paxos propose interval = 0.05
run dir = $g/run
admin socket = $g/run/\$name.asok
log file = $g/\$name.log
mon data = $g/mon
osd data = $g/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw gc obj min wait = 5
rgw gc processor period = 5
rgw dynamic resharding = false
EOF
log "gateway: starting under $g (mon :$mon_port, radosgw :$port)"
mkdir -p "$g/mon" "$g/run" "$g/osd"
monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" "$g/monmap" >/dev/null
ceph-mon -c "$g/ceph.conf" --mkfs -i a --monmap "$g/monmap"
ceph-mon -c "$g/ceph.conf" -i a -f >"$g/mon.out" 2>&1 & mon_pid=$!
printf 'osd new %s\nosd crush add osd.0 1 root=default host=local\n' "$osd_uuid" |
	timeout 60 ceph -c "$g/ceph.conf" --connect-timeout 30 >/dev/null 2>&1
ceph-osd -c "$g/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
ceph-osd -c "$g/ceph.conf" -i 0 -f >"$g/osd.out" 2>&1 & osd_pid=$!
key=LVBENCH$("$PY" -c "import secrets; print(secrets.token_hex(7).upper())")
secret=$(timeout 90 radosgw-admin -c "$g/ceph.conf" user create --uid=bench --display-name=bench \
	--access-key="$key" --gen-secret 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["secret_key"])')
radosgw -c "$g/ceph.conf" -n client.rgw -f >"$g/rgw.out" 2>&1 & rgw_pid=$!
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
printf '%s\n' "$secret" >"$g/secret"; chmod 600 "$g/secret"
cfg=$g/licvault.conf
cat >"$cfg" <<EOF
[driver "s3"]
endpoint = http://127.0.0.1:$port
access_key_id = $key
secret_access_key_file = $g/secret
[service]
restores_per_day = 100000
EOF
# the AWS CLI and boto3 get the keys through their environment (never argv)
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1 \
	AWS_CONFIG_FILE=$g/none AWS_SHARED_CREDENTIALS_FILE=$g/none AWS_EC2_METADATA_DISABLED=true
EP=http://127.0.0.1:$port
s3py() { "$PY" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url='$EP')
$1" "${@:2}"; }
s3py 's3.create_bucket(Bucket="bench")'
rm_prefix() { # delete every key under a prefix of the bench bucket (not timed)
	s3py 'p = sys.argv[1]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=p):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket="bench", Key=o["Key"])' "$1"
}

# ---- measuring --------------------------------------------------------------------------------
csv=$out/results.csv
echo "case,size,tool,round,seconds,rss_kb" >"$csv"
t() { # case size tool round command...: one timed run, appended to the CSV
	local c=$1 n=$2 tool=$3 r=$4; shift 4
	if ! /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/cmd.out" 2>&1; then
		log "FAILED: $tool ($c $n): $(tail -5 "$work/cmd.out")"; return 1
	fi
	read -r sec rss <"$work/time"
	echo "$c,$n,$tool,$r,$sec,$rss" >>"$csv"
	log "$c $n round $r: $tool ${sec}s ${rss}KB"
}
IFS=, read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
	[ -f "$work/store-$n.db" ] || { log "store: $n licenses"; "$GEN" --store "$work/store-$n.db" --count "$n" --seed 1 >/dev/null; }
done
[ -f "$work/big256" ] || head -c $((256 << 20)) /dev/urandom >"$work/big256"

backup_pair() { # size round first
	local n=$1 r=$2 s=$work/store-$n.db
	lvb() { rm_prefix "set-$n/"; t backup "$n" licvault "$r" "$LV" -q --config "$cfg" --store "$s" backup "s3://bench/set-$n"; }
	awb() { rm_prefix "store-$n.db"; t backup "$n" "aws s3 cp" "$r" "$AWS" --endpoint-url "$EP" s3 cp --only-show-errors "$s" "s3://bench/store-$n.db"; }
	if [ "$3" = lv ]; then lvb; awb; else awb; lvb; fi
}
restore_pair() {
	local n=$1 r=$2 d=$work/dl-$n
	lvr() { rm_prefix "set-$n/licvault-registry-"; rm -f "$work/r.db"*
		t restore "$n" licvault "$r" "$LV" -q --config "$cfg" --store "$work/r.db" restore --individualize "s3://bench/set-$n"; }
	awr() { rm -rf "$d" "$work/r2.db"*; rm_prefix "set-$n/licvault-registry-"
		t restore "$n" "aws download" "$r" "$AWS" --endpoint-url "$EP" s3 cp --only-show-errors --recursive "s3://bench/set-$n/" "$d"
		t restore "$n" "local restore" "$r" "$LV" -q --config "$cfg" --store "$work/r2.db" restore --individualize "file://$d"; }
	if [ "$3" = lv ]; then lvr; awr; else awr; lvr; fi
}
large_pair() {
	local r=$1
	lvp() { t put 256MiB licvault "$r" "$LVOBJ" --config "$cfg" put "$work/big256" s3://bench/large lv.obj; }
	awp() { t put 256MiB "aws s3 cp" "$r" "$AWS" --endpoint-url "$EP" s3 cp --only-show-errors "$work/big256" s3://bench/large/aws.obj; }
	lvg() { rm -f "$work/get.lv"; t get 256MiB licvault "$r" "$LVOBJ" --config "$cfg" get s3://bench/large lv.obj "$work/get.lv"; }
	awg() { rm -f "$work/get.aws"; t get 256MiB "aws s3 cp" "$r" sh -c "$AWS --endpoint-url $EP s3 cp --only-show-errors s3://bench/large/aws.obj '$work/get.aws' && sync '$work/get.aws'"; }
	rm_prefix large/
	if [ "$2" = lv ]; then lvp; awp; lvg; awg; else awp; lvp; awg; lvg; fi
	cmp "$work/big256" "$work/get.lv" && cmp "$work/big256" "$work/get.aws"
	rm_prefix large/
}
log "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	first=$([ $((r % 2)) = 1 ] && echo lv || echo aws)
	for n in "${size_list[@]}"; do
		backup_pair "$n" "$r" "$first"
		restore_pair "$n" "$r" "$first"
	done
	large_pair "$r" "$first"
	rm_prefix store-
done

# ---- the figures ------------------------------------------------------------------------------
"$PY" - "$csv" "$out/results.txt" "$(git -C "$root" rev-parse --short HEAD)" "$(nproc)" "$("$AWS" --version 2>&1)" <<'EOF'
import csv, statistics, sys, time
rows = list(csv.DictReader(open(sys.argv[1])))
med = {}
for key in {(r["case"], r["size"], r["tool"]) for r in rows}:
    sel = [r for r in rows if (r["case"], r["size"], r["tool"]) == key]
    med[key] = (statistics.median(float(r["seconds"]) for r in sel), max(int(r["rss_kb"]) for r in sel), len(sel))
out = ["licvault s3 benchmark, %s, commit %s, %s CPUs; RADOS Gateway 16.2.15 (memstore) on 127.0.0.1; %s"
       % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), sys.argv[3], sys.argv[4], sys.argv[5].split()[0]), ""]
for key in sorted(med):
    s, rss, k = med[key]
    out.append("%-8s %-8s %-14s median %7.2f s   peak RSS %7.1f MiB   (%d runs)" % (key[0], key[1], key[2], s, rss / 1024, k))
out.append("")
def ratio(label, num, den, target, higher_better=False):
    if num is None or den is None:
        return
    r = num / den
    ok = (r >= target) if higher_better else (r <= target)
    out.append("%-58s %5.2fx  target %s %.1fx  %s" % (label, r, ">=" if higher_better else "<=", target, "met" if ok else "MISSED"))
sizes = sorted({int(r["size"]) for r in rows if r["size"].isdigit()})
for n in sizes:
    g = lambda c, t: med.get((c, str(n), t), (None,))[0]
    ratio("backup %d: licvault / aws s3 cp of the store" % n, g("backup", "licvault"), g("backup", "aws s3 cp"), 1.2)
    dl, lr = g("restore", "aws download"), g("restore", "local restore")
    ratio("restore %d: licvault / (aws download + local restore)" % n, g("restore", "licvault"),
          dl + lr if dl is not None and lr is not None else None, 1.2)
g = lambda c, t: med.get((c, "256MiB", t), (None,))[0]
if g("put", "licvault"):
    ratio("256 MiB put: licvault throughput / aws s3 cp", g("put", "aws s3 cp"), g("put", "licvault"), 0.9, True)
    ratio("256 MiB get: licvault throughput / aws s3 cp (+ sync)", g("get", "aws s3 cp"), g("get", "licvault"), 0.9, True)
rss = {n: max(med.get((c, str(n), "licvault"), (0, 0))[1] for c in ("backup", "restore")) for n in sizes}
for n in sizes:
    out.append("peak RSS of licvault backup/restore at %d licenses: %.1f MiB (target <= 64 MiB)" % (n, rss[n] / 1024))
if len(sizes) >= 2 and rss[sizes[0]]:
    out.append("RSS growth %d -> %d licenses: %.2fx (flat: about 1x)" % (sizes[0], sizes[-1], rss[sizes[-1]] / rss[sizes[0]]))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
