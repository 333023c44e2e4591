#!/usr/bin/env bash
# make torture: np-torture over every mode, FRAMES frames each from SEED, the
# first DIFF frames of monitor mode compared with tshark; then the table in
# docs/RELIABILITY.md, when everything held.
#   tests/torture/run.sh FRAMES SEED DIFF
set -u
cd "$(dirname "$0")/../.."
frames=${1:?frames} seed=${2:?seed} diff=${3:?diff}
out=.output/torture
mkdir -p "$out"
results=$out/results.tsv
echo "torture: $frames frames a mode, seed $seed, $diff compared with tshark"
.output/tests/np-torture --frames "$frames" --seed "$seed" --diff "$diff" --keep "$out" \
	| tee "$results"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
	echo "torture: FAILED; np-torture --frames $frames --seed $seed --diff $diff makes the same frames"
	exit "$status"
fi

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
	echo "<!-- torture: written by make torture -->"
	echo "\`make torture TORTURE_FRAMES=$frames TORTURE_SEED=$seed TORTURE_DIFF=$diff\` on" \
		"$(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r); each frame through XDP, TC ingress and"
	echo "TC egress (seconds: all three), the first $diff of monitor mode compared with tshark $(tshark --version 2>/dev/null | sed -n '1s/.*(Wireshark) \([^ ]*\).*/\1/p'):"
	echo
	echo "| mode | frames | seconds | XDP pass | drop | tx | redirect | aborted | failed runs | compared with tshark (parsed as IP) | differing | outcome |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	tail -n +2 "$results" | while IFS=$'\t' read -r mode n _ secs pass drop tx redir aborted errors dframes dip dmis outcome _; do
		compared=-
		[ "$dframes" -gt 0 ] && compared="$dframes ($dip)"
		echo "| $mode | $n | $secs | $pass | $drop | $tx | $redir | $aborted | $errors | $compared | $dmis | $outcome |"
	done
	echo
	echo "What the frames reached, from netprobe's own counters:"
	echo
	tail -n +2 "$results" | while IFS=$'\t' read -r mode _ _ _ _ _ _ _ _ _ _ _ _ _ reached; do
		echo "- $mode: $reached"
	done
	echo "<!-- /torture -->"
} >"$section"
scripts/doc-section.sh torture "$section" docs/RELIABILITY.md
echo "torture: docs/RELIABILITY.md rewritten"
