# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Shared helpers for the meshdns system tests. Source it, don't run it:
#
#	. "$(dirname "$0")/lib.sh"
#	start_server <<EOF
#	{ "listen": [@LISTEN@], "services": [ ... ] }
#	EOF
#	q web.default.svc.mesh.local A
#	expect_rcode NOERROR
#	finish
#
# Environment (set by `make check` through AM_TESTS_ENVIRONMENT; when a test
# is run by hand they are guessed from this file's location):
#	MESHDNS   absolute path of the meshdns binary
#	SRCDIR    absolute top source directory (read-only under distcheck)
#	BUILDDIR  absolute top build directory
#	KEEP_TMP=1  keep the per-test temporary directory (for debugging)
#	MESHDNS_TEST_SLOW=N  multiply the readiness/shutdown time bounds by N
#
# Output is TAP-like: one "ok N - ..." / "not ok N - ..." line per
# assertion, context lines start with "#". The script exits 1 when any
# assertion failed (finish), 77 when a prerequisite is missing (skip), 99
# on a harness error (hard_error).

set -u
set -o pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRCDIR:=$(cd "$LIB_DIR/../.." && pwd)}"
: "${BUILDDIR:=$SRCDIR}"
if [ -z "${MESHDNS:-}" ]; then
	for _c in "$BUILDDIR/src/meshdns" "$SRCDIR/build/src/meshdns" "$SRCDIR/src/meshdns"; do
		if [ -x "$_c" ]; then MESHDNS=$_c; break; fi
	done
	unset _c
fi
: "${MESHDNS_TEST_SLOW:=1}"

TEST_NAME=$(basename "$0" .sh)
N_TESTS=0
N_FAILED=0
DIG=""			# output of the last q call
DIG_RC=0		# dig's exit status for it
LAST_CMD=""		# the command that produced $DIG
PID=""			# the meshdns we started (only ever kill this one)
PORT=""			# its port on 127.0.0.1 (and ::1 when HAVE_IPV6=1)
LOG=""			# its stderr+stdout
CONF=""			# its config file
DOMAIN="mesh.local"	# the domain the readiness check asks for
SERVER_ADDR="127.0.0.1"
HAVE_IPV6=0
SERVER_WRAP=()		# command prefix for the daemon (ip netns exec ...)
DNS_WRAP=()		# command prefix for dig/python clients
CLEANUP_HOOKS=()	# commands run (eval'd) by the EXIT trap, last first
PYTOOL=""

# ---------------------------------------------------------------- reporting

note() { printf '%s\n' "$*" | sed 's/^/# /'; }

ok() {
	N_TESTS=$((N_TESTS + 1))
	printf 'ok %d - %s\n' "$N_TESTS" "$*"
}

# fail MSG: record a failed assertion and print context: the last command and
# its output, and the tail of the daemon log.
fail() {
	N_TESTS=$((N_TESTS + 1))
	N_FAILED=$((N_FAILED + 1))
	printf 'not ok %d - %s\n' "$N_TESTS" "$*"
	if [ -n "$LAST_CMD" ]; then
		printf '#   command: %s\n' "$LAST_CMD"
		if [ -n "$DIG" ]; then
			printf '%s\n' "$DIG" | sed 's/^/#   | /'
		fi
	fi
	if [ -n "$LOG" ] && [ -f "$LOG" ]; then
		printf '#   last daemon log lines (%s):\n' "$LOG"
		tail -n 15 "$LOG" | sed 's/^/#   > /'
	fi
}

skip_all() {
	printf '1..0 # SKIP %s\n' "$*"
	exit 77
}

hard_error() {
	printf 'Bail out! %s\n' "$*"
	if [ -n "$LOG" ] && [ -f "$LOG" ]; then
		tail -n 30 "$LOG" | sed 's/^/#   > /'
	fi
	exit 99
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c not installed"
	done
}

# check DESC CMD...: ok when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# expect_eq ACTUAL EXPECTED DESC
expect_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		fail "$3"
		printf '#   expected: %s\n' "$2" | sed '2,$s/^/#             /'
		printf '#   got:      %s\n' "$1" | sed '2,$s/^/#             /'
	fi
}

# expect_le A B DESC / expect_ge A B DESC (integers)
expect_le() {
	if [ "$1" -le "$2" ] 2>/dev/null; then ok "$3 ($1 <= $2)"; else fail "$3 (got $1, want <= $2)"; fi
}
expect_ge() {
	if [ "$1" -ge "$2" ] 2>/dev/null; then ok "$3 ($1 >= $2)"; else fail "$3 (got $1, want >= $2)"; fi
}

# finish: stop the daemon (checking it shuts down cleanly), print a
# summary and exit 1 when any assertion failed.
finish() {
	stop_server
	printf '# %s: %d assertions, %d failed\n' "$TEST_NAME" "$N_TESTS" "$N_FAILED"
	if [ "$N_FAILED" -gt 0 ]; then exit 1; fi
	exit 0
}

# finish_or_skip REASON: like finish, but exit 77 (skip) when nothing failed.
finish_or_skip() {
	stop_server
	printf '# %s: %d assertions, %d failed; skipped part: %s\n' \
		"$TEST_NAME" "$N_TESTS" "$N_FAILED" "$1"
	if [ "$N_FAILED" -gt 0 ]; then exit 1; fi
	exit 77
}

# ---------------------------------------------------------------- temp dir

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-$TEST_NAME.XXXXXX") || hard_error "mktemp failed"

_cleanup() {
	local rc=$? i
	trap - EXIT
	_kill_server
	for ((i = ${#CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP_HOOKS[$i]}" || true
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		note "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# on_exit CMD: run CMD (a string, eval'd) when the test exits.
on_exit() { CLEANUP_HOOKS+=("$1"); }

# ---------------------------------------------------------------- prerequisites

need_cmd dig python3
[ -n "${MESHDNS:-}" ] || hard_error "meshdns binary not found; set MESHDNS=/path/to/meshdns"
[ -x "$MESHDNS" ] || hard_error "MESHDNS=$MESHDNS is not executable"

# ---------------------------------------------------------------- python client

# A small stdlib-only DNS client for what dig can't do: raw packets,
# pipelined TCP, idle timeouts, connection limits, fuzzing.
PYTOOL=$TMP/dnstool.py
cat >"$PYTOOL" <<'PY'
import random, select, socket, struct, sys, time

TYPES = {'A': 1, 'NS': 2, 'SOA': 6, 'MX': 15, 'TXT': 16, 'AAAA': 28,
         'SRV': 33, 'OPT': 41, 'IXFR': 251, 'AXFR': 252, 'ANY': 255}
RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN',
          4: 'NOTIMP', 5: 'REFUSED'}


def fam(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def name(n):
    out = b''
    for label in n.rstrip('.').split('.'):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b'\0'


def query(qname, qtype, qid, flags=0, edns=True):
    msg = struct.pack('!6H', qid, flags, 1, 0, 0, 1 if edns else 0)
    msg += name(qname) + struct.pack('!2H', TYPES[qtype], 1)
    if edns:
        msg += b'\0' + struct.pack('!HHIH', 41, 1232, 0, 0)
    return msg


def summary(b):
    if b is None:
        return 'noreply'
    if len(b) < 12:
        return 'short len=%d' % len(b)
    qid, fl, qd, an, ns, ar = struct.unpack_from('!6H', b)
    return ('id=%d qr=%d opcode=%d aa=%d tc=%d rd=%d rcode=%s qd=%d an=%d '
            'ns=%d ar=%d len=%d' % (
                qid, fl >> 15, (fl >> 11) & 15, (fl >> 10) & 1, (fl >> 9) & 1,
                (fl >> 8) & 1, RCODES.get(fl & 15, str(fl & 15)),
                qd, an, ns, ar, len(b)))


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_msg(s):
    hdr = recv_exact(s, 2)
    if hdr is None:
        return None
    return recv_exact(s, struct.unpack('!H', hdr)[0])


def udp_exchange(host, port, data, timeout):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(data, (host, port))
    try:
        return s.recvfrom(65535)[0]
    except socket.timeout:
        return None
    except ConnectionRefusedError:
        return b'refused'
    finally:
        s.close()


def cmd_send(args):
    """send [--tcp|--rawtcp] [--timeout S] HOST PORT HEX"""
    tcp = raw = False
    timeout = 1.0
    while args[0].startswith('--'):
        opt = args.pop(0)
        if opt == '--tcp':
            tcp = True
        elif opt == '--rawtcp':
            tcp = raw = True
        elif opt == '--timeout':
            timeout = float(args.pop(0))
    host, port, data = args[0], int(args[1]), bytes.fromhex(args[2])
    if not tcp:
        r = udp_exchange(host, port, data, timeout)
        print('refused' if r == b'refused' else summary(r))
        return
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(timeout)
    s.sendall(data if raw else struct.pack('!H', len(data)) + data)
    try:
        r = recv_msg(s)
        print('eof' if r is None else summary(r))
    except socket.timeout:
        print('noreply')
    except ConnectionResetError:
        print('eof')
    s.close()


def cmd_query(args):
    """query HOST PORT NAME TYPE [--tcp]: a normal query, prints summary"""
    host, port, qname, qtype = args[0], int(args[1]), args[2], args[3]
    q = query(qname, qtype, random.randrange(65536))
    if '--tcp' in args:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(struct.pack('!H', len(q)) + q)
        print(summary(recv_msg(s)))
    else:
        print(summary(udp_exchange(host, port, q, 2.0)))


def cmd_pipeline(args):
    """pipeline HOST PORT NAME:TYPE...: all queries in one write on one
    connection; prints one summary per answer, in arrival order"""
    host, port = args[0], int(args[1])
    wire = b''
    for i, spec in enumerate(args[2:]):
        qname, qtype = spec.rsplit(':', 1)
        q = query(qname, qtype, 1001 + i)
        wire += struct.pack('!H', len(q)) + q
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(5)
    s.sendall(wire)
    for _ in args[2:]:
        try:
            r = recv_msg(s)
        except (socket.timeout, ConnectionResetError) as e:
            print('error %s' % type(e).__name__)
            return
        if r is None:
            print('eof')
            return
        print(summary(r))


def cmd_trickle(args):
    """trickle HOST PORT NAME TYPE: one query sent a byte at a time"""
    host, port, qname, qtype = args[0], int(args[1]), args[2], args[3]
    q = query(qname, qtype, 4242)
    wire = struct.pack('!H', len(q)) + q
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    for i in range(len(wire)):
        s.send(wire[i:i + 1])
        time.sleep(0.005)
    r = recv_msg(s)
    print('eof' if r is None else summary(r))


def cmd_idle(args):
    """idle HOST PORT MODE MAX: MODE is 'silent' (send nothing), 'query'
    (one query, then silence) or 'partial' (one byte of a length prefix);
    prints the seconds until the server closed the connection"""
    host, port, mode, tmax = args[0], int(args[1]), args[2], float(args[3])
    s = socket.create_connection((host, port), timeout=3)
    if mode == 'query':
        q = query('web.default.svc.mesh.local', 'A', 77)
        s.sendall(struct.pack('!H', len(q)) + q)
        s.settimeout(3)
        r = recv_msg(s)
        if r is None:
            print('closed-before-answer')
            return
    elif mode == 'partial':
        s.sendall(b'\0')
    t0 = time.monotonic()
    s.settimeout(0.05)
    while time.monotonic() - t0 < tmax:
        try:
            if s.recv(4096) == b'':
                break
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
    else:
        print('open %.3f' % (time.monotonic() - t0))
        return
    print('closed %.3f' % (time.monotonic() - t0))


def cmd_halfclose(args):
    """halfclose HOST PORT: send a query, shut down our sending side, read
    the answer (RFC 7766 6.2.1: the server must still answer)"""
    host, port = args[0], int(args[1])
    s = socket.create_connection((host, port), timeout=3)
    q = query('web.default.svc.mesh.local', 'A', 4343)
    s.sendall(struct.pack('!H', len(q)) + q)
    s.shutdown(socket.SHUT_WR)
    try:
        r = recv_msg(s)
        print('eof' if r is None else summary(r))
    except (socket.timeout, ConnectionResetError) as e:
        print('error %s' % type(e).__name__)


def cmd_backpressure(args):
    """backpressure HOST PORT N: one client pipelines N queries with big
    answers and never reads; meanwhile UDP and a second TCP client must be
    answered promptly. Prints 'udp=SUMMARY t=S' and 'tcp=SUMMARY t=S'."""
    host, port, n = args[0], int(args[1]), int(args[2])
    b = socket.socket(fam(host), socket.SOCK_STREAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b.settimeout(3)
    b.connect((host, port))
    q = query('big.default.svc.mesh.local', 'A', 1)
    wire = (struct.pack('!H', len(q)) + q) * n
    b.setblocking(False)
    sent = 0
    t_end = time.monotonic() + 3
    while sent < len(wire) and time.monotonic() < t_end:
        try:
            sent += b.send(wire[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    print('# pipelined %d of %d bytes without reading' % (sent, len(wire)))
    time.sleep(0.3)
    t = time.monotonic()
    r = udp_exchange(host, port, query('web.default.svc.mesh.local', 'A', 4444), 2.0)
    print('udp=%s t=%.3f' % ('noreply' if r is None else 'rcode=' + RCODES.get(r[3] & 15, '?'),
                             time.monotonic() - t))
    t = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.settimeout(2)
        q = query('web.default.svc.mesh.local', 'A', 4445)
        s.sendall(struct.pack('!H', len(q)) + q)
        r = recv_msg(s)
        res = 'eof' if r is None else 'rcode=' + RCODES.get(r[3] & 15, '?')
    except OSError as e:
        res = 'error-' + type(e).__name__
    print('tcp=%s t=%.3f' % (res, time.monotonic() - t))
    b.close()


def cmd_conncap(args):
    """conncap HOST PORT N HOLD: open N connections, send a query on each,
    count the answers within HOLD seconds; while all are held, ask over UDP"""
    host, port, n, hold = args[0], int(args[1]), int(args[2]), float(args[3])
    socks = []
    for i in range(n):
        try:
            socks.append(socket.create_connection((host, port), timeout=3))
        except OSError as e:
            print('# connect %d failed: %s' % (i, e))
    time.sleep(0.2)
    live = {}
    for i, s in enumerate(socks):
        q = query('web.default.svc.mesh.local', 'A', 2000 + i)
        try:
            s.sendall(struct.pack('!H', len(q)) + q)
            s.setblocking(False)
            live[s] = b''
        except OSError:
            pass
    answered = closed = 0
    t0 = time.monotonic()
    while live and time.monotonic() - t0 < hold:
        rd, _, _ = select.select(list(live), [], [], 0.05)
        for s in rd:
            try:
                chunk = s.recv(65535)
            except OSError:
                chunk = b''
            if not chunk:
                closed += 1
                del live[s]
                continue
            live[s] += chunk
            buf = live[s]
            if len(buf) >= 2 and len(buf) >= 2 + struct.unpack('!H', buf[:2])[0]:
                answered += 1
                del live[s]
    r = udp_exchange(host, port, query('web.default.svc.mesh.local', 'A', 999), 2.0)
    udp = 'none' if r is None or len(r) < 12 else RCODES.get(r[3] & 15, '?')
    print('connected=%d answered=%d closed=%d udp=%s' % (len(socks), answered, closed, udp))
    for s in socks:
        s.close()


def cmd_fuzz(args):
    """fuzz HOST PORT COUNT SEED MODE: MODE 'random' (random bytes) or
    'mutate' (a valid query with a few bytes changed). Every packet gets a
    unique ID; a reply is unexpected when it is shorter than 12 bytes, has
    QR=0, or carries the ID of a packet that must be dropped (shorter than
    12 bytes or QR=1) or that was never sent."""
    host, port, count, seed, mode = (args[0], int(args[1]), int(args[2]),
                                     int(args[3]), args[4])
    rnd = random.Random(seed)
    ids = list(range(65536))
    rnd.shuffle(ids)
    base = query('web.default.svc.mesh.local', 'A', 0)
    answerable, silent = set(), set()
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.setblocking(False)
    replies, unexpected = 0, []

    def drain(wait):
        nonlocal replies
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            rd, _, _ = select.select([s], [], [], left)
            if not rd:
                return
            try:
                r = s.recv(65535)
            except OSError:
                continue
            replies += 1
            if len(r) < 12:
                unexpected.append('short reply %r' % r)
                continue
            qid = struct.unpack('!H', r[:2])[0]
            if not r[2] & 0x80:
                unexpected.append('QR=0 in reply id=%d' % qid)
            elif qid in silent and qid not in answerable:
                unexpected.append('reply to a packet that must be dropped: id=%d %s'
                                  % (qid, summary(r)))
            elif qid not in answerable:
                unexpected.append('reply with unknown id %d' % qid)

    for i in range(count):
        qid = ids[i]
        if mode == 'random':
            pkt = bytearray(rnd.randbytes(rnd.choice([0, 1, 5, 11, 12, 13, 20, 40, 100, 300, 512, 1500])))
            if rnd.random() < 0.5 and len(pkt) >= 4:
                pkt[2] &= 0x7f	# often look like a query, to get past the first check
        else:
            pkt = bytearray(base)
            for _ in range(rnd.randint(1, 4)):
                op = rnd.random()
                pos = rnd.randrange(2, len(pkt)) if len(pkt) > 2 else 0
                if op < 0.6 and len(pkt) > 2:
                    pkt[pos] = rnd.randrange(256)
                elif op < 0.8:
                    del pkt[pos:]
                else:
                    pkt[pos:pos] = rnd.randbytes(rnd.randint(1, 8))
        if len(pkt) >= 2:
            pkt[0:2] = struct.pack('!H', qid)
        if len(pkt) >= 12 and not pkt[2] & 0x80:
            answerable.add(qid)
        elif len(pkt) >= 2:
            silent.add(qid)
        try:
            s.sendto(bytes(pkt), (host, port))
        except BlockingIOError:
            drain(0.05)
        if i % 50 == 49:
            drain(0.02)
    drain(1.0)
    print('sent=%d answerable=%d replies=%d unexpected=%d'
          % (count, len(answerable), replies, len(unexpected)))
    for u in unexpected[:10]:
        print('# ' + u)


def cmd_tcpfuzz(args):
    """tcpfuzz HOST PORT COUNT SEED: COUNT connections that each send a
    random length-prefixed blob (or a bogus length) and close"""
    host, port, count, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    rnd = random.Random(seed)
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=3)
        body = rnd.randbytes(rnd.choice([0, 3, 11, 12, 30, 200]))
        n = rnd.choice([len(body), len(body) + 10, 65535, 0])
        s.sendall(struct.pack('!H', n) + body)
        if rnd.random() < 0.5:
            s.settimeout(0.05)
            try:
                s.recv(65535)
            except OSError:
                pass
        s.close()
    print('done')


def cmd_freeport(args):
    """freeport V6: a port free for UDP and TCP on 127.0.0.1 (and ::1)"""
    v6 = args[0] == '1'
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(('127.0.0.1', 0))
        port = t.getsockname()[1]
        held = [t]
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(u)
            u.bind(('127.0.0.1', port))
            if v6:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    x = socket.socket(socket.AF_INET6, kind)
                    held.append(x)
                    x.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    x.bind(('::1', port))
        except OSError:
            continue
        finally:
            for h in held:
                h.close()
        print(port)
        return
    sys.exit('no free port found')


def cmd_have_ipv6(args):
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(('::1', 0))
        print(1)
    except OSError:
        print(0)


if __name__ == '__main__':
    globals()['cmd_' + sys.argv[1].replace('-', '_')](sys.argv[2:])
PY

# py SUBCOMMAND ARGS...: run the python client (inside DNS_WRAP, if any).
py() { ${DNS_WRAP[@]+"${DNS_WRAP[@]}"} python3 "$PYTOOL" "$@"; }

HAVE_IPV6=$(python3 "$PYTOOL" have-ipv6)

# ---------------------------------------------------------------- wire helpers (hex)

# hex16 N: two bytes, network order, as hex
hex16() { printf '%04x' "$(($1))"; }
# hexstr STRING: the bytes of STRING as hex
hexstr() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
# hexname NAME: NAME in wire format (uncompressed, root-terminated)
hexname() {
	local label out="" IFS=.
	for label in $1; do
		[ -n "$label" ] || continue
		out+=$(printf '%02x' "${#label}")$(hexstr "$label")
	done
	printf '%s00' "$out"
}
# hexhdr ID FLAGS QD AN NS AR: a 12-byte header
hexhdr() { printf '%s%s%s%s%s%s' "$(hex16 "$1")" "$(hex16 "$2")" "$(hex16 "$3")" "$(hex16 "$4")" "$(hex16 "$5")" "$(hex16 "$6")"; }
# hexopt [VERSION] [PAYLOAD]: an OPT pseudo-RR
hexopt() { printf '00%s%s00%s0000%s' "$(hex16 41)" "$(hex16 "${2:-1232}")" "$(printf '%02x' "${1:-0}")" "$(hex16 0)"; }

# ---------------------------------------------------------------- daemon

_kill_server() {
	local i
	[ -n "$PID" ] || return 0
	if kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		for ((i = 0; i < 50 * MESHDNS_TEST_SLOW; i++)); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
	fi
	wait "$PID" 2>/dev/null
	PID=""
}

# dns PORT ARGS...: dig against our server.
dns() {
	local port=$1
	shift
	${DNS_WRAP[@]+"${DNS_WRAP[@]}"} dig @"$SERVER_ADDR" -p "$port" +time=2 +tries=1 +norec "$@"
}

# q ARGS...: dig against the current server; the output goes to $DIG.
q() {
	LAST_CMD="dig @$SERVER_ADDR -p $PORT +time=2 +tries=1 +norec $*"
	DIG=$(dns "$PORT" "$@" 2>&1)
	# shellcheck disable=SC2034 # for the tests
	DIG_RC=$?
	Q="$*"
}

# _responds: does the server answer an SOA query for $DOMAIN?
_responds() {
	${DNS_WRAP[@]+"${DNS_WRAP[@]}"} dig @"$SERVER_ADDR" -p "$PORT" +time=1 +tries=1 +norec \
		"$DOMAIN" SOA 2>/dev/null | grep -q 'status: '
}

# launch_server CONF: start meshdns -c CONF in the background and wait until
# it answers. Returns 0 when ready, 1 when it exited (log in $LOG), 2 when it
# runs but never answered.
launch_server() {
	local i
	[ "$BASHPID" = "$$" ] || hard_error "launch_server runs in a subshell"
	CONF=$1
	LOG=$TMP/meshdns.$((++_LAUNCHES)).log
	# MESHDNS_TEST_THREADS=N runs the suite with N worker threads
	local threads=()
	[ -n "${MESHDNS_TEST_THREADS:-}" ] && threads=(--threads "$MESHDNS_TEST_THREADS")
	note "starting: ${SERVER_WRAP[*]+${SERVER_WRAP[*]} }$MESHDNS -c $CONF -l debug ${threads[*]+${threads[*]}} (log $LOG)"
	${SERVER_WRAP[@]+"${SERVER_WRAP[@]}"} "$MESHDNS" -c "$CONF" -l debug ${threads[@]+"${threads[@]}"} \
		>"$LOG" 2>&1 &
	PID=$!
	for ((i = 0; i < 100 * MESHDNS_TEST_SLOW; i++)); do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID" 2>/dev/null
			note "meshdns exited with status $? before it was ready"
			PID=""
			return 1
		fi
		_responds && return 0
		sleep 0.1
	done
	return 2
}
_LAUNCHES=0

# start_server [DOMAIN] <<EOF ... EOF: start meshdns on a free loopback port
# with the config read from stdin, after replacing @PORT@ with the port and
# @LISTEN@ with the quoted listen addresses ("127.0.0.1:P" and, when IPv6
# works, "[::1]:P"). DOMAIN (default mesh.local) is the readiness probe.
start_server() {
	local tmpl tmpl_out attempt rc listen
	# in a subshell (a pipeline) the daemon would outlive the EXIT trap
	[ "$BASHPID" = "$$" ] || hard_error "start_server runs in a subshell; feed it with <<EOF or <FILE, not a pipe"
	DOMAIN=${1:-mesh.local}
	tmpl=$(cat)
	stop_server
	for attempt in 1 2 3 4 5; do
		PORT=$(python3 "$PYTOOL" freeport "$HAVE_IPV6") || hard_error "no free port"
		listen="\"127.0.0.1:$PORT\""
		[ "$HAVE_IPV6" = 1 ] && listen+=", \"[::1]:$PORT\""
		CONF=$TMP/meshdns.conf
		tmpl_out=${tmpl//@LISTEN@/$listen}
		printf '%s\n' "${tmpl_out//@PORT@/$PORT}" >"$CONF"
		launch_server "$CONF"
		rc=$?
		if [ $rc -eq 0 ]; then
			_check_ready_logged
			return 0
		fi
		if [ $rc -eq 1 ] && grep -qiE 'in use|EADDRINUSE' "$LOG"; then
			note "port $PORT taken (attempt $attempt), retrying"
			continue
		fi
		break
	done
	[ -n "$PID" ] && _kill_server
	hard_error "meshdns did not become ready on port $PORT"
}

_check_ready_logged() {
	if grep -q 'ready' "$LOG"; then
		ok "daemon logged 'ready'"
	else
		LAST_CMD="" fail "daemon answers but never logged 'ready' (info level)"
	fi
}

# stop_server: SIGTERM our daemon, assert it exits within 5 s and that its
# log holds no sanitizer report.
stop_server() {
	local i status
	[ -n "$PID" ] || return 0
	LAST_CMD=""
	DIG=""
	kill -TERM "$PID" 2>/dev/null
	for ((i = 0; i < 50 * MESHDNS_TEST_SLOW; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		fail "daemon still running 5 s after SIGTERM (killed)"
		kill -KILL "$PID" 2>/dev/null
	fi
	wait "$PID" 2>/dev/null
	status=$?
	PID=""
	note "daemon exited with status $status"
	if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$LOG"; then
		fail "sanitizer report in the daemon log"
		grep -A 30 -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$LOG" |
			head -n 60 | sed 's/^/#   > /'
	else
		ok "no sanitizer report in the daemon log"
	fi
}

# ---------------------------------------------------------------- dig output parsing
# All of these look at the last response in $DIG (dig prints the UDP reply
# and the TCP retry when it falls back; we want what the user would see).

_last_response() {
	printf '%s\n' "$DIG" | awk '/^;; ->>HEADER<<-/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }'
}

# rcode: the status of the last response ("none" when there is none)
rcode() {
	local r
	r=$(_last_response | sed -n 's/^;; ->>HEADER<<-.*status: \([A-Z0-9]*\),.*/\1/p' | tail -n 1)
	printf '%s' "${r:-none}"
}

# flags: the header flags of the last response, space separated
flags() {
	_last_response | sed -n 's/^;; flags: \([^;]*\);.*/\1/p' | tail -n 1
}

# hdr_count SECTION: QUERY/ANSWER/AUTHORITY/ADDITIONAL count from the header
hdr_count() {
	_last_response | sed -n "s/^;; flags:.* $1: \([0-9]*\).*/\1/p" | tail -n 1
}

# rrs SECTION [TYPE]: the records of SECTION (QUESTION, ANSWER, AUTHORITY,
# ADDITIONAL), one per line, "owner ttl class type rdata", single spaces.
rrs() {
	_last_response | awk -v sec="$1" -v type="${2:-}" '
		$0 == ";; " sec " SECTION:" { on = 1; next }
		on && /^$/ { on = 0 }
		on {
			sub(/^;/, "")
			gsub(/[ \t]+/, " ")
			n = split($0, f, " ")
			t = (sec == "QUESTION") ? f[3] : f[4]
			if (type == "" || toupper(t) == toupper(type)) print
		}'
}

# rdata SECTION TYPE: the rdata of matching records, sorted
rdata() {
	rrs "$1" "$2" | cut -d' ' -f5- | sort
}

# owners SECTION [TYPE]: owner names, lowercased, sorted, unique
owners() {
	rrs "$1" "${2:-}" | cut -d' ' -f1 | lc | sort -u
}

# lc: lowercase stdin
lc() { tr '[:upper:]' '[:lower:]'; }

# lines ARGS...: the arguments, one per line, sorted (expected values)
lines() { printf '%s\n' "$@" | sort; }

count_lines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi; }

# msg_size: "MSG SIZE  rcvd: N" of the last response
msg_size() { _last_response | sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\).*/\1/p' | tail -n 1; }

# ---------------------------------------------------------------- assertions on $DIG

expect_rcode() {
	local got
	got=$(rcode)
	if [ "$got" = "$1" ]; then ok "$Q: status $1"; else fail "$Q: status $got, want $1"; fi
}

_has_flag() { [[ " $(flags) " == *" $1 "* ]]; }
expect_flag() {
	if _has_flag "$1"; then ok "$Q: flag $1 set"; else fail "$Q: flag $1 not set (flags: $(flags))"; fi
}
expect_no_flag() {
	if _has_flag "$1"; then fail "$Q: flag $1 set (flags: $(flags)), want clear"; else ok "$Q: flag $1 clear"; fi
}

# expect_section_count SECTION N: header count and printed records both N
expect_section_count() {
	local h n
	h=$(hdr_count "$1")
	n=$(count_lines "$(rrs "$1")")
	if [ "$h" = "$2" ] && [ "$n" = "$2" ]; then
		ok "$Q: $2 record(s) in $1"
	else
		fail "$Q: $1 has ${h:-?} record(s) (header) / $n (printed), want $2"
	fi
}
expect_answer_count() { expect_section_count ANSWER "$1"; }

# expect_rdata SECTION TYPE VALUE...: the rdata of SECTION's TYPE records
# are exactly VALUE... (any order; no duplicates, no others)
expect_rdata() {
	local sec=$1 type=$2
	shift 2
	expect_eq "$(rdata "$sec" "$type")" "$(lines "$@")" "$Q: $sec $type = $*"
}

# expect_ttl SECTION TYPE TTL: every TYPE record of SECTION has TTL
expect_ttl() {
	local bad
	bad=$(rrs "$1" "$2" | awk -v t="$3" '$2 != t')
	if [ -z "$(rrs "$1" "$2")" ]; then
		fail "$Q: no $2 records in $1 to check the TTL of"
	elif [ -z "$bad" ]; then
		ok "$Q: $1 $2 TTL = $3"
	else
		fail "$Q: $1 $2 TTL != $3: $bad"
	fi
}

# (a here-string, not a pipe: under pipefail, grep -q leaving early
# would fail the pipeline with printf's SIGPIPE now and then)
expect_contains() {
	if grep -qE -- "$1" <<<"$DIG"; then ok "${2:-$Q: output matches /$1/}"; else fail "${2:-$Q: output does not match /$1/}"; fi
}
expect_not_contains() {
	if grep -qE -- "$1" <<<"$DIG"; then fail "${2:-$Q: output matches /$1/ (should not)}"; else ok "${2:-$Q: output does not match /$1/}"; fi
}

# expect_negative ZONE NEG_TTL: one SOA for ZONE in AUTHORITY, with TTL and
# minimum NEG_TTL, mname ns.dns.ZONE, rname hostmaster.ZONE
expect_negative() {
	local zone=${1%.}. neg=$2 soa
	soa=$(rrs AUTHORITY SOA)
	if [ "$(count_lines "$soa")" != 1 ] || [ "$(count_lines "$(rrs AUTHORITY)")" != 1 ]; then
		fail "$Q: want exactly one SOA in AUTHORITY"
		return
	fi
	# owner ttl class SOA mname rname serial refresh retry expire minimum
	# shellcheck disable=SC2086 # split the record into fields
	set -- $soa
	expect_eq "$(printf '%s' "$1" | lc)" "$zone" "$Q: AUTHORITY SOA owner is $zone"
	expect_eq "$2" "$neg" "$Q: AUTHORITY SOA TTL = negative_ttl $neg"
	expect_eq "$(printf '%s %s' "$5" "$6" | lc)" "ns.dns.$zone hostmaster.$zone" "$Q: SOA mname/rname"
	expect_eq "${11}" "$neg" "$Q: SOA minimum = negative_ttl $neg"
}

# expect_nxdomain ZONE NEG_TTL / expect_nodata ZONE NEG_TTL
expect_nxdomain() {
	expect_rcode NXDOMAIN
	expect_flag aa
	expect_section_count ANSWER 0
	expect_negative "$1" "$2"
}
expect_nodata() {
	expect_rcode NOERROR
	expect_flag aa
	expect_section_count ANSWER 0
	expect_negative "$1" "$2"
}

# check_alive: the daemon still runs and answers SOA at the apex.
check_alive() {
	local what=${1:-}
	if [ -z "$PID" ] || ! kill -0 "$PID" 2>/dev/null; then
		LAST_CMD=""
		fail "daemon is running${what:+ after $what}"
		hard_error "meshdns died${what:+ after $what}"
	fi
	q "$DOMAIN" SOA
	if [ "$(rcode)" = NOERROR ] && [ "$(count_lines "$(rrs ANSWER SOA)")" = 1 ]; then
		ok "alive and answering${what:+ after $what}"
	else
		fail "daemon does not answer SOA${what:+ after $what}"
	fi
}

# ---------------------------------------------------------------- backends
# tests/backend/mesh-backend: controllable HTTP backends for probe tests.

need_backend() {
	BACKEND=${BUILDDIR}/tests/backend/mesh-backend
	[ -x "$BACKEND" ] || skip_all "no $BACKEND (make check builds it)"
}

# start_backends K NPORTS: one backend on each of 127.0.0.1..K, each with
# ports BP..BP+NPORTS-1 and a control port CP+k; BP is random and retried
# when taken. Stopped on exit.
BPIDS=()
start_backends() {
	local n=$1 nports=$2 k try p ready
	on_exit 'for p in "${BPIDS[@]}"; do kill "$p" 2>/dev/null; done'
	for try in 1 2 3 4 5; do
		BP=$((30000 + RANDOM % 20000))
		CP=$((BP + nports + 10))
		BPIDS=()
		for ((k = 1; k <= n; k++)); do
			rm -f "$TMP/backend.$k.pid"
			"$BACKEND" --addr "127.0.0.$k" --port-base "$BP" --ports "$nports" \
				--control "$((CP + k))" --ready-file "$TMP/backend.$k.pid" \
				2>"$TMP/backend.$k.log" &
			BPIDS+=($!)
		done
		for _ in $(seq 50); do
			ready=1
			for ((k = 1; k <= n; k++)); do
				[ -s "$TMP/backend.$k.pid" ] || ready=0
			done
			[ "$ready" = 1 ] && return 0
			sleep 0.1
		done
		for p in "${BPIDS[@]}"; do kill "$p" 2>/dev/null; done
		wait 2>/dev/null
		note "backend ports from $BP taken (try $try)"
	done
	hard_error "backends did not start"
}

ctl() {	# ctl K QUERY: the control API of backend 127.0.0.K
	curl -s --max-time 2 "http://127.0.0.$1:$((CP + $1))/$2"
}

requests() {	# requests K PORT: HTTP requests backend K has answered on PORT
	ctl "$1" "stats?port=$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'
}
