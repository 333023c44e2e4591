#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target for SECONDS, starting from its
# committed corpus (tests/fuzz/corpus/TARGET), then merges into that corpus
# the inputs that reached code it did not. A crash, a leak, undefined
# behaviour or a broken property stops that target; its input is left in
# .output/fuzz/findings/ and copied into the corpus (fix it, keep it).
# Writes .output/fuzz/results.tsv: target, seconds, executions, corpus size,
# and what the run ended with, for docs/RELIABILITY.md.
#   tests/fuzz/run.sh SECONDS TARGET...
set -u
cd "$(dirname "$0")/../.."
seconds=${1:?seconds}
shift
out=.output/fuzz
mkdir -p "$out/findings"
results=$out/results.tsv
: >"$results"
failed=0
for target in "$@"; do
	bin=$out/$target corpus=tests/fuzz/corpus/$target
	[ -x "$bin" ] || { echo "fuzz: no target $target" >&2; failed=1; continue; }
	mkdir -p "$corpus"
	scratch=$(mktemp -d)
	log=$(mktemp)
	echo "fuzz: $target for ${seconds}s from $(ls "$corpus" | wc -l) inputs"
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/findings/$target-" "$scratch" "$corpus" >"$log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$status" -ne 0 ]; then
		grep -E 'ERROR|property failed|runtime error|Test unit written' "$log" | head -20
		for f in "$out/findings/$target-"*; do
			[ -e "$f" ] && cp "$f" "$corpus/" && echo "fuzz: kept $f in $corpus"
		done
		outcome="failed (exit $status)"
		failed=1
	else
		outcome=held
	fi
	# Keep what reached new code; -merge=1 adds those inputs alone.
	"$bin" -merge=1 "$corpus" "$scratch" >/dev/null 2>&1
	printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$seconds" "${execs:-0}" "$(ls "$corpus" | wc -l)" \
		"$outcome" >>"$results"
	echo "fuzz: $target: ${execs:-0} executions, $outcome, corpus $(ls "$corpus" | wc -l)"
	rm -rf "$scratch" "$log"
done

# docs/RELIABILITY.md's fuzzing section, from this run, when every target ran.
doc=docs/RELIABILITY.md
if [ "$#" -eq "$(ls tests/fuzz/fuzz_*.c | wc -l)" ] && [ -f "$doc" ]; then
	section=$(mktemp)
	{
		echo "<!-- fuzz: written by make fuzz -->"
		echo "\`make fuzz FUZZ_TIME=$seconds\` on $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r);"
		echo "libFuzzer, ASan and UBSan, one target after the other:"
		echo
		echo "| target | what it parses, and the property held | seconds | executions | per second | corpus | outcome |"
		echo "|---|---|---|---|---|---|---|"
		while IFS=$'\t' read -r target secs execs corpus outcome; do
			what=$(sed -n 's|^// FUZZ: ||p' "tests/fuzz/$target.c")
			echo "| \`$target\` | $what | $secs | $execs | $((execs / secs)) | $corpus | $outcome |"
		done <"$results"
		echo "<!-- /fuzz -->"
	} >"$section"
	scripts/doc-section.sh fuzz "$section" "$doc"
	rm -f "$section"
	echo "fuzz: $doc rewritten"
fi
exit $failed
