#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# meshdns -t: the shipped config passes; every class of config error fails
# with exit 1 and "FILE:LINE: KEYPATH: message" naming the right line and
# key. Also -V, -h and bad command lines.
#
# Each fixture marks the line the error must be reported on with "// ERR"
# (or "// ERR2", "// ERR3" for a second and third error); the expected line
# number is computed from the fixture, never typed in.

. "$(dirname "$0")/lib.sh"

OUT=$TMP/stdout
ERR=$TMP/stderr

# run_meshdns ARGS...: run meshdns (bounded), stdout/stderr to $OUT/$ERR,
# status in $RC.
run_meshdns() {
	LAST_CMD="$MESHDNS $*"
	timeout 20 "$MESHDNS" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	DIG="$(printf 'exit status %s\n--- stdout:\n%s\n--- stderr:\n%s' "$RC" "$(cat "$OUT")" "$(cat "$ERR")")"
}

# marker_line FILE MARKER: the line number holding "// MARKER" at its end
marker_line() {
	local n
	n=$(grep -nE "// $2\$" "$1" | cut -d: -f1)
	[ "$(count_lines "$n")" = 1 ] || hard_error "fixture $1 needs exactly one '// $2' line"
	printf '%s' "$n"
}

# has_error_line FILE LINE KEYPATH...: does $ERR hold a line that starts with
# "FILE:LINE: KEYPATH: " for one of the KEYPATHs?
has_error_line() {
	local file=$1 line=$2 key l
	shift 2
	while IFS= read -r l; do
		for key in "$@"; do
			[[ $l == "$file:$line: $key: "?* ]] && return 0
		done
	done <"$ERR"
	return 1
}

# expect_config_error NAME MARKER KEYPATH... <<EOF fixture EOF
# One error expected: exit 1, an error line for the marked line and key,
# and every stderr line an error line for this file.
expect_config_error() {
	local name=$1 marker=$2 f line
	shift 2
	f=$TMP/$name.conf
	cat >"$f"
	line=$(marker_line "$f" "$marker") || hard_error "bad fixture $name"
	run_meshdns -t -c "$f"
	expect_eq "$RC" 1 "$name: meshdns -t exits 1"
	if has_error_line "$f" "$line" "$@"; then
		ok "$name: stderr has '$f:$line: $1: ...'"
	else
		fail "$name: stderr lacks '$f:$line: $1: ...'"
	fi
	_only_error_lines "$name" "$f" 1
}

# _only_error_lines NAME FILE N: stderr has exactly N "FILE:LINE: ..." lines
# (one per error; a summary line of another form is fine)
_only_error_lines() {
	local n l
	n=0
	while IFS= read -r l; do
		[[ $l == "$2:"* ]] || continue
		l=${l#"$2:"}
		[[ $l =~ ^[0-9]+:\  ]] && n=$((n + 1))
	done <"$ERR"
	if [ "$n" = "$3" ]; then
		ok "$1: $3 'FILE:LINE: ...' line(s) on stderr"
	else
		fail "$1: want exactly $3 'FILE:LINE: ...' line(s) on stderr, got $n"
	fi
}

# ---------------------------------------------------------------- command line

SHIPPED=$SRCDIR/etc/meshdns.conf
if [ -f "$SHIPPED" ]; then
	run_meshdns -t -c "$SHIPPED"
	expect_eq "$RC" 0 "meshdns -t -c etc/meshdns.conf exits 0"
	expect_eq "$(cat "$ERR")" "" "meshdns -t on the shipped config prints no error"
else
	LAST_CMD="" fail "shipped config $SHIPPED is missing"
fi

VERSION=$(sed -n 's/^AC_INIT(\[meshdns\], *\[\([^]]*\)\].*/\1/p' "$SRCDIR/configure.ac")
[ -n "$VERSION" ] || hard_error "cannot read the version from $SRCDIR/configure.ac"
run_meshdns -V
expect_eq "$RC" 0 "meshdns -V exits 0"
expect_eq "$(head -n 1 "$OUT")" "meshdns $VERSION" "meshdns -V prints 'meshdns $VERSION' (configure.ac's version)"

run_meshdns -h
expect_eq "$RC" 0 "meshdns -h exits 0"
if grep -qi 'usage' "$OUT" "$ERR" && grep -q -- '-c' "$OUT" "$ERR" && grep -q -- '-t' "$OUT" "$ERR"; then
	ok "meshdns -h prints a usage naming -c and -t"
else
	fail "meshdns -h prints no usage naming -c and -t"
fi

for args in "-Z" "--no-such-option" "-c"; do
	# shellcheck disable=SC2086 # split on purpose
	run_meshdns $args
	if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then
		ok "meshdns $args exits $RC (1 or 2)"
	else
		fail "meshdns $args exits $RC, want 2 (or 1)"
	fi
	if grep -qi 'usage' "$ERR"; then ok "meshdns $args: usage on stderr"; else fail "meshdns $args: no usage on stderr"; fi
done

# A missing config file: named in the error, exit 1, with and without -t.
MISSING=$TMP/no-such-dir/missing.conf
run_meshdns -t -c "$MISSING"
expect_eq "$RC" 1 "meshdns -t -c MISSING exits 1"
check "meshdns -t -c MISSING names the file" grep -qF -- "$MISSING" "$ERR"
run_meshdns -c "$MISSING"
expect_eq "$RC" 1 "meshdns -c MISSING (no -t) exits 1"
check "meshdns -c MISSING names the file" grep -qF -- "$MISSING" "$ERR"

# A directory is no config file.
run_meshdns -t -c "$TMP"
expect_eq "$RC" 1 "meshdns -t -c DIRECTORY exits 1"
check "meshdns -t -c DIRECTORY names it" grep -qF -- "$TMP" "$ERR"

# ---------------------------------------------------------------- valid configs

# Every option, both comment styles (also inside and around strings), two
# services of the same name in different namespaces.
cat >"$TMP/valid.conf" <<'EOF'
/* meshdns test config
   "not a key": 1, { unbalanced [ inside a comment
*/
{
  // "listen": "commented out, not a string",
  "listen": ["127.0.0.1:5353", "[::1]:5353"],   // UDP and TCP on each
  "domain": "mesh.local",        /* inline */ "ttl": 5,
  "negative_ttl": 5,
  "edns_buffer_size": 1232,
  "tcp_max_connections": 256, "tcp_idle_timeout_ms": 10000,
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"},
                 {"name": "dns", "port": 53, "protocol": "udp"} ],
      "endpoints": [ {"address": "10.0.0.1"},
                     {"address": "10.0.0.2", "hostname": "web-b", "zone": "z1", "weight": 100},
                     {"address": "fd00::1"} ] },
    { "name": "web", "namespace": "other", "ports": [], "endpoints": [ {"address": "10.9.9.9"} ] },
    { "name": "a-b-1", "namespace": "ns-2", "ports": [], "endpoints": [] }
  ]
}
// trailing comment
EOF
run_meshdns -t -c "$TMP/valid.conf"
expect_eq "$RC" 0 "valid config with comments and every option: meshdns -t exits 0"

# ---------------------------------------------------------------- unknown keys

expect_config_error unknown-top ERR bogus <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "bogus": 1, // ERR
  "services": []
}
EOF

expect_config_error unknown-service ERR 'services[0].nmae' <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "nmae": "web2", // ERR
      "endpoints": [ {"address": "10.0.0.1"} ] }
  ]
}
EOF

expect_config_error unknown-endpoint ERR 'services[0].endpoints[1].adress' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [
        {"address": "10.0.0.1"},
        {"address": "10.0.0.2", "adress": "10.0.0.3"} // ERR
      ] }
  ]
}
EOF

expect_config_error unknown-port ERR 'services[0].ports[0].protocl' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [
        {"name": "http", "port": 8080, "protocl": "tcp"} // ERR
      ],
      "endpoints": [] }
  ]
}
EOF

# ---------------------------------------------------------------- wrong types

expect_config_error type-ttl ERR ttl <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "domain": "mesh.local",
  "ttl": "5", // ERR
  "services": []
}
EOF

expect_config_error type-port ERR 'services[0].ports[0].port' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [
        {"name": "http", "port": "8080", "protocol": "tcp"} // ERR
      ], "endpoints": [] }
  ]
}
EOF

expect_config_error type-services ERR services <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "services": {} // ERR
}
EOF

expect_config_error type-listen ERR listen <<'EOF'
{

  "listen": "127.0.0.1:5353", // ERR
  "services": []
}
EOF

expect_config_error type-weight ERR 'services[0].endpoints[0].weight' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [
        {"address": "10.0.0.1", "weight": "heavy"} // ERR
      ] }
  ]
}
EOF

# ---------------------------------------------------------------- bad values

expect_config_error bad-address ERR 'services[0].endpoints[1].address' <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [ {"address": "10.0.0.1"},
        {"address": "10.0.0.300"}, // ERR
        {"address": "fd00::1"} ] }
  ]
}
EOF
check "bad-address: the message quotes the bad value" grep -qF '10.0.0.300' "$ERR"

expect_config_error bad-address6 ERR 'services[0].endpoints[0].address' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [
        {"address": "fd00::zz"} // ERR
      ] }
  ]
}
EOF

expect_config_error bad-port-0 ERR 'services[0].ports[0].port' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 0, "protocol": "tcp"}, // ERR
                 {"name": "https", "port": 8443, "protocol": "tcp"} ], "endpoints": [] }
  ]
}
EOF

expect_config_error bad-port-70000 ERR 'services[0].ports[1].port' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default",
      "endpoints": [],
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"},
                 {"name": "https", "port": 70000, "protocol": "tcp"} ] } // ERR
  ]
}
EOF

expect_config_error bad-protocol ERR 'services[0].ports[0].protocol' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [
        {"name": "http", "port": 8080, "protocol": "icmp"} // ERR
      ], "endpoints": [] }
  ]
}
EOF

expect_config_error bad-listen-port ERR 'listen[1]' <<'EOF'
{
  "listen": [
    "127.0.0.1:5353",
    "127.0.0.1:99999" // ERR
  ]
}
EOF

expect_config_error bad-listen-bracket ERR 'listen[0]' <<'EOF'
{
  "listen": [
    "[::1:5353", // ERR
    "127.0.0.1:5353"
  ]
}
EOF

expect_config_error bad-listen-text ERR 'listen[1]' <<'EOF'
{
  "listen": ["127.0.0.1:5353",
             "not an address"] // ERR
}
EOF

expect_config_error bad-service-name ERR 'services[0].name' <<'EOF'
{
  "services": [
    {
      "name": "Web_1", // ERR
      "namespace": "default", "ports": [],
      "endpoints": [ {"address": "10.0.0.1"} ] }
  ]
}
EOF

# ---------------------------------------------------------------- duplicates

expect_config_error dup-service ERR 'services[2]' 'services[2].name' 'services[2].namespace' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [ {"address": "10.0.0.1"} ] },
    { "name": "api", "namespace": "default", "ports": [], "endpoints": [] },
    { "name": "web", "namespace": "default", "ports": [], "endpoints": [ {"address": "10.0.0.2"} ] } // ERR
  ]
}
EOF

expect_config_error dup-key ERR ttl <<'EOF'
{
  "ttl": 5,
  "negative_ttl": 5,
  "ttl": 6, // ERR
  "services": []
}
EOF

expect_config_error dup-key-nested ERR 'services[0].endpoints[0].address' <<'EOF'
{
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [ {"address": "10.0.0.1",
                      "address": "10.0.0.2"} ] } // ERR
  ]
}
EOF

# ---------------------------------------------------------------- syntax errors

expect_config_error syntax-token ERR 'syntax error' <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "ttl": ], // ERR
  "services": []
}
EOF

expect_config_error syntax-missing-comma ERR 'syntax error' <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "ttl": 5 "negative_ttl": 5, // ERR
  "services": []
}
EOF

# Comments (a multi-line block comment, // lines with quotes and braces)
# must not shift the line count.
expect_config_error syntax-after-comments ERR 'syntax error' <<'EOF'
/*
 * "a": {
 *   "b": [
 * }
 */
{
  // "x": 1 }
  "listen": ["127.0.0.1:5353"], /* one
  two */ "ttl": 5,
  "domain": @ // ERR
}
EOF

# Unterminated input: file named, syntax error, exit 1 (line not asserted:
# the end of file is reported on the last line or the one after).
printf '{\n  "ttl": 5,\n  "services": [\n' >"$TMP/truncated.conf"
run_meshdns -t -c "$TMP/truncated.conf"
expect_eq "$RC" 1 "truncated: meshdns -t exits 1"
check "truncated: 'FILE:N: syntax error: ...' on stderr" grep -qE "^$TMP/truncated\.conf:[0-9]+: syntax error: " "$ERR"

: >"$TMP/empty.conf"
run_meshdns -t -c "$TMP/empty.conf"
expect_eq "$RC" 1 "empty file: meshdns -t exits 1"
check "empty file: the file is named" grep -qF "$TMP/empty.conf:" "$ERR"

# ---------------------------------------------------------------- several errors at once

F=$TMP/many.conf
cat >"$F" <<'EOF'
{
  "listen": ["127.0.0.1:5353"],
  "tll": 5, // ERR
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 0, "protocol": "tcp"} ], // ERR2
      "endpoints": [ {"address": "10.0.0.1"},
                     {"address": "300.0.0.1"} ] } // ERR3
  ]
}
EOF
run_meshdns -t -c "$F"
expect_eq "$RC" 1 "three errors: meshdns -t exits 1"
if has_error_line "$F" "$(marker_line "$F" ERR)" tll; then ok "three errors: unknown key reported"; else fail "three errors: unknown key 'tll' not reported on line $(marker_line "$F" ERR)"; fi
if has_error_line "$F" "$(marker_line "$F" ERR2)" 'services[0].ports[0].port'; then ok "three errors: bad port reported"; else fail "three errors: bad port not reported on line $(marker_line "$F" ERR2)"; fi
if has_error_line "$F" "$(marker_line "$F" ERR3)" 'services[0].endpoints[1].address'; then ok "three errors: bad address reported"; else fail "three errors: bad address not reported on line $(marker_line "$F" ERR3)"; fi
_only_error_lines "three errors" "$F" 3

finish
