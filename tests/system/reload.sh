#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# SIGHUP reloads the config (as `meshdns -h` documents): a valid new config
# takes effect; an invalid one is rejected with FILE:LINE errors in the log
# and the running config keeps serving.

. "$(dirname "$0")/lib.sh"

# (ttl stays the same: whether listen/domain/ttl reload is the daemon's call)
config() {	# config TTL SERVICES-JSON
	cat <<EOF
{
  "listen": [@LISTEN@],
  "ttl": $1,
  "services": [ $2 ]
}
EOF
}
WEB1='{ "name": "web", "namespace": "default", "ports": [], "endpoints": [ {"address": "10.0.0.1"} ] }'
WEB2='{ "name": "web", "namespace": "default", "ports": [], "endpoints": [ {"address": "10.0.0.9"}, {"address": "10.0.0.10"} ] }'
API='{ "name": "api", "namespace": "default", "ports": [], "endpoints": [ {"address": "10.0.1.1"} ] }'

start_server < <(config 5 "$WEB1")
WEB=web.default.svc.mesh.local
LISTEN="\"127.0.0.1:$PORT\""
[ "$HAVE_IPV6" = 1 ] && LISTEN+=", \"[::1]:$PORT\""

# rewrite CONFIG-TEXT: replace the running config file (same listeners)
rewrite() {
	local text
	text=$(cat)
	printf '%s\n' "${text//@LISTEN@/$LISTEN}" >"$CONF.new" && mv "$CONF.new" "$CONF"
}
# hup_until DIG-ARGS... -- EXPECTED: SIGHUP, then poll (5 s at most) until
# dig +short prints EXPECTED (sorted, space separated)
hup_until() {
	local args=() want i got
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	want=$2
	kill -HUP "$PID"
	for ((i = 0; i < 50; i++)); do
		got=$(dns "$PORT" +short "${args[@]}" 2>/dev/null | sort | tr '\n' ' ')
		[ "${got% }" = "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

q "$WEB" A
expect_rdata ANSWER A 10.0.0.1
q api.default.svc.mesh.local A
expect_rcode NXDOMAIN

# a valid change
rewrite < <(config 5 "$WEB2, $API")
if hup_until "$WEB" A -- "10.0.0.10 10.0.0.9"; then ok "SIGHUP: new endpoints served"; else fail "SIGHUP: new endpoints not served within 5 s"; fi
q "$WEB" A
expect_rdata ANSWER A 10.0.0.9 10.0.0.10
q api.default.svc.mesh.local A
expect_rcode NOERROR
expect_rdata ANSWER A 10.0.1.1
q 10-0-0-1.web.default.svc.mesh.local A
expect_rcode NXDOMAIN

# an invalid config: rejected, the running one stays
cat >"$CONF.bad" <<EOF
{
  "listen": [$LISTEN],
  "ttl": ],
  "services": []
}
EOF
mv "$CONF.bad" "$CONF"
kill -HUP "$PID"
for ((i = 0; i < 50; i++)); do
	grep -qF "$CONF:3: syntax error" "$LOG" && break
	sleep 0.1
done
LAST_CMD="" DIG=""
check "bad config on SIGHUP: '$CONF:3: syntax error' logged" grep -qF "$CONF:3: syntax error" "$LOG"
q "$WEB" A
expect_rdata ANSWER A 10.0.0.9 10.0.0.10
q api.default.svc.mesh.local A
expect_rdata ANSWER A 10.0.1.1

cat >"$CONF.bad" <<EOF
{
  "listen": [$LISTEN],
  "services": [
    { "name": "web", "namespace": "default", "ports": [],
      "endpoints": [ {"address": "10.0.0.300"} ] }
  ]
}
EOF
mv "$CONF.bad" "$CONF"
kill -HUP "$PID"
for ((i = 0; i < 50; i++)); do
	grep -qF "$CONF:5: services[0].endpoints[0].address:" "$LOG" && break
	sleep 0.1
done
check "invalid config on SIGHUP: '$CONF:5: services[0].endpoints[0].address: ...' logged" \
	grep -qF "$CONF:5: services[0].endpoints[0].address:" "$LOG"
q "$WEB" A
expect_rdata ANSWER A 10.0.0.9 10.0.0.10

# and a good one again
rewrite < <(config 5 "$WEB1")
if hup_until "$WEB" A -- "10.0.0.1"; then ok "SIGHUP after a rejected config: served"; else fail "SIGHUP after a rejected config: not served within 5 s"; fi
q api.default.svc.mesh.local A
expect_rcode NXDOMAIN

check_alive "four reloads"

# broken files reloaded while queries flow: every query answered with the
# running config's endpoints, none lost, none refused or failed
python3 "$SRCDIR/tests/system/flood.py" "$PORT" "$WEB" --sockets 8 --seconds 3 --window 8 \
	>"$TMP/flood.out" &
FLOODPID=$!
on_exit 'kill $FLOODPID 2>/dev/null'
for i in $(seq 1 20); do
	if ((i % 2)); then
		printf '{ "listen": [%s], "ttl": ], "services": [] }\n' "$LISTEN" >"$CONF.bad"
	else
		printf '{ "listen": [%s], "services": [ { "name": "web", "endpoints": [ {"address": "10.0.0.300"} ] } ] }\n' \
			"$LISTEN" >"$CONF.bad"
	fi
	mv "$CONF.bad" "$CONF"
	kill -HUP "$PID"
	sleep 0.1
done
wait "$FLOODPID"
out=$(cat "$TMP/flood.out")
note "under load, 20 broken reloads: $(echo "$out" | tr '\n' ' ')"
sent=$(awk '$1 == "sent" { print $2 }' <<<"$out")
expect_ge "$sent" 1000 "the load ran"
expect_eq "$(awk '$1 == "answered" { print $2 }' <<<"$out")" "$sent" "every query answered during 20 broken reloads"
expect_eq "$(awk '$1 == "rcode" || $1 == "set" { print $1, $2 }' <<<"$out" | tr '\n' ' ')" \
	"rcode NOERROR set 10.0.0.1 " "every answer NOERROR with the running config's endpoint"
check "each broken file was rejected" test "$(grep -c 'reload rejected' "$LOG")" -ge 20
check_alive "20 broken reloads under load"
finish
