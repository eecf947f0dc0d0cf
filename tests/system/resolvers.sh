#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# Real clients: drill and kdig agree with dig; the glibc stub resolver
# (getent, in a private network namespace with its own resolv.conf and
# meshdns on 127.0.0.1:53) resolves service names, also through the search
# list and over TCP.
#
# The namespace part needs root and `ip netns`; without them the test is
# reported as skipped (after the client comparison has run).

. "$(dirname "$0")/lib.sh"

CONFIG_BODY='
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.0.1"},
                     {"address": "10.0.0.2", "hostname": "web-b"},
                     {"address": "fd00::1"} ] },
    { "name": "api", "namespace": "default",
      "ports": [ {"name": "grpc", "port": 9000, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.1.1"} ] },
    { "name": "db", "namespace": "storage",
      "ports": [ {"name": "pg", "port": 5432, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.2.1"}, {"address": "fd00::2:1"} ] }
  ]'

WEB=web.default.svc.mesh.local

# ---------------------------------------------------------------- dig, kdig, drill

start_server <<EOF
{ "listen": [@LISTEN@], $CONFIG_BODY }
EOF

# sections TEXT SECTION: records of SECTION in a dig/kdig/drill output,
# normalised to "owner ttl TYPE rdata" (lowercase), sorted
sections() {
	printf '%s\n' "$1" | awk -v sec="$2" '
		$0 ~ "^;; " sec " SECTION:" { on = 1; next }
		on && /^[[:space:]]*$/ { on = 0 }
		on && !/^;/ {
			gsub(/[ \t]+/, " ")
			n = split($0, f, " ")
			line = tolower(f[1]) " " f[2] " " toupper(f[4])
			for (i = 5; i <= n; i++) line = line " " tolower(f[i])
			print line
		}' | sort
}
status_of() { printf '%s\n' "$1" | sed -nE 's/.*(status|rcode): ([A-Z]+).*/\2/p' | head -n 1; }

compare_tools() {
	local name=$1 type=$2 d k r sec
	d=$(dig @127.0.0.1 -p "$PORT" +norec +time=2 +tries=1 "$name" "$type" 2>&1)
	k=$(kdig @127.0.0.1 -p "$PORT" +norec +time=2 +retry=0 "$name" "$type" 2>&1)
	r=$(timeout 10 drill -p "$PORT" -o rd "$name" @127.0.0.1 "$type" 2>&1)
	DIG=$(printf -- '--- dig\n%s\n--- kdig\n%s\n--- drill\n%s' "$d" "$k" "$r")
	LAST_CMD="dig/kdig/drill $name $type"
	Q="$name $type"
	expect_eq "$(status_of "$k") $(status_of "$r")" "$(status_of "$d") $(status_of "$d")" "$Q: kdig and drill see dig's status ($(status_of "$d"))"
	for sec in ANSWER AUTHORITY ADDITIONAL; do
		expect_eq "$(sections "$k" $sec)" "$(sections "$d" $sec)" "$Q: kdig's $sec = dig's"
		expect_eq "$(sections "$r" $sec)" "$(sections "$d" $sec)" "$Q: drill's $sec = dig's"
	done
}

if command -v kdig >/dev/null 2>&1 && command -v drill >/dev/null 2>&1; then
	compare_tools "$WEB" A
	compare_tools "_http._tcp.$WEB" SRV
	compare_tools "db.storage.svc.mesh.local" AAAA
	compare_tools nosuch.default.svc.mesh.local A
	# and they see what the contract says, not just the same thing
	q "$WEB" A
	expect_rdata ANSWER A 10.0.0.1 10.0.0.2
	q "_http._tcp.$WEB" SRV
	expect_answer_count 3
else
	note "kdig or drill missing: skipping the client comparison"
fi

stop_server

# ---------------------------------------------------------------- glibc, in a network namespace

if [ "$(id -u)" != 0 ]; then
	finish_or_skip "glibc resolver checks need root (ip netns)"
fi
if ! command -v ip >/dev/null 2>&1 || ! command -v getent >/dev/null 2>&1; then
	finish_or_skip "ip or getent missing"
fi

NS=mdns-$$
ETC_NS=/etc/netns/$NS
made_etc_netns=0
[ -d /etc/netns ] || made_etc_netns=1
on_exit "ip netns del '$NS' 2>/dev/null; rm -rf '$ETC_NS'; [ $made_etc_netns = 1 ] && rmdir /etc/netns 2>/dev/null"
if ! ip netns add "$NS" 2>"$TMP/netns.err"; then
	note "ip netns add failed: $(cat "$TMP/netns.err")"
	finish_or_skip "cannot create a network namespace"
fi
ip netns exec "$NS" ip link set lo up || hard_error "cannot bring lo up in $NS"
# getaddrinfo's AI_ADDRCONFIG (getent ahostsv4/ahostsv6) asks for A or AAAA
# only when a non-loopback address of that family exists: give the
# namespace a veth pair with documentation addresses (it goes away with it).
ADDRCONFIG=0
if ip netns exec "$NS" ip link add mdv0 type veth peer name mdv1 2>/dev/null &&
	ip netns exec "$NS" ip link set mdv0 up &&
	ip netns exec "$NS" ip link set mdv1 up &&
	ip netns exec "$NS" ip addr add 192.0.2.1/24 dev mdv0 &&
	ip netns exec "$NS" ip addr add 2001:db8::1/64 dev mdv0 nodad; then
	ADDRCONFIG=1
else
	note "no veth in $NS: skipping the getent ahostsv4/ahostsv6 checks"
fi
mkdir -p "$ETC_NS" || finish_or_skip "cannot write $ETC_NS"

if [ -S /var/run/nscd/socket ] || [ -S /run/nscd/socket ]; then
	note "nscd is running: getent answers may come from its cache"
fi

# ip netns exec bind-mounts these over /etc/* for everything run inside
write_resolv_conf() {
	{
		echo "nameserver 127.0.0.1"
		echo "search default.svc.mesh.local svc.mesh.local mesh.local"
		echo "options ndots:5 timeout:2 attempts:1${1:+ $1}"
	} >"$ETC_NS/resolv.conf"
}
write_resolv_conf
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n' >"$ETC_NS/hosts"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$ETC_NS/nsswitch.conf"

listen='"127.0.0.1:53"'
ip netns exec "$NS" python3 "$PYTOOL" have-ipv6 | grep -q 1 && listen+=', "[::1]:53"'
printf '{ "listen": [%s], %s }\n' "$listen" "$CONFIG_BODY" >"$TMP/netns.conf"

SERVER_WRAP=(ip netns exec "$NS")
DNS_WRAP=(ip netns exec "$NS")
PORT=53
DOMAIN=mesh.local
launch_server "$TMP/netns.conf" || hard_error "meshdns did not start in $NS on 127.0.0.1:53"
_check_ready_logged

q "$WEB" A
expect_rdata ANSWER A 10.0.0.1 10.0.0.2

# addrs_of DB NAME: getent's addresses (first column), sorted, unique, in
# $ADDRS; its exit status in $GETENT_RC
addrs_of() {
	LAST_CMD="ip netns exec $NS getent $1 $2"
	DIG=$(timeout 30 ip netns exec "$NS" getent "$1" "$2" 2>&1)
	GETENT_RC=$?
	ADDRS=$(printf '%s\n' "$DIG" | awk 'NF { print $1 }' | sort -u)
}
expect_getent() {
	local db=$1 name=$2
	shift 2
	if [ "$ADDRCONFIG" = 0 ] && [[ $db == ahostsv? ]]; then return 0; fi
	addrs_of "$db" "$name"
	expect_eq "$ADDRS" "$(lines "$@")" "getent $db $name${RESOLV_NOTE:-} = $*"
}

RESOLV_NOTE=""
expect_getent ahostsv4 "$WEB" 10.0.0.1 10.0.0.2
expect_getent ahostsv6 "$WEB" fd00::1
expect_getent ahosts "$WEB" 10.0.0.1 10.0.0.2 fd00::1
addrs_of hosts "$WEB"
case $ADDRS in
10.0.0.1 | 10.0.0.2 | fd00::1) ok "getent hosts $WEB -> $ADDRS" ;;
*) fail "getent hosts $WEB -> '$ADDRS', want one of the service's addresses" ;;
esac
expect_getent ahostsv4 "web-b.$WEB" 10.0.0.2
expect_getent ahosts db.storage.svc.mesh.local 10.0.2.1 fd00::2:1

# short names, through the search list (ndots:5)
expect_getent ahostsv4 web 10.0.0.1 10.0.0.2
expect_getent ahosts web 10.0.0.1 10.0.0.2 fd00::1
expect_getent ahostsv4 api.default 10.0.1.1
expect_getent ahostsv4 db.storage 10.0.2.1
expect_getent ahostsv4 web-b.web 10.0.0.2
expect_getent ahostsv4 web.default.svc 10.0.0.1 10.0.0.2

# names that don't exist: not found (exit 2), quickly
for name in nosuch nosuch.default.svc.mesh.local; do
	start=$SECONDS
	addrs_of ahosts "$name"
	expect_eq "$GETENT_RC" 2 "getent ahosts $name: not found (exit 2)"
	expect_le $((SECONDS - start)) 5 "getent ahosts $name: answered without timeouts"
done

# over TCP (use-vc) and with EDNS0
write_resolv_conf use-vc
RESOLV_NOTE=" (use-vc)"
expect_getent ahosts "$WEB" 10.0.0.1 10.0.0.2 fd00::1
expect_getent ahostsv4 api.default 10.0.1.1
write_resolv_conf edns0
RESOLV_NOTE=" (edns0)"
expect_getent ahosts "$WEB" 10.0.0.1 10.0.0.2 fd00::1
expect_getent ahostsv4 db.storage 10.0.2.1

check_alive "the glibc resolver checks"
finish
