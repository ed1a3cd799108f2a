#!/bin/sh
# The main job on the shipped example licenses: import them into a fresh
# store, back the store up to a local folder (restricted licenses are named),
# restore the backup into an empty store and list what it holds.
#   examples/demo.sh [BUILD_DIR]      (default: build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
lv="$build/cli/licvault"
work=$(mktemp -d "${TMPDIR:-/tmp}/licvault-demo-XXXXXX")
export LICVAULT_CONFIG=/dev/null   # the demo uses no config file
say() { printf '\n== %s\n' "$*"; }

say "import examples/licenses into a fresh store ($work/store.db)"
"$lv" --store "$work/store.db" store import "$top"/examples/licenses/*.lic
"$lv" --store "$work/store.db" store list

say "back up to file://$work/backup"
"$lv" --store "$work/store.db" backup -v "file://$work/backup"
ls -l "$work/backup"

say "verify the backup"
"$lv" verify "file://$work/backup"

say "restore into an empty store ($work/new.db) on this machine"
"$lv" --store "$work/new.db" restore --individualize "file://$work/backup"
"$lv" --store "$work/new.db" store list

n_old=$("$lv" --store "$work/store.db" --json store list | grep -c '"backup_allowed":true')
n_new=$("$lv" --store "$work/new.db" --json store list | wc -l)
say "the new store holds $n_new licenses; $n_old were allowed to be backed up"
[ "$n_new" -eq "$n_old" ]
rm -rf "$work"
