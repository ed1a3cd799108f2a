#!/bin/sh
# Fuzz the bundle container reader for longer than the test suite's smoke round.
#   tests/fuzz/run.sh [BUILD_DIR] [SECONDS]     (default: build-bundle, 600)
# Finds go to BUILD_DIR/fuzz/crashes/; the corpus grows in BUILD_DIR/fuzz/corpus/.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-bundle}
secs=${2:-600}
bin=$build/fuzz/fuzz_bundle
if [ ! -x "$bin" ]; then
	mkdir -p "$build/fuzz"
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
		-I"$here/../../include" -I"$here/../../drivers/bundle" \
		"$here/fuzz_bundle.c" "$here/../../drivers/bundle/container.c" -lz -lpthread -o "$bin"
fi
mkdir -p "$build/fuzz/corpus" "$build/fuzz/crashes"
exec "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=512 -timeout=10 \
	-artifact_prefix="$build/fuzz/crashes/" "$build/fuzz/corpus" "$here/corpus"
