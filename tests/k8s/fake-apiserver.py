#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A faithful fake Kubernetes API server for the meshdns tests.

Serves Services, EndpointSlices, Nodes and Namespaces read-only (get, list
with paging, watch with bookmarks) over TLS or plain HTTP on loopback, with
bearer-token and client-certificate authentication, and a plain-HTTP control
API to change objects, compact history, drop watches and inject faults.
Python 3 standard library only; TLS material is made with the openssl CLI.
See tests/k8s/README.md.
"""

import argparse
import base64
import copy
import datetime
import hmac
import http.server
import ipaddress
import json
import os
import re
import secrets
import select
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qs, urlsplit

K8S_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}

READ_VERBS = ["get", "list", "watch"]
HISTORY_MAX = 100000          # events kept for watch replay before auto-compaction
STATS_MAX = 1000              # requests kept for GET /stats
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class Res:
    """One served resource type."""

    def __init__(self, name, group, version, kind, singular, namespaced,
                 short=(), categories=(), ctl=None, hash_=""):
        self.name = name
        self.group = group
        self.version = version
        self.kind = kind
        self.singular = singular
        self.namespaced = namespaced
        self.short = list(short)
        self.categories = list(categories)
        self.ctl = ctl or singular
        self.hash = hash_

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    def fields(self):
        f = {"metadata.name", "metadata.namespace"}
        if self.name == "nodes":
            f.add("spec.unschedulable")
        if self.name == "namespaces":
            f.add("status.phase")
        return f

    def bookmark(self, rv, initial_end=False):
        """A bookmark object as the real server encodes it: the zero value of
        the typed object with only metadata.resourceVersion set."""
        md = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            md["annotations"] = {INITIAL_EVENTS_END: "true"}
        o = {"kind": self.kind, "apiVersion": self.api_version, "metadata": md}
        if self.name == "services":
            o["spec"] = {}
            o["status"] = {"loadBalancer": {}}
        elif self.name == "endpointslices":
            o["addressType"] = ""
            o["endpoints"] = None
            o["ports"] = None
        elif self.name == "nodes":
            o["spec"] = {}
            o["status"] = {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                           "nodeInfo": {k: "" for k in (
                               "machineID", "systemUUID", "bootID", "kernelVersion",
                               "osImage", "containerRuntimeVersion", "kubeletVersion",
                               "kubeProxyVersion", "operatingSystem", "architecture")}}
        elif self.name == "namespaces":
            o["spec"] = {}
            o["status"] = {}
        return o


RESOURCES = {
    "services": Res("services", "", "v1", "Service", "service", True, ["svc"], ["all"],
                    hash_="0/CO1lhkEBI="),
    "endpointslices": Res("endpointslices", "discovery.k8s.io", "v1", "EndpointSlice",
                          "endpointslice", True, hash_="Nx3SIv6I0mE="),
    "nodes": Res("nodes", "", "v1", "Node", "node", False, ["no"], hash_="XwShjMxG9Fs="),
    "namespaces": Res("namespaces", "", "v1", "Namespace", "namespace", False, ["ns"],
                      hash_="Q3oi5N2YM8M="),
}
BY_KIND = {r.kind: r for r in RESOURCES.values()}
BY_CTL = {}
for _r in RESOURCES.values():
    for _n in (_r.name, _r.singular, _r.kind, _r.kind.lower()):
        BY_CTL[_n] = _r
GROUP_VERSIONS = {("", "v1"), ("discovery.k8s.io", "v1")}

REASONS = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: ("NotAcceptable", "the server was unable to respond with a content type that the client supports"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "The resourceVersion for the provided list is too old."),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected failure"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request"),
}

CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list.")


def status_obj(code, message=None, reason=None, details=None, metadata=None):
    r, m = REASONS.get(code, ("", "error"))
    o = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {},
         "status": "Failure", "message": message if message is not None else m,
         "reason": reason if reason is not None else r}
    if details is not None:
        o["details"] = details
    o["code"] = code
    return o


def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(msg):
    try:
        sys.stderr.write(f"fake-apiserver: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class HTTPError(Exception):
    def __init__(self, code, message=None, reason=None, details=None, headers=None,
                 metadata=None):
        super().__init__(message)
        self.status = status_obj(code, message, reason, details, metadata)
        self.code = code
        self.headers = headers or {}


# ---------------------------------------------------------------- selectors

LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_label_selector(s):
    reqs = []
    for part in _split_top(s or ""):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            reqs.append((key, op, {v.strip() for v in vals.split(",") if v.strip()}))
        elif part.startswith("!"):
            key, op, val = part[1:].strip(), "!", None
            reqs.append((key, op, val))
        else:
            m = re.match(r"^([^!=\s]+)\s*(==|!=|=)\s*(\S*)$", part)
            if m:
                op = {"==": "=", "=": "=", "!=": "!="}[m.group(2)]
                reqs.append((m.group(1), op, m.group(3)))
            elif re.match(r"^[^!=\s()]+$", part):
                reqs.append((part, "exists", None))
            else:
                raise HTTPError(400, f"unable to parse requirement: <nil>: Invalid value: "
                                     f"\"{part}\": found '{part}', expected: identifier")
    for key, _, _ in reqs:
        if not LABEL_KEY.match(key) or len(key) > 316:
            raise HTTPError(400, f"unable to parse requirement: values[0][{key}]: "
                                 f"Invalid value: \"{key}\": name part must consist of "
                                 f"alphanumeric characters, '-', '_' or '.'")
    return reqs


def label_match(reqs, obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, val in reqs:
        have = key in labels
        v = labels.get(key)
        if op == "=" and not (have and v == val):
            return False
        if op == "!=" and have and v == val:
            return False
        if op == "in" and not (have and v in val):
            return False
        if op == "notin" and have and v in val:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
    return True


def parse_field_selector(s, res):
    reqs = []
    for part in (s or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^!=]+)(==|!=|=)(.*)$", part)
        if not m:
            raise HTTPError(400, f"invalid selector: '{s}'; can't understand '{part}'")
        key = m.group(1).strip()
        if key not in res.fields():
            raise HTTPError(400, f"field label not supported: {key}")
        reqs.append((key, "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return reqs


def field_value(obj, key):
    md = obj.get("metadata") or {}
    if key == "metadata.name":
        return md.get("name", "")
    if key == "metadata.namespace":
        return md.get("namespace", "")
    if key == "spec.unschedulable":
        return "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
    if key == "status.phase":
        return (obj.get("status") or {}).get("phase", "")
    return ""


def field_match(reqs, obj):
    for key, op, val in reqs:
        eq = field_value(obj, key) == val
        if (op == "=") != eq:
            return False
    return True


class Filter:
    def __init__(self, res, ns, q):
        self.res = res
        self.ns = ns
        self.labels = parse_label_selector(q.get("labelSelector", ""))
        self.fields = parse_field_selector(q.get("fieldSelector", ""), res)

    @property
    def has_selectors(self):
        return bool(self.labels or self.fields)

    def match(self, obj):
        if obj is None:
            return False
        if self.ns and (obj.get("metadata") or {}).get("namespace") != self.ns:
            return False
        return label_match(self.labels, obj) and field_match(self.fields, obj)


# ---------------------------------------------------------------- store

META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation",
              "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "labels", "annotations", "ownerReferences", "finalizers", "managedFields")
TOP_ORDER = ("kind", "apiVersion", "metadata", "addressType", "endpoints", "ports", "spec",
             "status")


def _ordered(d, order):
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def canonical(obj):
    """Key order as the real server's encoder writes it (struct field order)."""
    obj = _ordered(obj, TOP_ORDER)
    obj["metadata"] = _ordered(obj["metadata"], META_ORDER)
    return obj


class Event:
    __slots__ = ("rv", "type", "res", "key", "obj", "prev")

    def __init__(self, rv, type_, res, key, obj, prev):
        self.rv = rv
        self.type = type_
        self.res = res
        self.key = key
        self.obj = obj
        self.prev = prev


class Watcher:
    def __init__(self, handler, res, flt, path, query):
        self.handler = handler
        self.res = res
        self.flt = flt
        self.path = path
        self.query = query
        self.queue = deque()
        self.aborted = False
        self.since = time.time()


class Store:
    def __init__(self, initial_rv=1):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = initial_rv
        self.compacted = initial_rv
        self.objects = {name: {} for name in RESOURCES}
        self.history = deque()
        self.watchers = set()
        self.next_ip = 10
        self.used_ips = set()
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self._ensure_namespace(ns)

    # --- mutation (caller holds no lock)
    def _meta_defaults(self, res, obj, old):
        md = obj.setdefault("metadata", {})
        md.pop("resourceVersion", None)
        if old is not None:
            omd = old["metadata"]
            md["uid"] = omd["uid"]
            md["creationTimestamp"] = omd["creationTimestamp"]
        else:
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_ts())
        for k in ("labels", "annotations"):
            if k in md and not md[k]:
                del md[k]
        obj["kind"] = res.kind
        obj["apiVersion"] = res.api_version

    def _alloc_ip(self):
        while True:
            n = self.next_ip
            self.next_ip += 1
            ip = f"10.96.{(n >> 8) & 255}.{n & 255}"
            if ip not in self.used_ips:
                return ip

    def _defaults(self, res, obj, old):
        if res.name == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec["type"] != "ExternalName":
                if "clusterIP" not in spec:
                    oldip = ((old or {}).get("spec") or {}).get("clusterIP")
                    spec["clusterIP"] = oldip or self._alloc_ip()
                ip = spec["clusterIP"]
                spec.setdefault("clusterIPs", [ip])
                if ip and ip != "None":
                    self.used_ips.add(ip)
                    spec.setdefault("ipFamilies", ["IPv6" if ":" in ip else "IPv4"])
                else:
                    spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
            spec.setdefault("sessionAffinity", "None")
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                if "port" in p:
                    p.setdefault("targetPort", p["port"])
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.name == "endpointslices":
            obj.setdefault("addressType", "IPv4")
            # the real server encodes empty lists of these as null
            if not obj.get("endpoints"):
                obj["endpoints"] = None
            if not obj.get("ports"):
                obj["ports"] = None
            for p in obj.get("ports") or []:
                p.setdefault("protocol", "TCP")
            labels = obj["metadata"].setdefault("labels", {})
            labels.setdefault("endpointslice.kubernetes.io/managed-by",
                              "endpointslice-controller.k8s.io")
        elif res.name == "nodes":
            obj.setdefault("spec", {})
            obj.setdefault("status", {})
        elif res.name == "namespaces":
            md = obj["metadata"]
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})

    def _commit(self, res, key, type_, obj, prev):
        """Bump the RV, store, record history and wake watchers (lock held)."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj = canonical(obj)
        if type_ == "DELETED":
            self.objects[res.name].pop(key, None)
        else:
            self.objects[res.name][key] = obj
        ev = Event(self.rv, type_, res.name, key, obj, prev)
        self.history.append(ev)
        if len(self.history) > HISTORY_MAX:
            while len(self.history) > HISTORY_MAX // 2:
                self.compacted = self.history.popleft().rv
        for w in self.watchers:
            w.queue.append(ev)
        self.cond.notify_all()
        return ev

    def _ensure_namespace(self, ns):
        res = RESOURCES["namespaces"]
        if (None, ns) in self.objects["namespaces"]:
            return
        obj = {"metadata": {"name": ns}}
        self._meta_defaults(res, obj, None)
        self._defaults(res, obj, None)
        # a namespace made implicitly takes the current RV, without a bump
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects["namespaces"][(None, ns)] = canonical(obj)

    @staticmethod
    def validate(obj):
        if not isinstance(obj, dict):
            raise ValueError("object must be a JSON object")
        kind = obj.get("kind")
        res = BY_KIND.get(kind)
        if res is None:
            raise ValueError(f"unsupported kind {kind!r} (Service, EndpointSlice, Node, Namespace)")
        av = obj.get("apiVersion")
        if av is not None and av != res.api_version:
            raise ValueError(f"{kind} needs apiVersion {res.api_version}, not {av}")
        md = obj.get("metadata")
        if not isinstance(md, dict) or not md.get("name"):
            raise ValueError(f"{kind} without metadata.name")
        return res

    def put(self, obj):
        res = self.validate(obj)
        obj = copy.deepcopy(obj)
        md = obj["metadata"]
        if res.namespaced:
            md.setdefault("namespace", "default")
            ns = md["namespace"]
        else:
            md.pop("namespace", None)
            ns = None
        key = (ns, md["name"])
        with self.lock:
            if ns is not None:
                self._ensure_namespace(ns)
            old = self.objects[res.name].get(key)
            self._meta_defaults(res, obj, old)
            self._defaults(res, obj, old)
            ev = self._commit(res, key, "MODIFIED" if old else "ADDED", obj, old)
            return {"type": ev.type, "kind": res.kind, "namespace": ns, "name": key[1],
                    "resourceVersion": str(ev.rv)}

    def delete(self, res, ns, name):
        key = (ns if res.namespaced else None, name)
        with self.lock:
            old = self.objects[res.name].get(key)
            if old is None:
                return None
            obj = copy.deepcopy(old)
            ev = self._commit(res, key, "DELETED", obj, old)
            return {"type": "DELETED", "kind": res.kind, "namespace": key[0], "name": name,
                    "resourceVersion": str(ev.rv)}

    def compact(self):
        with self.lock:
            self.history.clear()
            self.compacted = self.rv
            return self.rv

    # --- reads (lock held by caller)
    def state_at(self, resname, rv):
        """The objects of one resource as they were at RV rv (>= compacted)."""
        cur = dict(self.objects[resname])
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.res != resname:
                continue
            if ev.type == "ADDED":
                cur.pop(ev.key, None)
            else:
                cur[ev.key] = ev.prev
        return cur


# ---------------------------------------------------------------- faults

class Injections:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("inject needs a JSON object")
        action = spec.get("action", "status")
        if action not in ("status", "stall", "malformed", "split"):
            raise ValueError(f"unknown action {action!r}")
        it = {"action": action, "path_prefix": spec.get("path_prefix", "") or "",
              "method": spec.get("method"), "watch": spec.get("watch")}
        default_count = -1 if action == "split" else 1
        it["count"] = int(spec.get("count", default_count))
        if action == "status":
            st = int(spec.get("status", 0))
            if not 400 <= st <= 599:
                raise ValueError("status must be 400-599")
            it["status"] = st
            it["retry_after"] = spec.get("retry_after")
            it["message"] = spec.get("message")
            it["reason"] = spec.get("reason")
        if action == "stall":
            it["seconds"] = float(spec.get("seconds", 60))
        with self.lock:
            self.items.append(it)
        return it

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            return n

    def list(self):
        with self.lock:
            return copy.deepcopy(self.items)

    def take(self, actions, path, method, is_watch):
        """Consume one matching injection whose action is in actions."""
        with self.lock:
            for it in self.items:
                if it["action"] not in actions or it["count"] == 0:
                    continue
                if not path.startswith(it["path_prefix"]):
                    continue
                if it["method"] and it["method"].upper() != method:
                    continue
                if it["watch"] is not None and bool(it["watch"]) != is_watch:
                    continue
                if it["count"] > 0:
                    it["count"] -= 1
                got = dict(it)
                self.items = [i for i in self.items if i["count"] != 0]
                return got
        return None


# ---------------------------------------------------------------- the app

class App:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.initial_rv)
        self.inject = Injections()
        self.stats_lock = threading.Lock()
        self.requests = deque(maxlen=STATS_MAX)
        self.counts = {}
        self.bookmark_interval = args.bookmark_interval
        self.aggregated_discovery = not args.no_aggregated_discovery
        self.stopping = threading.Event()
        self.token_file = args.token_file

    def record(self, rec):
        with self.stats_lock:
            self.requests.append(rec)
            if rec.get("verb") and rec.get("resource"):
                k = f"{rec['verb']}:{rec['resource']}"
                self.counts[k] = self.counts.get(k, 0) + 1

    def reset_stats(self):
        with self.stats_lock:
            self.requests.clear()
            self.counts = {}

    def stats(self):
        with self.stats_lock:
            reqs = list(self.requests)
            counts = dict(self.counts)
        st = self.store
        with st.lock:
            watches = [{"path": w.path, "query": w.query, "resource": w.res.name,
                        "since": round(w.since, 3)} for w in st.watchers]
            rv, comp = st.rv, st.compacted
        return {"requests": reqs, "counts": counts, "open_watches": len(watches),
                "watches": watches, "resource_version": str(rv), "compacted_rv": str(comp)}

    def token(self):
        try:
            with open(self.token_file, encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            return ""

    def drop_watches(self):
        st = self.store
        with st.lock:
            ws = list(st.watchers)
            for w in ws:
                w.aborted = True
            st.cond.notify_all()
        for w in ws:
            w.handler.abort_socket()
        return len(ws)


def client_gone(sock):
    """True when the client closed (or sent anything on) a connection that
    is waiting for our response: no client pipelines behind a watch."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
    except (ValueError, OSError):
        return True
    if not r:
        return False
    if isinstance(sock, ssl.SSLSocket):
        return True   # close_notify, or EOF
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def encode_continue(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        if d.get("v") != "meta.k8s.io/v1" or not isinstance(d.get("rv"), int) or \
                not isinstance(d.get("start"), str):
            raise ValueError
        return d["rv"], d["start"]
    except (ValueError, TypeError, json.JSONDecodeError):
        raise HTTPError(400, f"continue key is not valid: {tok}") from None


def accepts_json(accept):
    if not accept:
        return True
    for part in accept.split(","):
        mt = part.split(";")[0].strip().lower()
        if mt in ("application/json", "application/*", "*/*", "application/yaml"):
            return True
    return False


def media_params(accept):
    out = []
    for part in (accept or "").split(","):
        bits = [b.strip() for b in part.split(";")]
        params = {}
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip().lower()] = v.strip()
        out.append((bits[0].lower(), params))
    return out


class APIHandler(http.server.BaseHTTPRequestHandler):
    # kube-apiserver (Go) sets TCP_NODELAY; without it each watch event
    # waits for the previous one to be acknowledged (~40 ms)
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    timeout = 300
    app = None   # set on the class by main()

    # quiet the base class; we log one line per request ourselves
    def log_message(self, format, *args):   # noqa: A002  pylint: disable=redefined-builtin
        pass

    def log_request(self, code="-", size="-"):
        pass

    def send_response(self, code, message=None):
        # no "Server:" header (the real server sends none)
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_GET(self):
        self.handle_api("GET")

    def do_HEAD(self):
        self.handle_api("HEAD")

    def do_POST(self):
        self.handle_api("POST")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_PATCH(self):
        self.handle_api("PATCH")

    def do_DELETE(self):
        self.handle_api("DELETE")

    def do_OPTIONS(self):
        self.handle_api("OPTIONS")

    # ------------------------------------------------------------ plumbing

    def abort_socket(self):
        try:
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        except OSError:
            pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return b""
        return self.rfile.read(n) if n > 0 else b""

    def common_headers(self):
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "fake-flowschema")
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", "fake-prioritylevel")

    def finish_rec(self, code, extra=None):
        rec = self.rec
        rec["status"] = code
        rec["duration_ms"] = round((time.time() - self.t0) * 1000, 1)
        if extra:
            rec.update(extra)
        self.app.record(rec)
        who = f" user={rec['user']}" if rec.get("user") else ""
        log(f"{self.client_address[0]} {self.command} {self.path} {code}{who}")

    def send_body(self, code, body, ctype="application/json", headers=None):
        self.finish_rec(code)
        self.send_response(code)
        self.common_headers()
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code, obj, ctype="application/json", headers=None):
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.send_body(code, body, ctype, headers)

    def send_error_status(self, e):
        self.send_json(e.code, e.status, headers=e.headers)

    # ------------------------------------------------------------ auth

    def authenticate(self):
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            try:
                cert = conn.getpeercert()
            except (ValueError, OSError):
                cert = None
            if cert:
                cn = ""
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
                return True, "x509", cn
        h = self.headers.get("Authorization", "")
        if h[:7].lower() == "bearer ":
            got = h[7:].strip()
            want = self.app.token()
            if want and hmac.compare_digest(got.encode(), want.encode()):
                return True, "token", "token-user"
            return False, "token", None
        return False, None, None

    # ------------------------------------------------------------ routing

    def handle_api(self, method):
        self.t0 = time.time()
        u = urlsplit(self.path)
        path = u.path
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        self.rec = {"time": round(self.t0, 3), "method": method, "path": path, "query": q,
                    "status": None, "auth_ok": False, "auth": None, "user": None,
                    "verb": None, "resource": None, "watch": False}
        try:
            self.read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        try:
            route = self.route(path, q)
        except HTTPError as e:
            route = None
            route_err = e
        else:
            route_err = None
        if route:
            self.rec["verb"] = route["verb"]
            self.rec["resource"] = route["res"].name
            self.rec["watch"] = route["verb"] == "watch"
        ok, how, user = self.authenticate()
        self.rec.update(auth_ok=ok, auth=how, user=user)
        try:
            if not ok:
                raise HTTPError(401)
            inj = self.app.inject.take(("status", "stall"), path, method,
                                       bool(route and route["verb"] == "watch"))
            if inj and inj["action"] == "stall":
                self.stall(inj)
                return
            if inj:
                self.injected_status(inj)
                return
            if route_err:
                raise route_err
            if route is None:
                self.serve_nonresource(method, path)
                return
            if method not in ("GET", "HEAD"):
                raise HTTPError(405)
            if not accepts_json(self.headers.get("Accept")):
                raise HTTPError(406, "only the following media types are accepted: "
                                     "application/json, application/yaml, "
                                     "application/vnd.kubernetes.protobuf")
            verb = route["verb"]
            if verb == "get":
                self.serve_get(route)
            elif verb == "list":
                self.serve_list(route, q)
            else:
                self.serve_watch(route, q, path)
        except HTTPError as e:
            self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    def route(self, path, q):
        """Resource requests: a dict(verb, res, ns, name); None for others."""
        seg = [s for s in path.split("/") if s]
        if len(seg) >= 2 and seg[0] == "api" and seg[1] == "v1":
            gv, rest = ("", "v1"), seg[2:]
        elif len(seg) >= 3 and seg[0] == "apis" and (seg[1], seg[2]) in GROUP_VERSIONS:
            gv, rest = (seg[1], seg[2]), seg[3:]
        else:
            return None
        if not rest:
            return None
        legacy_watch = False
        if rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
            if not rest:
                raise HTTPError(404)
        ns = name = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, resname, rest = rest[1], rest[2], rest[3:]
        else:
            resname, rest = rest[0], rest[1:]
        if rest:
            name, rest = rest[0], rest[1:]
        res = RESOURCES.get(resname)
        if res is None or (res.group, res.version) != gv or rest:
            raise HTTPError(404)
        if ns is not None and not res.namespaced:
            raise HTTPError(404)
        if legacy_watch:
            verb = "watch"
            if name:
                q["fieldSelector"] = ",".join(x for x in (q.get("fieldSelector"),
                                                          f"metadata.name={name}") if x)
                name = None
        elif name:
            verb = "get"
        elif q.get("watch", "") in ("1", "true", "True"):
            verb = "watch"
        else:
            verb = "list"
        if res.namespaced and name and ns is None:
            raise HTTPError(404)
        return {"verb": verb, "res": res, "ns": ns, "name": name}

    # ------------------------------------------------------------ faults

    def injected_status(self, inj):
        code = inj["status"]
        headers = {}
        details = None
        if inj.get("retry_after") is not None:
            headers["Retry-After"] = str(int(inj["retry_after"]))
            details = {"retryAfterSeconds": int(inj["retry_after"])}
        st = status_obj(code, inj.get("message"), inj.get("reason"), details)
        self.rec["injected"] = "status"
        self.send_json(code, st, headers=headers)

    def stall(self, inj):
        self.finish_rec(0, {"injected": "stall"})
        deadline = time.time() + inj["seconds"]
        while time.time() < deadline and not self.app.stopping.is_set():
            if client_gone(self.connection):
                break
            time.sleep(0.1)
        self.close_connection = True
        self.abort_socket()

    # ------------------------------------------------------------ non-resource paths

    def serve_nonresource(self, method, path):
        p = path.rstrip("/") or "/"
        if method not in ("GET", "HEAD"):
            raise HTTPError(405)
        if p in ("/healthz", "/livez", "/readyz"):
            self.send_body(200, b"ok", "text/plain; charset=utf-8")
            return
        if p == "/version":
            self.send_json(200, K8S_VERSION)
            return
        if p in ("/api", "/apis"):
            agg = self.want_aggregated()
            if agg:
                self.send_json(200, self.aggregated(p, agg), ctype=(
                    AGG_V2 if agg == "v2" else AGG_V2BETA1), headers={"Vary": "Accept"})
            elif p == "/api":
                self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                     "serverAddressByClientCIDRs": [{
                                         "clientCIDR": "0.0.0.0/0",
                                         "serverAddress": self.server_addr()}]},
                               headers={"Vary": "Accept"})
            else:
                self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                     "groups": [self.api_group("discovery.k8s.io")]},
                               headers={"Vary": "Accept"})
            return
        if p == "/api/v1":
            self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                 "resources": self.legacy_resources("", "v1")})
            return
        if p == "/apis/discovery.k8s.io":
            g = self.api_group("discovery.k8s.io")
            g.update(kind="APIGroup", apiVersion="v1")
            self.send_json(200, g)
            return
        if p == "/apis/discovery.k8s.io/v1":
            self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                 "groupVersion": "discovery.k8s.io/v1",
                                 "resources": self.legacy_resources("discovery.k8s.io", "v1")})
            return
        raise HTTPError(404)

    def server_addr(self):
        host, port = self.server.server_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def want_aggregated(self):
        if not self.app.aggregated_discovery:
            return None
        for mt, params in media_params(self.headers.get("Accept")):
            if mt == "application/json" and params.get("g") == "apidiscovery.k8s.io" \
                    and params.get("as") == "APIGroupDiscoveryList":
                if params.get("v") in ("v2", "v2beta1"):
                    return params["v"]
        return None

    @staticmethod
    def api_group(group):
        gv = {"groupVersion": f"{group}/v1", "version": "v1"}
        return {"name": group, "versions": [gv], "preferredVersion": dict(gv)}

    @staticmethod
    def legacy_resources(group, version):
        out = []
        for r in sorted(RESOURCES.values(), key=lambda r: r.name):
            if (r.group, r.version) != (group, version):
                continue
            e = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(READ_VERBS)}
            if r.short:
                e["shortNames"] = list(r.short)
            if r.categories:
                e["categories"] = list(r.categories)
            e["storageVersionHash"] = r.hash
            out.append(e)
        return out

    @staticmethod
    def aggregated(p, ver):
        groups = [""] if p == "/api" else ["discovery.k8s.io"]
        items = []
        for g in groups:
            resources = []
            for r in sorted(RESOURCES.values(), key=lambda r: r.name):
                if r.group != g:
                    continue
                e = {"resource": r.name,
                     "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster",
                     "singularResource": r.singular, "verbs": list(READ_VERBS)}
                if r.short:
                    e["shortNames"] = list(r.short)
                if r.categories:
                    e["categories"] = list(r.categories)
                resources.append(e)
            md = {"creationTimestamp": None}
            if g:
                md = {"name": g, "creationTimestamp": None}
            items.append({"metadata": md, "versions": [
                {"version": "v1", "resources": resources, "freshness": "Current"}]})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{ver}",
                "metadata": {}, "items": items}

    # ------------------------------------------------------------ get / list

    def serve_get(self, route):
        res, ns, name = route["res"], route["ns"], route["name"]
        st = self.app.store
        with st.lock:
            obj = st.objects[res.name].get((ns if res.namespaced else None, name))
            body = json.dumps(obj, separators=(",", ":")) if obj else None
        if obj is None:
            details = {"name": name, "kind": res.name}
            if res.group:
                details = {"name": name, "group": res.group, "kind": res.name}
            raise HTTPError(404, f"{res.name}{'.' + res.group if res.group else ''} "
                                 f"\"{name}\" not found", details=details)
        self.send_body(200, (body + "\n").encode())

    def serve_list(self, route, q):
        res, ns = route["res"], route["ns"]
        flt = Filter(res, ns, q)
        rvp = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError:
            raise HTTPError(400, f"invalid limit: {q.get('limit')}") from None
        if rvp not in ("", "0"):
            try:
                rv_req = int(rvp)
            except ValueError:
                raise HTTPError(400, f"invalid resource version: {rvp}") from None
        else:
            rv_req = None
        if match not in ("", "Exact", "NotOlderThan"):
            raise HTTPError(422, f"resourceVersionMatch: Unsupported value: \"{match}\"",
                            reason="Invalid")
        if match and rvp == "":
            raise HTTPError(422, "resourceVersionMatch is forbidden unless resourceVersion "
                                 "is provided", reason="Invalid")
        if match == "Exact" and rvp == "0":
            raise HTTPError(422, "resourceVersionMatch \"exact\" is forbidden for "
                                 "resourceVersion \"0\"", reason="Invalid")
        if cont and rv_req is not None:
            raise HTTPError(400, "specifying resource version is not allowed when using continue")
        if cont and match:
            raise HTTPError(422, "resourceVersionMatch is forbidden when continue is provided",
                            reason="Invalid")

        st = self.app.store
        start = ""
        if rv_req is not None and not cont:
            # wait up to 3 s for a future RV, as the watch cache does
            deadline = time.time() + 3
            with st.cond:
                while st.rv < rv_req and time.time() < deadline:
                    st.cond.wait(0.1)
                cur = st.rv
            if cur < rv_req:
                raise HTTPError(504, f"Timeout: Too large resource version: {rv_req}, "
                                     f"current: {cur}", reason="Timeout",
                                details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                     "message": "Too large resource version"}],
                                         "retryAfterSeconds": 1})
        with st.lock:
            if cont:
                snap_rv, start = decode_continue(cont)
                if snap_rv < st.compacted:
                    newtok = encode_continue(st.rv, start)
                    raise HTTPError(410, CONTINUE_TOO_OLD, reason="Expired",
                                    metadata={"continue": newtok})
                objs = st.state_at(res.name, snap_rv)
                exact_rv = snap_rv
            elif match == "Exact" or (match == "" and rv_req is not None and limit > 0):
                if rv_req < st.compacted:
                    raise HTTPError(410, "The resourceVersion for the provided list is too old.",
                                    reason="Expired")
                objs = st.state_at(res.name, rv_req)
                exact_rv = rv_req
            else:
                objs = st.objects[res.name]
                exact_rv = st.rv
                # served from the watch cache: limit is ignored (as in 1.32)
                if match == "NotOlderThan" or rvp == "0" or (rv_req is not None and not limit):
                    limit = 0
            items = sorted(((k, o) for k, o in objs.items() if flt.match(o)),
                           key=lambda kv: (kv[0][0] or "", kv[0][1]))
            md = {"resourceVersion": str(exact_rv)}
            if start:
                items = [kv for kv in items if self.rel_key(res, ns, kv[0]) >= start]
            if limit > 0 and len(items) > limit:
                page, rest = items[:limit], items[limit:]
                nk = self.rel_key(res, ns, page[-1][0]) + "\x00"
                md["continue"] = encode_continue(exact_rv, nk)
                if not flt.has_selectors:
                    md["remainingItemCount"] = len(rest)
                items = page
            body_items = []
            for _, o in items:
                o = dict(o)
                o.pop("kind", None)        # items of a typed list carry no TypeMeta
                o.pop("apiVersion", None)
                body_items.append(o)
            body = json.dumps({"kind": res.kind + "List", "apiVersion": res.api_version,
                               "metadata": md, "items": body_items}, separators=(",", ":"))
        self.send_body(200, (body + "\n").encode())

    @staticmethod
    def rel_key(res, ns, key):
        kns, name = key
        if res.namespaced and not ns:
            return f"{kns}/{name}"
        return name

    # ------------------------------------------------------------ watch

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def write_event(self, path, etype, obj):
        line = (json.dumps({"type": etype, "object": obj}, separators=(",", ":")) + "\n").encode()
        inj = self.app.inject
        if inj.take(("malformed",), path, "GET", True):
            self.write_chunk(b'{"type":"MODIFIED","object":{"kind":\n')
        if inj.take(("split",), path, "GET", True) and len(line) >= 3:
            n = len(line)
            for a, b in ((0, n // 3), (n // 3, 2 * n // 3), (2 * n // 3, n)):
                self.write_chunk(line[a:b])
                time.sleep(0.03)
        else:
            self.write_chunk(line)

    def serve_watch(self, route, q, path):
        res, ns = route["res"], route["ns"]
        flt = Filter(res, ns, q)
        rvp = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks", "") in ("1", "true", "True")
        send_initial = q.get("sendInitialEvents", "")
        match = q.get("resourceVersionMatch", "")
        try:
            timeout = int(q.get("timeoutSeconds", "0") or 0)
        except ValueError:
            raise HTTPError(400, "invalid timeoutSeconds") from None
        if send_initial not in ("", "true", "false"):
            raise HTTPError(400, f"invalid sendInitialEvents: {send_initial}")
        if send_initial:
            if match != "NotOlderThan":
                raise HTTPError(422, "resourceVersionMatch: Forbidden: sendInitialEvents "
                                     "requires setting resourceVersionMatch to NotOlderThan",
                                reason="Invalid")
            if send_initial == "true" and not bookmarks:
                raise HTTPError(422, "allowWatchBookmarks: Forbidden: sendInitialEvents "
                                     "requires allowWatchBookmarks=true", reason="Invalid")
        elif match:
            raise HTTPError(422, "resourceVersionMatch: Forbidden: resourceVersionMatch is "
                                 "forbidden for watch unless sendInitialEvents is provided",
                            reason="Invalid")
        rv_req = 0
        if rvp not in ("", "0"):
            try:
                rv_req = int(rvp)
            except ValueError:
                raise HTTPError(400, f"invalid resource version: {rvp}") from None

        st = self.app.store
        w = Watcher(self, res, flt, path, q)
        initial = []
        too_old = None
        with st.lock:
            if send_initial == "true" or (not send_initial and rvp in ("", "0")):
                items = sorted(((k, o) for k, o in st.objects[res.name].items()
                                if flt.match(o)), key=lambda kv: (kv[0][0] or "", kv[0][1]))
                initial = [("ADDED", o) for _, o in items]
                start_rv = st.rv
                if send_initial == "true":
                    initial.append(("BOOKMARK", res.bookmark(start_rv, initial_end=True)))
            elif rv_req < st.compacted:
                too_old = (rv_req, st.compacted)
            else:
                for ev in st.history:
                    if ev.rv > rv_req:
                        w.queue.append(ev)
            if too_old is None:
                st.watchers.add(w)

        self.finish_rec(200)
        self.send_response(200)
        self.common_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if too_old:
                self.write_event(path, "ERROR", status_obj(
                    410, f"too old resource version: {too_old[0]} ({too_old[1]})", "Expired"))
                self.wfile.write(b"0\r\n\r\n")
                return
            self.watch_loop(w, path, initial, bookmarks, timeout, rv_req)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True
        finally:
            with st.lock:
                st.watchers.discard(w)

    def watch_loop(self, w, path, initial, bookmarks, timeout, rv_req):
        st = self.app.store
        deadline = self.t0 + timeout if timeout > 0 else None
        last_bm = time.time()
        for etype, obj in initial:
            self.write_event(path, etype, obj)
        while True:
            now = time.time()
            interval = self.app.bookmark_interval if bookmarks else 0
            waits = [0.25]
            if deadline:
                waits.append(deadline - now)
            if interval and interval > 0:
                waits.append(last_bm + interval - now)
            with st.cond:
                if not w.queue and not w.aborted:
                    st.cond.wait(max(0.0, min(waits)))
                evs = list(w.queue)
                w.queue.clear()
                cur_rv = st.rv
                aborted = w.aborted
            if aborted or self.app.stopping.is_set():
                self.close_connection = True
                self.abort_socket()
                return
            for ev in evs:
                out = self.convert(w, ev)
                if out:
                    self.write_event(path, *out)
            now = time.time()
            if deadline and now >= deadline:
                self.wfile.write(b"0\r\n\r\n")
                return
            if interval and interval > 0 and now >= last_bm + interval:
                if cur_rv >= rv_req:
                    self.write_event(path, "BOOKMARK", w.res.bookmark(cur_rv))
                last_bm = now
            if client_gone(self.connection):
                self.close_connection = True
                return

    @staticmethod
    def convert(w, ev):
        if ev.res != w.res.name:
            return None
        f = w.flt.match
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if f(ev.obj) else None
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if f(ev.obj) else None
        new, old = f(ev.obj), f(ev.prev)
        if new and old:
            return ("MODIFIED", ev.obj)
        if new:
            return ("ADDED", ev.obj)
        if old:
            gone = copy.deepcopy(ev.prev)
            gone["metadata"]["resourceVersion"] = str(ev.rv)
            return ("DELETED", gone)
        return None


# ---------------------------------------------------------------- control API

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    app = None

    def log_message(self, format, *args):   # noqa: A002  pylint: disable=redefined-builtin
        pass

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=1) + "\n").encode()
        log(f"control {self.command} {self.path} {code}")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if not raw.strip():
            return {}
        return json.loads(raw)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        app = self.app
        path = urlsplit(self.path).path.rstrip("/")
        try:
            body = self.body_json() if method in ("POST", "DELETE") else {}
        except (ValueError, json.JSONDecodeError) as e:
            self.reply(400, {"error": f"bad JSON: {e}"})
            return
        try:
            if method == "POST" and path == "/objects":
                items = body["items"] if isinstance(body, dict) and "items" in body else \
                    body if isinstance(body, list) else [body]
                for o in items:
                    Store.validate(o)
                self.reply(200, {"results": [app.store.put(o) for o in items],
                                 "resource_version": str(app.store.rv)})
            elif method == "GET" and path == "/objects":
                with app.store.lock:
                    objs = [o for r in RESOURCES for o in app.store.objects[r].values()]
                    self.reply(200, {"items": objs, "resource_version": str(app.store.rv)})
            elif method == "DELETE" and path.startswith("/objects/"):
                parts = path.split("/")[2:]
                if len(parts) != 3 or parts[0] not in BY_CTL:
                    self.reply(400, {"error": "use DELETE /objects/<kind>/<ns>/<name>"})
                    return
                res = BY_CTL[parts[0]]
                r = app.store.delete(res, None if parts[1] == "_" else parts[1], parts[2])
                if r is None:
                    self.reply(404, {"error": "no such object"})
                else:
                    self.reply(200, r)
            elif method == "POST" and path == "/compact":
                self.reply(200, {"compacted_rv": str(app.store.compact())})
            elif method == "POST" and path == "/drop-watches":
                self.reply(200, {"dropped": app.drop_watches()})
            elif method == "POST" and path == "/inject":
                if body.get("action") == "clear":
                    self.reply(200, {"cleared": app.inject.clear()})
                else:
                    self.reply(200, {"injected": app.inject.add(body)})
            elif method == "DELETE" and path == "/inject":
                self.reply(200, {"cleared": app.inject.clear()})
            elif method == "GET" and path == "/inject":
                self.reply(200, {"injections": app.inject.list()})
            elif method == "GET" and path == "/stats":
                self.reply(200, app.stats())
            elif method == "POST" and path == "/reset-stats":
                app.reset_stats()
                self.reply(200, {"ok": True})
            elif path == "/settings" and method in ("GET", "POST"):
                if "bookmark_interval" in body:
                    app.bookmark_interval = float(body["bookmark_interval"])
                if "aggregated_discovery" in body:
                    app.aggregated_discovery = bool(body["aggregated_discovery"])
                self.reply(200, {"bookmark_interval": app.bookmark_interval,
                                 "aggregated_discovery": app.aggregated_discovery})
            elif method == "POST" and path == "/shutdown":
                self.reply(200, {"ok": True})
                app.stopping.set()
            else:
                self.reply(404, {"error": f"no control endpoint {method} {path}"})
        except (ValueError, TypeError, KeyError) as e:
            self.reply(400, {"error": str(e)})


# ---------------------------------------------------------------- servers

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, family, sslctx=None):
        self.address_family = family
        self.sslctx = sslctx
        super().__init__(addr, handler)

    def server_bind(self):
        # no getfqdn() (a DNS lookup) as HTTPServer.server_bind does
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        conn = request
        if self.sslctx is not None:
            request.settimeout(10)
            try:
                conn = self.sslctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log(f"{client_address[0]} TLS handshake failed: {e}")
                try:
                    request.close()
                except OSError:
                    pass
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        log(f"{client_address[0]} handler error: {sys.exc_info()[1]!r}")


# ---------------------------------------------------------------- TLS material

def run_openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        log(f"openssl {' '.join(args)} failed:\n{p.stderr}")
        sys.exit(1)


def make_ca(d, name, cn):
    conf = os.path.join(d, f"{name}.cnf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=%s\n"
                "[ext]\nbasicConstraints=critical,CA:TRUE\n"
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
                "subjectKeyIdentifier=hash\n" % cn)
    run_openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.crt", "-days", "3650", "-config", conf,
                 "-extensions", "ext"], d)
    os.unlink(conf)


def make_leaf(d, name, ca, subj, ext_lines):
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w", encoding="utf-8") as f:
        f.write("\n".join(ext_lines) + "\n")
    run_openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj], d)
    run_openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
                 f"{ca}.key", "-set_serial", "0x" + secrets.token_hex(8), "-days", "825",
                 "-out", f"{name}.crt", "-extfile", ext], d)
    os.unlink(ext)
    os.unlink(os.path.join(d, f"{name}.csr"))


def ensure_tls(d, addr):
    old = os.umask(0o077)
    try:
        if not (os.path.exists(os.path.join(d, "ca.crt")) and
                os.path.exists(os.path.join(d, "ca.key"))):
            make_ca(d, "ca", "fake-apiserver-ca")
            for f in ("server.crt", "server.key", "server.sans"):
                if os.path.exists(os.path.join(d, f)):
                    os.unlink(os.path.join(d, f))
        sans = ["IP:127.0.0.1", "IP:::1", "DNS:localhost"]
        if addr not in ("127.0.0.1", "::1"):
            sans.append(f"IP:{addr}")
        san = ",".join(sans)
        sanfile = os.path.join(d, "server.sans")
        have = ""
        if os.path.exists(sanfile):
            with open(sanfile, encoding="utf-8") as f:
                have = f.read().strip()
        if have != san or not os.path.exists(os.path.join(d, "server.crt")):
            make_leaf(d, "server", "ca", "/CN=fake-apiserver", [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "extendedKeyUsage=serverAuth",
                f"subjectAltName={san}",
                "subjectKeyIdentifier=hash",
                "authorityKeyIdentifier=keyid,issuer"])
            with open(sanfile, "w", encoding="utf-8") as f:
                f.write(san + "\n")
        if not os.path.exists(os.path.join(d, "client-ca.crt")):
            make_ca(d, "client-ca", "fake-apiserver-client-ca")
            if os.path.exists(os.path.join(d, "client.crt")):
                os.unlink(os.path.join(d, "client.crt"))
        if not os.path.exists(os.path.join(d, "client.crt")):
            make_leaf(d, "client", "client-ca", "/O=system:masters/CN=meshdns-test", [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "extendedKeyUsage=clientAuth",
                "subjectKeyIdentifier=hash",
                "authorityKeyIdentifier=keyid,issuer"])
    finally:
        os.umask(old)
    for f in ("ca.crt", "client-ca.crt", "server.crt", "client.crt"):
        os.chmod(os.path.join(d, f), 0o644)


def write_atomic(path, text, mode=0o600):
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def kubeconfig(server, ca_b64, user):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: fake", "  cluster:",
             f"    server: {server}"]
    if ca_b64:
        lines.append(f"    certificate-authority-data: {ca_b64}")
    lines += ["contexts:", "- name: fake", "  context:", "    cluster: fake",
              "    user: fake", "    namespace: default", "current-context: fake",
              "preferences: {}", "users:", "- name: fake", "  user:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in user.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Kubernetes API server for tests (loopback only).")
    p.add_argument("--port", type=int, required=True, help="API port (0: pick a free one)")
    p.add_argument("--addr", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8 or ::1)")
    p.add_argument("--state-dir", required=True, help="TLS material, token, kubeconfigs")
    p.add_argument("--plain", action="store_true", help="serve HTTP instead of HTTPS")
    p.add_argument("--control-port", type=int, default=0, help="control API port (0: pick one)")
    p.add_argument("--token-file", help="bearer token file (default DIR/token), re-read per request")
    p.add_argument("--bookmark-interval", type=float, default=1.0,
                   help="seconds between BOOKMARK events (0: off)")
    p.add_argument("--ready-file", help="written (JSON) once serving; removed on exit")
    p.add_argument("--fixtures", help="JSON file with objects to load at start")
    p.add_argument("--initial-rv", type=int, default=1, help="resourceVersion counter start")
    p.add_argument("--no-aggregated-discovery", action="store_true",
                   help="answer /api and /apis in the legacy format only")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    host = "127.0.0.1" if a.addr == "localhost" else a.addr
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        p.error(f"--addr {a.addr}: not an IP address")
    if not ip.is_loopback:
        log(f"--addr {a.addr}: refusing to bind a non-loopback address")
        sys.exit(2)
    a.addr = str(ip)
    a.family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    for n in ("port", "control_port"):
        if not 0 <= getattr(a, n) <= 65535:
            p.error(f"--{n.replace('_', '-')} out of range")
    if a.bookmark_interval < 0:
        p.error("--bookmark-interval must be >= 0")
    a.state_dir = os.path.abspath(a.state_dir)
    a.token_file = os.path.abspath(a.token_file or os.path.join(a.state_dir, "token"))
    return a


def load_fixtures(app, path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    items = data["items"] if isinstance(data, dict) and "items" in data else \
        data if isinstance(data, list) else [data]
    for o in items:
        app.store.put(o)
    log(f"loaded {len(items)} fixture objects from {path}; resourceVersion {app.store.rv}")


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    if not os.path.exists(args.token_file):
        write_atomic(args.token_file, "fake-" + secrets.token_urlsafe(24) + "\n")
    app = App(args)
    if args.fixtures:
        try:
            load_fixtures(app, args.fixtures)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log(f"--fixtures {args.fixtures}: {e}")
            return 2
    sslctx = None
    if not args.plain:
        ensure_tls(args.state_dir, args.addr)
        sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sslctx.minimum_version = ssl.TLSVersion.TLSv1_2
        sslctx.load_cert_chain(os.path.join(args.state_dir, "server.crt"),
                               os.path.join(args.state_dir, "server.key"))
        sslctx.verify_mode = ssl.CERT_OPTIONAL
        sslctx.load_verify_locations(os.path.join(args.state_dir, "client-ca.crt"))
        sslctx.set_alpn_protocols(["http/1.1"])
    APIHandler.app = app
    ControlHandler.app = app
    try:
        api = Server((args.addr, args.port), APIHandler, args.family, sslctx)
        ctl = Server((args.addr, args.control_port), ControlHandler, args.family)
    except OSError as e:
        log(f"cannot listen on {args.addr}: {e}")
        return 3
    port, cport = api.server_address[1], ctl.server_address[1]
    host = f"[{args.addr}]" if ":" in args.addr else args.addr
    url = f"{'http' if args.plain else 'https'}://{host}:{port}"
    ca_b64 = ""
    if not args.plain:
        with open(os.path.join(args.state_dir, "ca.crt"), "rb") as f:
            ca_b64 = base64.b64encode(f.read()).decode()
    write_atomic(os.path.join(args.state_dir, "kubeconfig"),
                 kubeconfig(url, ca_b64, {"token": app.token()}))
    if not args.plain:
        write_atomic(os.path.join(args.state_dir, "kubeconfig-cert"),
                     kubeconfig(url, ca_b64, {
                         "client-certificate": os.path.join(args.state_dir, "client.crt"),
                         "client-key": os.path.join(args.state_dir, "client.key")}))
    for srv in (api, ctl):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def on_signal(_sig, _frame):
        app.stopping.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    info = {"pid": os.getpid(), "url": url, "addr": args.addr, "port": port,
            "control_port": cport, "control_url": f"http://{host}:{cport}",
            "state_dir": args.state_dir, "kubeconfig": os.path.join(args.state_dir, "kubeconfig"),
            "token_file": args.token_file}
    log(f"serving {url} (control http://{host}:{cport}), state in {args.state_dir}")
    if args.ready_file:
        write_atomic(args.ready_file, json.dumps(info) + "\n", 0o644)
    while not app.stopping.wait(0.5):
        pass
    log("shutting down")
    with app.store.lock:
        app.store.cond.notify_all()
    app.drop_watches()
    if args.ready_file:
        try:
            os.unlink(args.ready_file)
        except OSError:
            pass
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
