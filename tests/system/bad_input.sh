#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# Malformed and unexpected packets: FORMERR when the header is readable
# (ID echoed, QR=1), silence for runts and responses, NOTIMP for other
# opcodes, REFUSED for zone transfers. The daemon must answer normally
# after every one, and survive random garbage.

. "$(dirname "$0")/lib.sh"

start_server <<'EOF'
{
  "listen": [@LISTEN@],
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.0.1"}, {"address": "10.0.0.2"} ] }
  ]
}
EOF

WEB=web.default.svc.mesh.local
QTAIL=$(hex16 1)$(hex16 1)	# QTYPE A, QCLASS IN

# raw CASE [--tcp] HEX: send one packet, the reply summary in $DIG
raw() {
	local name=$1
	shift
	LAST_CMD="dnstool send $* (127.0.0.1:$PORT)"
	DIG=$(py send --timeout 1 "${@:1:$#-1}" 127.0.0.1 "$PORT" "${!#}" 2>&1)
	Q=$name
}

# field NAME: a field of the summary in $DIG ("" when absent)
field() { [[ " $DIG " =~ \ $1=([^ ]+)\  ]] && printf '%s' "${BASH_REMATCH[1]}"; }

# expect_reply ID RCODE [OPCODE]: a response (QR=1) with that ID and RCODE
expect_reply() {
	if [[ $DIG != id=* ]]; then
		fail "$Q: no reply ($DIG), want $2 with id $1"
		return
	fi
	expect_eq "$(field id)" "$(($1))" "$Q: reply ID echoes the query ID"
	expect_eq "$(field qr)" 1 "$Q: QR=1"
	expect_eq "$(field rcode)" "$2" "$Q: rcode $2"
	if [ -n "${3:-}" ]; then
		expect_eq "$(field opcode)" "$3" "$Q: opcode $3 echoed"
	fi
}
expect_no_reply() {
	if [ "$DIG" = noreply ]; then ok "$Q: dropped (no reply)"; else fail "$Q: got '$DIG', want no reply"; fi
}

# ---------------------------------------------------------------- FORMERR

ID=0x1234
# header says one question, then bytes that are no name: 0xde is a
# compression pointer (top bits 11) to far beyond the packet
raw "garbage after a header" "$(hexhdr $ID 0 1 0 0 0)deadbeefdeadbeefdeadbeefdeadbeef"
expect_reply $ID FORMERR
check_alive "garbage"

raw "truncated qname" "$(hexhdr 0x2001 0 1 0 0 0)03776562"	# \3web, no end
expect_reply 0x2001 FORMERR
check_alive "a truncated qname"

raw "qname without qtype/qclass" "$(hexhdr 0x2002 0 1 0 0 0)$(hexname "$WEB")00"
expect_reply 0x2002 FORMERR
check_alive "a truncated question"

raw "QDCOUNT=0" "$(hexhdr 0x2003 0 0 0 0 0)"
expect_reply 0x2003 FORMERR
check_alive "an empty question section"

raw "QDCOUNT=2" "$(hexhdr 0x2004 0 2 0 0 0)$(hexname "$WEB")$QTAIL$(hexname "$WEB")$QTAIL"
expect_reply 0x2004 FORMERR
check_alive "two questions"

raw "QDCOUNT=2 with one question present" "$(hexhdr 0x2005 0 2 0 0 0)$(hexname "$WEB")$QTAIL"
expect_reply 0x2005 FORMERR
check_alive "a missing second question"

raw "pointer to itself" "$(hexhdr 0x2006 0 1 0 0 0)c00c$QTAIL"
expect_reply 0x2006 FORMERR
check_alive "a pointer loop"

raw "two pointers in a loop" "$(hexhdr 0x2007 0 1 0 0 0)03666f6fc012c00c$QTAIL"	# 12: \3foo ->18, 18: ->12
expect_reply 0x2007 FORMERR
check_alive "a two-pointer loop"

# a forward pointer (to the name after the question): RFC 1035 says
# pointers refer to "a prior occurrence"; FORMERR or an answer are both fine
raw "forward pointer" "$(hexhdr 0x2008 0 1 0 0 0)c012$QTAIL$(hexname "$WEB")"
if [[ $DIG == id=8200\ qr=1\ * ]] && [[ " $DIG " =~ \ rcode=(FORMERR|NOERROR)\  ]]; then
	ok "$Q: $(field rcode), ID echoed"
else
	fail "$Q: got '$DIG', want FORMERR or NOERROR with id 8200"
fi
check_alive "a forward pointer"

long=$(printf 'a%.0s' $(seq 64))
raw "64-octet label" "$(hexhdr 0x2009 0 1 0 0 0)40$(hexstr "$long")$(hexname "$WEB")$QTAIL"
expect_reply 0x2009 FORMERR
check_alive "an oversized label"

l63=$(printf 'b%.0s' $(seq 63))
raw "name longer than 255 octets" "$(hexhdr 0x200a 0 1 0 0 0)$(hexname "$l63.$l63.$l63.$l63.$WEB")$QTAIL"
expect_reply 0x200a FORMERR
check_alive "a 300-octet name"

raw "truncated OPT" "$(hexhdr 0x200b 0 1 0 0 1)$(hexname "$WEB")${QTAIL}0000291000"
expect_reply 0x200b FORMERR
check_alive "a truncated OPT record"

raw "two OPT records" "$(hexhdr 0x200c 0 1 0 0 2)$(hexname "$WEB")$QTAIL$(hexopt)$(hexopt)"
# RFC 6891 6.1.1: more than one OPT -> FORMERR
expect_reply 0x200c FORMERR
check_alive "two OPT records"

raw "ARCOUNT=1, no record" "$(hexhdr 0x200d 0 1 0 0 1)$(hexname "$WEB")$QTAIL"
expect_reply 0x200d FORMERR
check_alive "a missing additional record"

# ---------------------------------------------------------------- odd but valid names

# labels are binary: a "." or a NUL inside a label is no separator
raw "label with a dot" "$(hexhdr 0x2101 0 1 0 0 0)0b$(hexstr web.default)$(hexname svc.mesh.local)$QTAIL"
expect_reply 0x2101 NXDOMAIN
raw "label with a NUL" "$(hexhdr 0x2102 0 1 0 0 0)04$(hexstr web)00$(hexname default.svc.mesh.local)$QTAIL"
expect_reply 0x2102 NXDOMAIN
check_alive "names with odd labels"

# ---------------------------------------------------------------- dropped

raw "11-byte packet" "$(hexhdr 0x3001 0 1 0 0 0 | cut -c1-22)"
expect_no_reply
check_alive "a runt"

raw "empty datagram" ""
expect_no_reply
check_alive "an empty datagram"

raw "1-byte packet" "ff"
expect_no_reply
check_alive "a 1-byte packet"

raw "a response (QR=1)" "$(hexhdr 0x3002 0x8400 1 0 0 0)$(hexname "$WEB")$QTAIL"
expect_no_reply
check_alive "a response packet"

raw "a response (QR=1) with garbage" "$(hexhdr 0x3003 0x8000 1 0 0 0)deadbeef"
expect_no_reply
check_alive "a garbage response packet"

# ---------------------------------------------------------------- NOTIMP

for op in 1 2 3 4 5 15; do
	id=$((0x4000 + op))
	raw "opcode $op" "$(hexhdr $id $((op << 11)) 1 0 0 0)$(hexname "$WEB")$QTAIL"
	expect_reply $id NOTIMP $op
done
# NOTIFY (4) with the AA flag, as a primary would send it
raw "NOTIFY for the zone" "$(hexhdr 0x4100 $(((4 << 11) | 0x400)) 1 0 0 0)$(hexname mesh.local)$(hex16 6)$(hex16 1)"
expect_reply 0x4100 NOTIMP 4
check_alive "other opcodes"

# ---------------------------------------------------------------- zone transfers

raw "AXFR over UDP" "$(hexhdr 0x5001 0 1 0 0 0)$(hexname mesh.local)$(hex16 252)$(hex16 1)"
expect_reply 0x5001 REFUSED
raw "IXFR over UDP" "$(hexhdr 0x5002 0 1 0 0 0)$(hexname mesh.local)$(hex16 251)$(hex16 1)"
expect_reply 0x5002 REFUSED
raw "AXFR over TCP" --tcp "$(hexhdr 0x5003 0 1 0 0 0)$(hexname mesh.local)$(hex16 252)$(hex16 1)"
expect_reply 0x5003 REFUSED
check_alive "zone transfer requests"

# ---------------------------------------------------------------- TCP

raw "TCP: garbage after a header" --tcp "$(hexhdr 0x6001 0 1 0 0 0)deadbeefdeadbeef"
expect_reply 0x6001 FORMERR
raw "TCP: QDCOUNT=2" --tcp "$(hexhdr 0x6002 0 2 0 0 0)$(hexname "$WEB")$QTAIL$(hexname "$WEB")$QTAIL"
expect_reply 0x6002 FORMERR
raw "TCP: a response (QR=1)" --tcp "$(hexhdr 0x6003 0x8400 1 0 0 0)$(hexname "$WEB")$QTAIL"
if [ "$DIG" = eof ] || [ "$DIG" = noreply ]; then ok "$Q: no reply ($DIG)"; else fail "$Q: got '$DIG', want no reply"; fi
raw "TCP: 5-byte message" --tcp "0102030405"
if [ "$DIG" = eof ] || [ "$DIG" = noreply ]; then ok "$Q: no reply ($DIG)"; else fail "$Q: got '$DIG', want no reply"; fi
raw "TCP: zero length prefix" --rawtcp "0000"
if [ "$DIG" = eof ] || [ "$DIG" = noreply ]; then ok "$Q: no reply ($DIG)"; else fail "$Q: got '$DIG', want no reply"; fi
raw "TCP: length beyond the data, then close" --rawtcp "ffff0102"
check_alive "malformed TCP input"

# ---------------------------------------------------------------- fuzz

SEED=${FUZZ_SEED:-$$}
note "fuzz seed $SEED (rerun with FUZZ_SEED=$SEED)"
for mode in random mutate; do
	LAST_CMD="dnstool fuzz 127.0.0.1 $PORT 1000 $SEED $mode"
	DIG=$(py fuzz 127.0.0.1 "$PORT" 1000 "$SEED" "$mode" 2>&1)
	Q="1000 $mode packets"
	note "$DIG"
	expect_contains ' unexpected=0$' "$Q: every reply is a response to an answerable packet"
	check_alive "1000 $mode packets"
done

LAST_CMD="dnstool tcpfuzz 127.0.0.1 $PORT 100 $SEED"
DIG=$(py tcpfuzz 127.0.0.1 "$PORT" 100 "$SEED" 2>&1)
Q="100 garbage TCP connections"
expect_contains '^done$' "$Q: sent"
check_alive "100 garbage TCP connections"

# a normal answer, as a last word
q "$WEB" A
expect_rcode NOERROR
expect_rdata ANSWER A 10.0.0.1 10.0.0.2

finish
