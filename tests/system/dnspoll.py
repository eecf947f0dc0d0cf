#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""tests/system/dnspoll.py: a small stdlib DNS poller for the system tests
that follow a real control plane (k8s_real.sh, coredns.sh): how long until an
answer shows a change, and whether a steady name ever answers empty.

  dnspoll.py wait HOST PORT NAME TYPE EXPECT TIMEOUT_MS
      query every 10 ms until the answer is EXPECT: "nx" (NXDOMAIN), "-"
      (NOERROR, no address), or the addresses, comma-separated (any
      order); print the ms it took, or the last answer and exit 1
  dnspoll.py watch HOST PORT NAME TYPE INTERVAL_MS STOPFILE
      query every INTERVAL_MS until STOPFILE exists; print
      "total=N empty=E failed=F" (empty: NOERROR without an address;
      failed: no reply, or an rcode other than NOERROR)
  dnspoll.py get HOST PORT NAME TYPE
      print the rcode and the sorted addresses
"""
import os
import random
import socket
import struct
import sys
import time

TYPES = {"A": 1, "AAAA": 28, "SRV": 33, "TXT": 16, "SOA": 6, "PTR": 12}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def query(host, port, name, qtype, timeout=0.5):
    """(rcode name, sorted addresses or SRV 'port target' strings) or (None, [])"""
    qid = random.randrange(65536)
    msg = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 1)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\0" + struct.pack("!2H", TYPES[qtype], 1)
    msg += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, (host, port))
        while True:
            b = s.recv(65535)
            if len(b) >= 12 and struct.unpack_from("!H", b)[0] == qid:
                break
    except OSError:
        return None, []
    finally:
        s.close()
    return parse(b)


def skip_name(b, i):
    while True:
        n = b[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1


def read_name(b, i):
    out = []
    for _ in range(128):
        n = b[i]
        if n == 0:
            break
        if n & 0xC0 == 0xC0:
            i = ((n & 0x3F) << 8) | b[i + 1]
            continue
        out.append(b[i + 1:i + 1 + n].decode(errors="replace"))
        i += n + 1
    return ".".join(out)


def parse(b):
    _, flags, qd, an, _, _ = struct.unpack_from("!6H", b)
    i = 12
    for _ in range(qd):
        i = skip_name(b, i) + 4
    out = []
    for _ in range(an):
        i = skip_name(b, i)
        t, _c, _ttl, rdl = struct.unpack_from("!HHIH", b, i)
        i += 10
        if t == 1:
            out.append(socket.inet_ntop(socket.AF_INET, b[i:i + 4]))
        elif t == 28:
            out.append(socket.inet_ntop(socket.AF_INET6, b[i:i + 16]))
        elif t == 33:
            _p, _w, port = struct.unpack_from("!3H", b, i)
            out.append("%d %s" % (port, read_name(b, i + 6)))
        i += rdl
    return RCODES.get(flags & 15, str(flags & 15)), sorted(out)


def matches(ans, expect):
    rcode, addrs = ans
    if expect == "nx":
        return rcode == "NXDOMAIN"
    if expect == "-":
        return rcode == "NOERROR" and not addrs
    return rcode == "NOERROR" and addrs == sorted(expect.split(","))


def main():
    cmd, host, port, name, qtype = sys.argv[1:6]
    port = int(port)
    if cmd == "get":
        rcode, addrs = query(host, port, name, qtype)
        print(rcode, ",".join(addrs))
        return 0
    if cmd == "wait":
        expect, limit = sys.argv[6], int(sys.argv[7]) / 1000.0
        t0 = time.monotonic()
        ans = (None, [])
        while time.monotonic() - t0 < limit:
            ans = query(host, port, name, qtype)
            if matches(ans, expect):
                print("%d" % ((time.monotonic() - t0) * 1000))
                return 0
            time.sleep(0.01)
        print("timeout: last answer %s %s" % (ans[0], ",".join(ans[1])))
        return 1
    if cmd == "watch":
        every, stop = int(sys.argv[6]) / 1000.0, sys.argv[7]
        total = empty = failed = 0
        while not os.path.exists(stop):
            rcode, addrs = query(host, port, name, qtype)
            total += 1
            if rcode != "NOERROR":
                failed += 1
            elif not addrs:
                empty += 1
            time.sleep(every)
        print("total=%d empty=%d failed=%d" % (total, empty, failed))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
