#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Query load for the system tests (loopback only, bounded in time and count).

flood.py PORT NAME [--sockets N] [--seconds S] [--max N] [--window W]
         [--rate Q] [--addr 127.0.0.1]

Sends A queries for NAME from N UDP sockets (so SO_REUSEPORT spreads them
over meshdns's threads), keeping at most W outstanding per socket, for S
seconds or N queries. With --rate Q it is an open load instead: query k
leaves at k/Q seconds, round robin over the sockets, whatever came back
(at most 1000 outstanding per socket). Prints what came back, one fact
per line:
  sent N / answered N / lost N
  rcode NAME COUNT            (NOERROR, NXDOMAIN, ...)
  set ADDR,ADDR COUNT         (each distinct sorted A answer set)
  badid COUNT                 (replies whose ID or question did not match)
"""
import argparse
import os
import select
import socket
import struct
import time
from collections import Counter

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED"}


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(m, p):
    while True:
        n = m[p]
        if n == 0:
            return p + 1
        if n >= 0xC0:
            return p + 2
        p += 1 + n


def parse(m, want_q):
    qid, flags, qd, an = struct.unpack("!HHHH", m[:8])
    p = 12
    if qd != 1 or m[p:p + len(want_q)].lower() != want_q.lower():
        return qid, None, None
    p += len(want_q)
    addrs = []
    for _ in range(an):
        p = skip_name(m, p)
        t, _c, _ttl, rdlen = struct.unpack("!HHIH", m[p:p + 10])
        p += 10
        if t == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(m[p:p + 4]))
        p += rdlen
    return qid, flags & 15, ",".join(sorted(addrs, key=socket.inet_aton))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("name")
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--sockets", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0)
    a = ap.parse_args()
    if a.rate:
        a.window = 1000

    question = qname(a.name) + struct.pack("!HH", 1, 1)
    socks = []
    for _ in range(a.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((a.addr, a.port))
        socks.append(s)
    pending = [dict() for _ in socks]  # id -> True
    sent = answered = badid = 0
    rcodes, sets = Counter(), Counter()
    start = time.monotonic()
    end = start + a.seconds
    next_id = int.from_bytes(os.urandom(2), "big")

    def send(i):
        nonlocal sent, next_id
        next_id = (next_id + 1) & 0xFFFF
        try:
            socks[i].send(struct.pack("!HHHHHH", next_id, 0x0100, 1, 0, 0, 0) + question)
        except (BlockingIOError, ConnectionRefusedError):
            return
        pending[i][next_id] = True
        sent += 1

    rr = 0
    while True:
        now = time.monotonic()
        wait = 0.05
        if now < end and sent < a.max and a.rate:
            while sent < a.max and start + sent / a.rate <= now:
                rr = (rr + 1) % len(socks)
                if len(pending[rr]) >= a.window:
                    break
                send(rr)
            wait = max(0.0, start + sent / a.rate - time.monotonic())
        elif now < end and sent < a.max:
            for i in range(len(socks)):
                while len(pending[i]) < a.window and sent < a.max:
                    send(i)
        elif not any(pending) or now > end + 2.0:
            break
        r, _, _ = select.select(socks, [], [], wait)
        for s in r:
            i = socks.index(s)
            while True:
                try:
                    m = s.recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                qid, rc, addrs = parse(m, question)
                if rc is None or qid not in pending[i]:
                    badid += 1
                    continue
                del pending[i][qid]
                answered += 1
                rcodes[RCODES.get(rc, str(rc))] += 1
                if rc == 0:
                    sets[addrs] += 1
        # lost queries: forget those older than a second by resending budget
        if now > end:
            continue
        for i in range(len(socks)):
            if len(pending[i]) >= a.window and not r and not a.rate:
                pending[i].clear()  # a dropped datagram: move on
    print("sent", sent)
    print("answered", answered)
    print("lost", sent - answered)
    print("badid", badid)
    for k, v in sorted(rcodes.items()):
        print("rcode", k, v)
    for k, v in sorted(sets.items(), key=lambda kv: -kv[1]):
        print("set", k or "-", v)


if __name__ == "__main__":
    main()
