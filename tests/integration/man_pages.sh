#!/usr/bin/env bash
# man_pages.sh - the manual pages in man/ are valid mdoc (groff -mdoc with
# every warning on says nothing) and name every option their program's
# --help lists: vblkd's, vblkctl's and vblk-csi's options, vnetctl's objects.
source "$(dirname "$0")/lib.sh"
vp_init man
vp_require_cmd groff
MAN="$VP_SOURCE/man"
for page in vblkd vblkctl vnetctl vnet-cni vblk-csi; do
	[[ -f "$MAN/$page.8" ]] || vp_fail "man/$page.8 missing"
	out="$(groff -mdoc -Tutf8 -z -w all -ww "$MAN/$page.8" 2>&1)"
	[[ -z "$out" ]] || vp_fail "$page.8: groff warns: $out"
	# Rendered at 80 columns, no line may overflow ("can't break line").
	out="$(groff -mdoc -Tutf8 -w all -rLL=78n "$MAN/$page.8" 2>&1 >/dev/null)"
	[[ -z "$out" ]] || vp_fail "$page.8: groff warns when rendering: $out"
done
vp_ok "vblkd.8, vblkctl.8, vnetctl.8, vnet-cni.8, vblk-csi.8: mdoc without a warning"

# rendered PAGE: the page as text, hyphenation and line breaks undone.
rendered() { groff -mdoc -Tascii -P-c -rHY=0 "$MAN/$1.8" 2>/dev/null | sed 's/\x08.//g' | tr -s ' \n' '  '; }
for prog in vblkd vblkctl vblk-csi; do
	bin="$VP_BUILD/bin/$prog"
	[[ -x "$bin" ]] || vp_skip "$prog not built ($bin)"
	text="$(rendered "$prog")"
	opts="$("$bin" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u)"
	[[ -n "$opts" ]] || vp_fail "$prog --help lists no option"
	for o in $opts; do
		grep -qF -- "$o" <<<"$text" || vp_fail "$prog.8 does not document $o (in $prog --help)"
	done
	vp_ok "$prog.8 documents every option of $prog --help ($(wc -w <<<"$opts"))"
done
text="$(rendered vnetctl)"
objects="$("$VP_BUILD/bin/vnetctl" --help | awk '/^objects:/ {on = 1; next} on && NF == 0 {on = 0} on {print $1}')"
[[ -n "$objects" ]] || vp_fail "vnetctl --help lists no object"
for o in $objects; do
	grep -qw -- "$o" <<<"$text" || vp_fail "vnetctl.8 does not list the object $o"
done
vp_ok "vnetctl.8 lists every object of vnetctl --help ($(wc -w <<<"$objects"))"
