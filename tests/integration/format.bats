#!/usr/bin/env bats
# STYLE.md: kernel-based clang-format, checked with every test run.

load helpers

@test "every C source is clang-formatted (make format-check)" {
	run make -C "$ROOT" -s format-check
	echo "$output" | head -20
	[ "$status" -eq 0 ]
}
