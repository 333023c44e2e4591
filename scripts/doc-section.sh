#!/usr/bin/env bash
# Puts the text of FILE into DOC between "<!-- NAME: ..." and "<!-- /NAME -->",
# the section a measuring command owns (make fuzz, make torture, make soak),
# replacing what was there; a document without the section gets it at its end.
# FILE's first line is the opening marker, its last the closing one.
#   scripts/doc-section.sh NAME FILE DOC
set -eu
name=$1 file=$2 doc=$3
if grep -q "^<!-- $name:" "$doc"; then
	perl -0pi -e 'BEGIN { $name = shift @ARGV; local $/; open my $f, "<", shift @ARGV or die; $new = <$f> }
		s/<!-- \Q$name\E:.*?<!-- \/\Q$name\E -->\n/$new/s or die "$ARGV: no end to section $name\n"' \
		"$name" "$file" "$doc"
else
	{ echo; cat "$file"; } >>"$doc"
fi
