#!/usr/bin/env bash
# make faults: every injected fault of docs/RELIABILITY.md, each by the test
# that injects it (tests/faults/faults.bats, or where its feature is tested),
# run now; then the table of faults and outcomes in docs/RELIABILITY.md,
# when every one held.
set -u
cd "$(dirname "$0")/../.."

# fault | test file | the test's name (a part of it)
faults=(
	"SIGKILL at random points of attach and detach|tests/faults/faults.bats|SIGKILL at random points of attach and detach"
	"SIGKILL during a list load and lb changes|tests/faults/faults.bats|SIGKILL while a list loads or services change"
	"SIGKILL part way through list batches, and their recoveries|.output/tests/test_filter|test_batch_killed_is_whole"
	"SIGKILL at every point of list changes over mitigation blocks and TTLs|.output/tests/test_filter|test_change_killed_with_blocks"
	"SIGKILL at every point of the sweep of expired entries|.output/tests/test_filter|test_sweep_killed"
	"the kernel refusing to rewrite a lookup word (ENOMEM)|.output/tests/test_filter|test_refused_word_keeps_change_open"
	"SIGKILL of the daemon during reloads|tests/faults/faults.bats|the daemon killed with SIGKILL during reloads"
	"SIGKILL of the daemon, then a restart|tests/integration/daemon.bats|a restart, also after kill -9"
	"the interface deleted while attached|tests/integration/cli.bats|an interface deleted while attached"
	"the interface deleted while the daemon runs|tests/integration/daemon.bats|an interface of the config deleted and made again"
	"bpffs missing, or unmounted underneath|tests/faults/faults.bats|bpffs missing, or unmounted underneath"
	"two processes changing lists or services at once|tests/faults/faults.bats|two processes changing the lists, or the services, at once"
	"two attach commands at once|tests/integration/cli.bats|two attach commands at once"
	"the pin path's lock held by another process|tests/integration/trust.bats|a change waits a bounded time for the lock"
	"the ring buffer full (a slow reader)|.output/tests/test_events|test_slow_handler_accounts_for_everything"
	"the flow table full|tests/faults/faults.bats|a full flow table evicts"
	"the deny list and the mitigation pool full|.output/tests/test_filter|test_full_tables"
	"the lb tables full|.output/tests/test_lb|test_api_bad_input"
	"the lb connection table full (LRU eviction)|.output/tests/test_lb|test_drain_eviction"
	"the IPFIX collector gone (TCP), or late|tests/integration/ipfix.bats|records wait for a late collector and for one that went away"
	"the IPFIX collector not there (UDP)|tests/faults/faults.bats|a full flow table evicts"
	"Prometheus gone mid-scrape|tests/faults/faults.bats|scrapers that go away mid-request"
	"no room on disk for the pid file|tests/faults/faults.bats|no room for the pid file"
)

out=.output/faults
mkdir -p "$out"
declare -A files
for f in "${faults[@]}"; do
	IFS='|' read -r _ file _ <<<"$f"
	files[$file]=1
done
failed=0
for file in "${!files[@]}"; do
	log=$out/$(basename "$file").tap
	echo "faults: $file"
	tests/run.sh "$file" >"$log" 2>&1 || true
done
rows=$out/rows.md
: >"$rows"
for f in "${faults[@]}"; do
	IFS='|' read -r fault file name <<<"$f"
	log=$out/$(basename "$file").tap
	if grep -E "^ok [0-9]+ .*$(sed 's/[][\.*^$(){}+?|]/\\&/g' <<<"$name")" "$log" | grep -qvi '# skip'; then
		outcome=held
	else
		outcome=FAILED
		failed=1
	fi
	echo "faults: $fault: $outcome"
	echo "| $fault | \`$(basename "$file")\`: $name | $outcome |" >>"$rows"
done
[ "$failed" -eq 0 ] || {
	echo "faults: FAILED; the logs are in $out"
	exit 1
}
section=$out/section.md
{
	echo "<!-- faults: written by make faults -->"
	echo "\`make faults\` on $(date -u +%Y-%m-%d), $(uname -r): each fault injected by its test, run now."
	echo
	echo "| fault | injected by | outcome |"
	echo "|---|---|---|"
	cat "$rows"
	echo "<!-- /faults -->"
} >"$section"
scripts/doc-section.sh faults "$section" docs/RELIABILITY.md
echo "faults: docs/RELIABILITY.md rewritten"
