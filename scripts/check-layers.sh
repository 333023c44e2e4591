#!/usr/bin/env bash
# The library's layers (docs/ARCHITECTURE.md): each folder of src/ may use
# only the folders below it. Checked twice: what each file includes, and,
# in the built objects, which layer defines each symbol a file uses (a
# public netprobe_* function is reachable from anywhere through the public
# header, so only the objects tell). Prints every violation; exit 1 if any.
set -u
cd "$(dirname "$0")/.."
layers=(base config state iface programs attach features housekeeping facade)
rank() {
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}
layer_of() { # src/X/file.c -> X; src/file.c -> facade
	local rel=${1#src/}
	[[ $rel == */* ]] && echo "${rel%%/*}" || echo facade
}
bad=0
for f in src/*.[ch] src/*/*.[ch]; do
	own=$(rank "$(layer_of "$f")")
	if [ "$own" -lt 0 ]; then
		echo "$f: in no layer (src/ holds ${layers[*]})"
		bad=1
		continue
	fi
	# "layer/x.h", <layer/x.h>, "../layer/x.h", with any space after '#'.
	while read -r inc; do
		inc=${inc#../}
		dir=${inc%%/*}
		r=$(rank "$dir")
		if [ "$r" -gt "$own" ]; then
			echo "$f includes $inc: layer $dir is above $(layer_of "$f")"
			bad=1
		fi
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\(\(\.\.\/\)*[a-z_]*\/[^">]*\)[">].*/\1/p' "$f")
done

# The objects of today's sources (a stale one of a moved file is no layer's).
objs=()
for f in src/*.c src/*/*.c; do
	o=.output/lib/${f#src/}
	objs+=("${o%.c}.o")
done
for i in "${!objs[@]}"; do
	o=${objs[$i]}
	src=src/${o#.output/lib/}
	if [ ! -e "$o" ] || [ "$o" -ot "${src%.o}.c" ]; then
		echo "$o is missing or older than its source: build first (make all)"
		exit 1
	fi
done
declare -A defined_in
for o in "${objs[@]}"; do
	rel=${o#.output/lib/}
	for sym in $(nm --defined-only -g "$o" | awk '$2 ~ /[TDBR]/ {print $3}'); do
		defined_in[$sym]=$(layer_of "src/${rel%.o}.c")
	done
done
for o in "${objs[@]}"; do
	rel=${o#.output/lib/}
	user=$(layer_of "src/${rel%.o}.c")
	for sym in $(nm -u "$o" | awk '{print $2}'); do
		def=${defined_in[$sym]:-}
		[ -n "$def" ] || continue
		if [ "$(rank "$def")" -gt "$(rank "$user")" ]; then
			echo "src/${rel%.o}.c ($user) uses $sym of layer $def, above it"
			bad=1
		fi
	done
done

# Above the library: the daemon uses only its public API (no header of src/),
# the command uses the daemon and the library; nothing below looks up.
for f in daemon/*.[ch]; do
	if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(\.\./)*(src|cli)/|^[[:space:]]*#[[:space:]]*include[[:space:]]*"(base|config|state|iface|programs|attach|features|housekeeping)/' "$f"; then
		echo "$f includes the library's inside or the command: the daemon uses <netprobe/netprobe.h> only"
		bad=1
	fi
done
if grep -nE '#[[:space:]]*include[[:space:]]*"(\.\./)*(daemon|cli)/' src/*.[ch] src/*/*.[ch]; then
	echo "the library includes the daemon or the command: layers point down only"
	bad=1
fi
exit $bad
