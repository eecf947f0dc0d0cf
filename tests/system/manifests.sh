#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# daemonset/: the Kubernetes manifests, the CoreDNS stub domain, the pod
# example and the Dockerfile, checked offline (no cluster, no registry, no
# Docker engine). No daemon is started.
#
# What kubectl can check without an API server, and how:
# - YAML: every file parses (PyYAML, with duplicate keys rejected, when it is
#   installed; kubectl's own decoder in any case).
# - `kubectl create --dry-run=client` needs API discovery even for a client
#   dry run (to map each kind to a resource), so it runs against a stub
#   discovery server on 127.0.0.1 that lists the kinds used here. With
#   --validate=false: schema validation needs the server's OpenAPI
#   documents, which cannot be had offline.
# - Instead, the DaemonSet and the Pod go through kubectl's typed Go structs
#   (`kubectl set env --local`, which decodes into apps/v1 and core/v1
#   types): a field that comes back missing or changed was misspelled,
#   misplaced or of the wrong type. The ClusterRole and ClusterRoleBinding
#   are compared with what kubectl's own generators make of the same
#   intent; the ServiceAccount and ConfigMap keys are checked by name.
# - Not checked: admission (PriorityClass, Pod Security), defaults applied
#   by the server, and whether the image builds and runs.
# Then the properties daemonset/README.md relies on: the embedded config
# passes `meshdns -t`; host network; a surge-only rolling update and no
# (host) ports; probes on /healthz and /readyz at the config's http
# address; a termination grace period longer than the agent's own
# shutdown_grace_ms; NET_BIND_SERVICE for uid 65532 (the image's USER); NODE_NAME;
# the config mounted where the image's ENTRYPOINT reads it; the
# ClusterRole's exact rules; one address everywhere (listen, probes, init
# container, pod nameserver, Corefile); every file distributed.

. "$(dirname "$0")/lib.sh"

need_cmd kubectl

DS=$SRCDIR/daemonset
MANIFEST=$DS/meshdns.yaml
POD=$DS/pod-dnsconfig.yaml
COREFILE=$DS/coredns-stubdomain.Corefile
DOCKERFILE=$DS/Dockerfile
for f in "$MANIFEST" "$POD" "$COREFILE" "$DOCKERFILE" "$DS/Makefile.inc" "$DS/README.md"; do
	[ -f "$f" ] || hard_error "missing $f"
done

# kubectl: private HOME and cache, never a kubeconfig or a real cluster
export HOME=$TMP/home
mkdir -p "$HOME"
unset KUBECONFIG

OUT=$TMP/out
ERR=$TMP/err

# run CMD...: run CMD (bounded), stdout to $OUT, stderr to $ERR, status in
# $RC; the context fail prints.
run() {
	LAST_CMD="$*"
	if declare -F "$1" >/dev/null; then
		"$@" >"$OUT" 2>"$ERR"
	else
		timeout 60 "$@" >"$OUT" 2>"$ERR"
	fi
	RC=$?
	DIG="$(printf 'exit status %s\n--- stdout:\n%s\n--- stderr:\n%s' "$RC" \
		"$(head -c 3000 "$OUT")" "$(head -c 3000 "$ERR")")"
	return "$RC"
}

# ---------------------------------------------------------------- helpers (python)

MTOOL=$TMP/manifests.py
cat >"$MTOOL" <<'PY'
import json, os, re, sys


def load_stream(path):
    """kubectl -o json output: one object per document, or a List."""
    s = open(path).read()
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s):
            return out
        o, i = dec.raw_decode(s, i)
        out.extend(o.get('items', []) if o.get('kind') == 'List' else [o])


def cmd_yaml(args):
    """yaml FILE: parse every document; duplicate keys are errors. Exit 3
    without PyYAML."""
    try:
        import yaml
    except ImportError:
        sys.exit(3)

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for k, _ in node.value:
            key = loader.construct_object(k, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, 'duplicate key %r' % (key,), k.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    with open(args[0]) as f:
        docs = [d for d in yaml.load_all(f, Loader=Strict) if d is not None]
    print(len(docs))


def cmd_kinds(args):
    """kinds JSON: Kind/namespace/name of each object, one per line"""
    for o in load_stream(args[0]):
        m = o.get('metadata', {})
        print('%s/%s/%s' % (o.get('kind'), m.get('namespace', ''), m.get('name')))


def cmd_pick(args):
    """pick JSON KIND OUT: write the one object of KIND to OUT"""
    objs = [o for o in load_stream(args[0]) if o.get('kind') == args[1]]
    if len(objs) != 1:
        sys.exit('%d objects of kind %s' % (len(objs), args[1]))
    json.dump(objs[0], open(args[2], 'w'), indent=1)


def leaves(o, p=''):
    if isinstance(o, dict):
        if not o:
            yield p, {}
        for k, v in o.items():
            yield from leaves(v, p + '.' + k)
    elif isinstance(o, list):
        if not o:
            yield p, []
        for i, v in enumerate(o):
            yield from leaves(v, '%s[%d]' % (p, i))
    else:
        yield p, o


def cmd_roundtrip(args):
    """roundtrip ORIG TYPED: every leaf of ORIG is in TYPED, unchanged
    (zero values may be dropped)"""
    orig = dict(leaves(json.load(open(args[0]))))
    typed = dict(leaves(load_stream(args[1])[0]))
    bad = 0
    for p, v in orig.items():
        if p not in typed and v in (False, 0, '', {}, []):
            continue    # omitempty drops zero values: the same meaning
        if p not in typed:
            print('lost: %s = %s' % (p, json.dumps(v)))
            bad += 1
        elif typed[p] != v:
            print('changed: %s = %s -> %s' % (p, json.dumps(v), json.dumps(typed[p])))
            bad += 1
    sys.exit(1 if bad else 0)


ALLOWED = {
    'ServiceAccount': {'apiVersion', 'kind', 'metadata', 'secrets',
                       'imagePullSecrets', 'automountServiceAccountToken'},
    'ConfigMap': {'apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable'},
    'ClusterRole': {'apiVersion', 'kind', 'metadata', 'rules', 'aggregationRule'},
    'ClusterRoleBinding': {'apiVersion', 'kind', 'metadata', 'roleRef', 'subjects'},
}
META = {'name', 'namespace', 'labels', 'annotations'}
RULE = {'apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs'}


def cmd_keys(args):
    """keys JSON: unknown keys of the non-workload kinds, one per line"""
    for o in load_stream(args[0]):
        k = o.get('kind')
        if k not in ALLOWED:
            continue
        for key in set(o) - ALLOWED[k]:
            print('%s: %s' % (k, key))
        for key in set(o.get('metadata', {})) - META:
            print('%s: metadata.%s' % (k, key))
        for r in o.get('rules', []):
            for key in set(r) - RULE:
                print('%s: rules[].%s' % (k, key))


def triples(role):
    return sorted('%s/%s:%s' % (g or 'core', r, v) for rule in role.get('rules', [])
                  for g in rule.get('apiGroups', []) for r in rule.get('resources', [])
                  for v in rule.get('verbs', []))


def cmd_rules(args):
    """rules JSON: the ClusterRole's rules as group/resource:verb"""
    for o in load_stream(args[0]):
        if o.get('kind') == 'ClusterRole':
            print(' '.join(triples(o)))


def cmd_binding(args):
    """binding JSON: roleRef and subjects of the ClusterRoleBinding"""
    for o in load_stream(args[0]):
        if o.get('kind') == 'ClusterRoleBinding':
            print(json.dumps({'roleRef': o.get('roleRef'), 'subjects': o.get('subjects')},
                             sort_keys=True))


def strip_comments(s):
    """meshdns.conf allows // and /* */ outside strings"""
    out, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == '\\' else 1
            out.append(s[i:j + 1])
            i = j + 1
        elif s.startswith('//', i):
            while i < n and s[i] != '\n':
                i += 1
        elif s.startswith('/*', i):
            j = s.find('*/', i + 2)
            out.append('\n' * s.count('\n', i, j))
            i = j + 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def hostport(addr):
    m = re.fullmatch(r'\[(.*)\]:(\d+)|([^:]*):(\d+)', addr or '')
    if not m:
        return '', ''
    return (m.group(1) or m.group(3)), (m.group(2) or m.group(4))


def dockerfile(path):
    """instructions as (KEYWORD, text), continuation lines joined"""
    lines, cur = [], ''
    for raw in open(path):
        line = raw.rstrip('\n')
        if not cur and (line.lstrip().startswith('#') or not line.strip()):
            continue
        if line.lstrip().startswith('#'):
            continue
        if line.endswith('\\'):
            cur += line[:-1] + ' '
            continue
        cur += line
        kw, _, rest = cur.strip().partition(' ')
        lines.append((kw.upper(), rest.strip()))
        cur = ''
    return lines


def apt_packages(run):
    pkgs = []
    for m in re.finditer(r'apt-get install((?:\s+[^&;|]+)+)', run):
        pkgs += [t for t in m.group(1).split() if not t.startswith('-')]
    return pkgs


def cmd_facts(args):
    """facts MANIFEST_JSON POD_JSON COREFILE DOCKERFILE MAKEFILE_INC
    TOP_README CONF_OUT: NAME<TAB>VALUE lines; writes the ConfigMap's
    meshdns.conf to CONF_OUT"""
    objs = load_stream(args[0])
    pod = load_stream(args[1])[0]
    f = {}

    def one(kind):
        xs = [o for o in objs if o.get('kind') == kind]
        return xs[0] if len(xs) == 1 else {}

    # ConfigMap and its config
    cm = one('ConfigMap')
    f['cm.name'] = cm.get('metadata', {}).get('name', '')
    f['cm.keys'] = ' '.join(sorted(cm.get('data', {})))
    text = cm.get('data', {}).get('meshdns.conf', '')
    with open(args[6], 'w') as out:
        out.write(text)
    try:
        conf = json.loads(strip_comments(text))
    except ValueError as e:
        conf = {}
        f['conf.error'] = str(e)
    listen = conf.get('listen', ['127.0.0.1:53'])
    f['conf.listen_n'] = len(listen)
    f['conf.listen_host'], f['conf.listen_port'] = hostport(listen[0] if listen else '')
    f['conf.http_host'], f['conf.http_port'] = hostport(conf.get('http', '127.0.0.1:9153'))
    f['conf.domain'] = conf.get('domain', 'mesh.local')
    f['conf.kubernetes'] = json.dumps(conf.get('kubernetes'))
    f['conf.node'] = json.dumps(conf.get('node'))
    f['conf.grace_ms'] = conf.get('shutdown_grace_ms', 1000)

    # ServiceAccount, RBAC
    sa = one('ServiceAccount').get('metadata', {})
    f['sa'] = '%s/%s' % (sa.get('namespace', ''), sa.get('name', ''))

    # DaemonSet
    ds = one('DaemonSet')
    spec = ds.get('spec', {})
    tpl = spec.get('template', {})
    ps = tpl.get('spec', {})
    f['ds.namespace'] = ds.get('metadata', {}).get('namespace', '')
    f['ds.selector_matches'] = str(all(
        tpl.get('metadata', {}).get('labels', {}).get(k) == v
        for k, v in spec.get('selector', {}).get('matchLabels', {}).items())
        and bool(spec.get('selector', {}).get('matchLabels'))).lower()
    us = spec.get('updateStrategy', {})
    ru = us.get('rollingUpdate', {})
    f['ds.strategy'] = '%s maxSurge=%s maxUnavailable=%s' % (
        us.get('type'), ru.get('maxSurge'), ru.get('maxUnavailable'))
    f['ds.hostNetwork'] = str(ps.get('hostNetwork', False)).lower()
    f['ds.dnsPolicy'] = ps.get('dnsPolicy', 'ClusterFirst')
    f['ds.termination_ms'] = 1000 * ps.get('terminationGracePeriodSeconds', 30)
    f['ds.priorityClassName'] = ps.get('priorityClassName', '')
    f['ds.serviceAccountName'] = '%s/%s' % (f['ds.namespace'], ps.get('serviceAccountName', ''))
    f['ds.tolerates_all'] = str(any(
        t.get('operator') == 'Exists' and not t.get('key') and not t.get('effect')
        for t in ps.get('tolerations', []))).lower()
    inits, mains = ps.get('initContainers', []), ps.get('containers', [])
    f['ds.n_containers'] = '%d init, %d' % (len(inits), len(mains))
    f['ds.ports'] = sum(len(c.get('ports', [])) for c in inits + mains)
    f['ds.images'] = ' '.join(sorted({c.get('image', '') for c in inits + mains}))
    main = mains[0] if mains else {}
    init = inits[0] if inits else {}
    sc = main.get('securityContext', {})
    caps = sc.get('capabilities', {})
    f['main.caps'] = 'add=%s drop=%s' % (','.join(caps.get('add', [])),
                                         ','.join(caps.get('drop', [])))
    f['main.runAsUser'] = sc.get('runAsUser', '')
    f['main.runAsNonRoot'] = str(sc.get('runAsNonRoot')).lower()
    f['main.allowPrivilegeEscalation'] = str(sc.get('allowPrivilegeEscalation')).lower()
    f['main.readOnlyRootFilesystem'] = str(sc.get('readOnlyRootFilesystem')).lower()
    f['main.privileged'] = str(sc.get('privileged', False)).lower()
    for probe in ('livenessProbe', 'readinessProbe'):
        g = main.get(probe, {}).get('httpGet', {})
        f['main.' + probe] = '%s %s:%s%s' % (g.get('scheme', 'HTTP'), g.get('host', ''),
                                             g.get('port', ''), g.get('path', ''))
    env = {e.get('name'): e for e in main.get('env', [])}
    f['main.NODE_NAME'] = env.get('NODE_NAME', {}).get('valueFrom', {}).get(
        'fieldRef', {}).get('fieldPath', '')
    res = main.get('resources', {})
    f['main.resources'] = 'requests cpu=%s memory=%s, limits memory=%s' % (
        res.get('requests', {}).get('cpu'), res.get('requests', {}).get('memory'),
        res.get('limits', {}).get('memory'))
    vols = {v.get('name'): v for v in ps.get('volumes', [])}
    cfg_path, cfg_cm = '', ''
    for m in main.get('volumeMounts', []):
        v = vols.get(m.get('name'), {}).get('configMap')
        if not v:
            continue
        cfg_cm = v.get('name', '')
        for it in v.get('items', []):
            if it.get('key') == 'meshdns.conf':
                cfg_path = os.path.join(m.get('mountPath', ''), it.get('path', ''))
        if not v.get('items'):
            cfg_path = os.path.join(m.get('mountPath', ''), 'meshdns.conf')
        f['main.config_readOnly'] = str(m.get('readOnly', False)).lower()
    f['main.config_path'] = cfg_path
    f['main.config_cm'] = cfg_cm
    f['main.command'] = json.dumps(main.get('command', []) + main.get('args', []))
    isc = init.get('securityContext', {})
    f['init.caps'] = 'add=%s drop=%s' % (','.join(isc.get('capabilities', {}).get('add', [])),
                                         ','.join(isc.get('capabilities', {}).get('drop', [])))
    script = ' '.join(init.get('command', []) + init.get('args', []))
    m = re.search(r'ip addr (?:add|replace) (\S+) dev (\S+)', script)
    f['init.addr'] = m.group(1) if m else ''
    f['init.dummy'] = 'true' if m and re.search(
        r'ip link add %s type dummy' % re.escape(m.group(2)), script) else 'false'

    # the example pod
    pd = pod.get('spec', {})
    dc = pd.get('dnsConfig', {})
    f['pod.dnsPolicy'] = pd.get('dnsPolicy', 'ClusterFirst')
    f['pod.nameserver0'] = (dc.get('nameservers') or [''])[0]
    f['pod.nameservers'] = len(dc.get('nameservers', []))
    f['pod.namespace'] = pod.get('metadata', {}).get('namespace', 'default')
    f['pod.searches'] = ' '.join(dc.get('searches', []))
    f['pod.ndots'] = ''.join(o.get('value', '') for o in dc.get('options', [])
                             if o.get('name') == 'ndots')

    # Corefile: server blocks, plugins, forward target, balanced braces
    core = re.sub(r'#.*', '', open(args[2]).read())
    f['core.braces'] = str(core.count('{') == core.count('}')).lower()
    m = re.search(r'^\s*(\S+?)(?::(\d+))?\s*\{(.*?)^\s*\}', core, re.S | re.M)
    if m:
        f['core.zone'], f['core.port'] = m.group(1).rstrip('.'), m.group(2) or '53'
        body = m.group(3)
        f['core.plugins'] = ' '.join(re.findall(r'^\s*([a-z_]+)', body, re.M))
        fw = re.search(r'^\s*forward\s+(\S+)\s+([^\s{]+)', body, re.M)
        if fw:
            f['core.forward_from'] = fw.group(1)
            t = re.sub(r'^dns://', '', fw.group(2))
            f['core.forward_host'], f['core.forward_port'] = (hostport(t) if re.search(
                r':\d+$', t) and t.count(':') == 1 or t.startswith('[') else (t, '53'))
        f['core.force_tcp'] = str('force_tcp' in body).lower()
        f['core.cache'] = ' '.join(re.findall(r'^\s*cache\s*(\d*)', body, re.M))

    # Dockerfile
    ins = dockerfile(args[3])
    argdef = {}
    stages = []
    for kw, rest in ins:
        if kw == 'ARG' and '=' in rest and not stages:
            k, _, v = rest.partition('=')
            argdef[k] = v
        elif kw == 'FROM':
            img = rest.split()[0]
            img = re.sub(r'\$\{?(\w+)\}?', lambda x: argdef.get(x.group(1), x.group(0)), img)
            stages.append({'from': img, 'run': [], 'user': '', 'entrypoint': None})
        elif stages and kw == 'RUN':
            stages[-1]['run'].append(rest)
        elif stages and kw == 'USER':
            stages[-1]['user'] = rest
        elif stages and kw == 'ENTRYPOINT':
            stages[-1]['entrypoint'] = json.loads(rest)
    f['df.stages'] = len(stages)
    if stages:
        b, r = stages[0], stages[-1]
        f['df.build_from'] = b['from']
        f['df.runtime_from'] = r['from']
        brun, rrun = ' && '.join(b['run']), ' && '.join(r['run'])
        f['df.build_pkgs'] = ' '.join(sorted(apt_packages(brun)))
        f['df.runtime_pkgs'] = ' '.join(sorted(apt_packages(rrun)))
        f['df.build_steps'] = str(all(s in brun for s in (
            'autoreconf -fi', './configure --prefix=/usr --sysconfdir=/etc',
            'make install DESTDIR=/out'))).lower()
        f['df.setcap'] = str('setcap cap_net_bind_service=+ep /usr/sbin/meshdns'
                             in rrun).lower()
        f['df.user'] = r['user']
        f['df.entrypoint'] = json.dumps(r['entrypoint'])
        f['df.config_path'] = (r['entrypoint'] or [''])[-1]

    # Makefile.inc: EXTRA_DIST entries
    mk = open(args[4]).read().replace('\\\n', ' ')
    files = []
    for m in re.finditer(r'^EXTRA_DIST\s*\+?=(.*)$', mk, re.M):
        files += m.group(1).split()
    f['mk.extra_dist'] = ' '.join(sorted(files))

    # README.md "Building by hand": the build dependencies
    m = re.search(r'Debian 12 packages: `([^`]*)`', open(args[5]).read())
    f['readme.build_pkgs'] = ' '.join(sorted(m.group(1).split())) if m else ''

    for k, v in f.items():
        print('%s\t%s' % (k, v))


if __name__ == '__main__':
    globals()['cmd_' + sys.argv[1]](sys.argv[2:])
PY

mt() { timeout 60 python3 "$MTOOL" "$@"; }

# ---------------------------------------------------------------- YAML parses

for f in "$MANIFEST" "$POD"; do
	name=${f#"$SRCDIR"/}
	if run mt yaml "$f"; then
		ok "$name: valid YAML, no duplicate keys ($(cat "$OUT") documents, PyYAML)"
	elif [ "$RC" = 3 ]; then
		note "$name: no PyYAML; kubectl's decoder below is the YAML check"
	else
		fail "$name: not valid YAML"
	fi
done

# ---------------------------------------------------------------- kubectl create --dry-run=client

# A stub API server for discovery only: the kinds these files use, nothing
# else (no OpenAPI documents, no writes).
STUB=$TMP/discovery.py
cat >"$STUB" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def res(name, kind, namespaced):
    return {'name': name, 'singularName': '', 'namespaced': namespaced, 'kind': kind,
            'verbs': ['create', 'get', 'list', 'watch', 'update', 'patch', 'delete']}


CORE = [res('configmaps', 'ConfigMap', True), res('serviceaccounts', 'ServiceAccount', True),
        res('pods', 'Pod', True), res('services', 'Service', True),
        res('nodes', 'Node', False), res('namespaces', 'Namespace', False)]
GROUPS = {
    'apps/v1': [res('daemonsets', 'DaemonSet', True)],
    'rbac.authorization.k8s.io/v1': [res('clusterroles', 'ClusterRole', False),
                                     res('clusterrolebindings', 'ClusterRoleBinding', False)],
    'discovery.k8s.io/v1': [res('endpointslices', 'EndpointSlice', True)],
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        sys.stderr.write('stub: ' + fmt % a + '\n')

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path.split('?')[0]
        if p == '/api':
            return self.send(200, {'kind': 'APIVersions', 'versions': ['v1'],
                                   'serverAddressByClientCIDRs': []})
        if p == '/api/v1':
            return self.send(200, {'kind': 'APIResourceList', 'groupVersion': 'v1',
                                   'resources': CORE})
        if p == '/apis':
            groups = []
            for gv in GROUPS:
                g, v = gv.split('/')
                groups.append({'name': g, 'versions': [{'groupVersion': gv, 'version': v}],
                               'preferredVersion': {'groupVersion': gv, 'version': v}})
            return self.send(200, {'kind': 'APIGroupList', 'apiVersion': 'v1',
                                   'groups': groups})
        if p.startswith('/apis/') and p[6:] in GROUPS:
            return self.send(200, {'kind': 'APIResourceList', 'apiVersion': 'v1',
                                   'groupVersion': p[6:], 'resources': GROUPS[p[6:]]})
        if p == '/version':
            return self.send(200, {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0-stub'})
        self.send(404, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                        'reason': 'NotFound', 'code': 404})

    def refuse(self):
        self.send(405, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                        'code': 405, 'message': 'discovery stub: no writes'})

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse


server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
server.serve_forever()
PY
python3 "$STUB" "$TMP/stub.port" 2>"$TMP/stub.log" &
on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
for _ in $(seq 50); do
	[ -s "$TMP/stub.port" ] && break
	sleep 0.1
done
[ -s "$TMP/stub.port" ] || hard_error "discovery stub did not start: $(cat "$TMP/stub.log")"
KC=(kubectl --server "http://127.0.0.1:$(cat "$TMP/stub.port")" --cache-dir "$TMP/kcache"
	--request-timeout=10s)

if run "${KC[@]}" create --dry-run=client --validate=false -o json -f "$MANIFEST"; then
	ok "kubectl create --dry-run=client accepts daemonset/meshdns.yaml"
else
	fail "kubectl create --dry-run=client accepts daemonset/meshdns.yaml"
fi
cp "$OUT" "$TMP/manifest.json"
run mt kinds "$TMP/manifest.json"
expect_eq "$(cat "$OUT")" "$(printf '%s\n' ServiceAccount/kube-system/meshdns \
	ClusterRole//meshdns ClusterRoleBinding//meshdns \
	ConfigMap/kube-system/meshdns-config DaemonSet/kube-system/meshdns)" \
	"meshdns.yaml: ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap, DaemonSet (namespaced ones in kube-system)"

if run "${KC[@]}" create --dry-run=client --validate=false -o json -f "$POD"; then
	ok "kubectl create --dry-run=client accepts daemonset/pod-dnsconfig.yaml"
else
	fail "kubectl create --dry-run=client accepts daemonset/pod-dnsconfig.yaml"
fi
cp "$OUT" "$TMP/pod.json"
run mt kinds "$TMP/pod.json"
expect_eq "$(cat "$OUT")" "Pod/default/meshdns-client" "pod-dnsconfig.yaml: one Pod"

# ---------------------------------------------------------------- typed round trips

# kubectl set env --local decodes into the typed apps/v1 / core/v1 structs and
# prints the result: unknown fields are dropped and wrong types rejected.
# Adding a variable makes sure it prints (no change, no output).
roundtrip() {	# roundtrip LABEL JSON
	if ! run kubectl set env --local -f "$2" MESHDNS_ROUNDTRIP=1 -o json; then
		fail "$1: kubectl decodes it into its typed structs"
		return
	fi
	cp "$OUT" "$2.typed"
	if run mt roundtrip "$2" "$2.typed"; then
		ok "$1: every field survives kubectl's typed structs (no unknown or mistyped field)"
	else
		fail "$1: fields lost or changed by kubectl's typed structs"
	fi
}
run mt pick "$TMP/manifest.json" DaemonSet "$TMP/ds.json" || hard_error "no DaemonSet: $DIG"
roundtrip "DaemonSet meshdns" "$TMP/ds.json"
run mt pick "$TMP/pod.json" Pod "$TMP/pod1.json" || hard_error "no Pod: $DIG"
roundtrip "Pod example" "$TMP/pod1.json"

run mt keys "$TMP/manifest.json"
expect_eq "$(cat "$OUT")" "" "ServiceAccount, ConfigMap, ClusterRole, ClusterRoleBinding: only known keys"

# ---------------------------------------------------------------- facts

run mt facts "$TMP/manifest.json" "$TMP/pod.json" "$COREFILE" "$DOCKERFILE" \
	"$DS/Makefile.inc" "$SRCDIR/README.md" "$TMP/meshdns.conf" ||
	hard_error "cannot read the manifests: $DIG"
declare -A F
while IFS=$'\t' read -r k v; do F[$k]=$v; done <"$OUT"
fact() { printf '%s' "${F[$1]-}"; }

# ---------------------------------------------------------------- the embedded config

expect_eq "$(fact cm.keys)" "meshdns.conf" "ConfigMap $(fact cm.name) holds meshdns.conf"
if run "$MESHDNS" -t -c "$TMP/meshdns.conf"; then
	ok "the ConfigMap's meshdns.conf passes meshdns -t"
else
	fail "the ConfigMap's meshdns.conf passes meshdns -t"
fi
expect_eq "$(fact conf.error)" "" "meshdns.conf parses as JSON with comments (here too)"
ADDR=$(fact conf.listen_host)
expect_eq "$(fact conf.listen_n) $(fact conf.listen_port)" "1 53" "config: one listen address, port 53 (resolv.conf has no ports)"
case $ADDR in
169.254.*) ok "config: listens on a link-local address ($ADDR)" ;;
*) fail "config: listens on a link-local address (got '$ADDR')" ;;
esac
if [ "$ADDR" != 169.254.20.10 ]; then
	ok "config: not 169.254.20.10, NodeLocal DNSCache's address"
else
	fail "config: 169.254.20.10 is NodeLocal DNSCache's address"
fi
expect_eq "$(fact conf.http_host)" "$ADDR" "config: http on the node-local address too"
expect_eq "$(fact conf.kubernetes)" "{}" "config: kubernetes {} (in-cluster)"
expect_eq "$(fact conf.node)" "null" "config: no node key (NODE_NAME names the node)"

# ---------------------------------------------------------------- DaemonSet

expect_eq "$(fact ds.namespace)" "kube-system" "DaemonSet in kube-system"
expect_eq "$(fact ds.selector_matches)" "true" "DaemonSet selector matches the template's labels"
expect_eq "$(fact ds.hostNetwork)" "true" "DaemonSet: hostNetwork"
expect_eq "$(fact ds.dnsPolicy)" "Default" "DaemonSet: dnsPolicy Default"
expect_eq "$(fact ds.priorityClassName)" "system-node-critical" "DaemonSet: system-node-critical"
expect_eq "$(fact ds.strategy)" "RollingUpdate maxSurge=1 maxUnavailable=0" \
	"DaemonSet: rolling update with maxSurge 1, maxUnavailable 0"
expect_eq "$(fact ds.ports)" "0" "DaemonSet: no container ports (hostPorts would stop the surge pod)"
expect_eq "$(fact ds.tolerates_all)" "true" "DaemonSet: tolerates every taint"
# SIGTERM: serve up to shutdown_grace_ms waiting for a successor, then up to
# 2 s for open TCP connections; the kubelet must not SIGKILL before that
expect_le "$(($(fact conf.grace_ms) + 2000))" "$(($(fact ds.termination_ms) - 1))" \
	"config shutdown_grace_ms + 2 s drain < the pod's terminationGracePeriodSeconds"
expect_eq "$(fact ds.serviceAccountName)" "$(fact sa)" "DaemonSet runs as the ServiceAccount"
expect_eq "$(fact ds.n_containers)" "1 init, 1" "DaemonSet: one init container, one agent"
expect_eq "$(fact ds.images)" "$(fact ds.images | cut -d' ' -f1)" "init container and agent use the same image"
expect_eq "$(fact main.command)" "[]" "agent: the image's ENTRYPOINT, no command or args"
expect_eq "$(fact main.NODE_NAME)" "spec.nodeName" "agent: NODE_NAME from spec.nodeName"
expect_eq "$(fact main.resources)" "requests cpu=25m memory=32Mi, limits memory=128Mi" "agent: resources"
expect_eq "$(fact main.caps)" "add=NET_BIND_SERVICE drop=ALL" "agent: capabilities drop ALL, add NET_BIND_SERVICE"
expect_eq "$(fact main.allowPrivilegeEscalation) $(fact main.readOnlyRootFilesystem) $(fact main.privileged)" \
	"false true false" "agent: no privilege escalation, read-only root, not privileged"
expect_eq "$(fact main.runAsUser) $(fact main.runAsNonRoot)" "65532 true" "agent: uid 65532, runAsNonRoot"
HTTP="$(fact conf.http_host):$(fact conf.http_port)"
expect_eq "$(fact main.livenessProbe)" "HTTP $HTTP/healthz" "agent: liveness probe GET /healthz on the config's http address"
expect_eq "$(fact main.readinessProbe)" "HTTP $HTTP/readyz" "agent: readiness probe GET /readyz on the config's http address"
expect_eq "$(fact main.config_cm)" "$(fact cm.name)" "agent: mounts the ConfigMap"
expect_eq "$(fact main.config_readOnly)" "true" "agent: config mounted read-only"
expect_eq "$(fact init.addr)" "$ADDR/32" "init container adds the listen address ($ADDR/32)"
expect_eq "$(fact init.dummy)" "true" "init container creates the dummy interface it uses"
expect_eq "$(fact init.caps)" "add=NET_ADMIN drop=ALL" "init container: NET_ADMIN only"

# ---------------------------------------------------------------- RBAC

want_rules=$(printf '%s\n' core/nodes core/services discovery.k8s.io/endpointslices |
	while read -r r; do printf '%s:get\n%s:list\n%s:watch\n' "$r" "$r" "$r"; done | sort | tr '\n' ' ')
run mt rules "$TMP/manifest.json"
expect_eq "$(cat "$OUT")" "${want_rules% }" \
	"ClusterRole: exactly get/list/watch on services, endpointslices.discovery.k8s.io, nodes"
if run "${KC[@]}" create clusterrole meshdns --verb=get,list,watch \
	--resource=services,endpointslices.discovery.k8s.io,nodes --dry-run=client -o json; then
	cp "$OUT" "$TMP/gen-role.json"
	run mt rules "$TMP/gen-role.json"
	expect_eq "$(cat "$OUT")" "${want_rules% }" "ClusterRole: the same rules as kubectl create clusterrole makes"
else
	fail "kubectl create clusterrole --dry-run=client"
fi
run mt binding "$TMP/manifest.json"
ours=$(cat "$OUT")
if run "${KC[@]}" create clusterrolebinding meshdns --clusterrole=meshdns \
	--serviceaccount="$(fact sa | tr / :)" --dry-run=client -o json; then
	cp "$OUT" "$TMP/gen-binding.json"
	run mt binding "$TMP/gen-binding.json"
	expect_eq "$ours" "$(cat "$OUT")" \
		"ClusterRoleBinding: binds ClusterRole meshdns to $(fact sa), as kubectl create clusterrolebinding does"
else
	fail "kubectl create clusterrolebinding --dry-run=client"
fi

# ---------------------------------------------------------------- Dockerfile

expect_eq "$(fact df.stages) $(fact df.build_from) $(fact df.runtime_from)" "2 debian:12 debian:12-slim" \
	"Dockerfile: two stages, debian:12 then debian:12-slim"
expect_eq "$(fact df.build_steps)" "true" "Dockerfile: autoreconf, configure --prefix=/usr --sysconfdir=/etc, make install DESTDIR=/out"
missing=""
for p in $(fact readme.build_pkgs); do
	[[ " $(fact df.build_pkgs) " == *" $p "* ]] || missing+=" $p"
done
if [ -z "$(fact readme.build_pkgs)" ]; then
	fail "README.md lists the Debian 12 build packages (\"Debian 12 packages: \`...\`\")"
else
	expect_eq "${missing# }" "" "Dockerfile builder installs README.md's build packages"
fi
missing=""
for p in libldns3 libevent-2.1-7 libevent-pthreads-2.1-7 libcurl4 libcjson1 iproute2; do
	[[ " $(fact df.runtime_pkgs) " == *" $p "* ]] || missing+=" $p"
done
expect_eq "${missing# }" "" "Dockerfile runtime installs the runtime libraries and iproute2 (for the init container)"
if [[ " $(fact df.runtime_pkgs) " == *-dev\ * ]]; then
	fail "Dockerfile runtime installs no -dev package ($(fact df.runtime_pkgs))"
else
	ok "Dockerfile runtime installs no -dev package"
fi
# every shared library the binary under test needs comes from a runtime package
if command -v readelf >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
	missing=""
	for so in $(readelf -d "$MESHDNS" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		case $so in libc.so.* | libm.so.* | libgcc_s.so.* | lib[altu]san.so.* | libubsan.so.* | libstdc++.so.*) continue ;; esac
		path=$(ldconfig -p | awk -v so="$so" '$1 == so { print $NF; exit }')
		pkg=$( [ -n "$path" ] && dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
		[ -n "$pkg" ] || { missing+=" $so(unknown)"; continue; }
		[[ " $(fact df.runtime_pkgs) " == *" $pkg "* ]] || missing+=" $pkg"
	done
	expect_eq "${missing# }" "" "Dockerfile runtime provides every library $MESHDNS needs"
else
	note "no readelf or dpkg: the binary's libraries are not matched against the image"
fi
expect_eq "$(fact df.setcap)" "true" "Dockerfile: cap_net_bind_service file capability on /usr/sbin/meshdns"
expect_eq "$(fact df.user)" "$(fact main.runAsUser):$(fact main.runAsUser)" "Dockerfile USER is the DaemonSet's uid"
expect_eq "$(fact df.entrypoint)" '["/usr/sbin/meshdns", "-c", "/etc/meshdns/meshdns.conf"]' "Dockerfile ENTRYPOINT"
expect_eq "$(fact main.config_path)" "$(fact df.config_path)" "the ConfigMap is mounted where the ENTRYPOINT reads the config"

# ---------------------------------------------------------------- clients

expect_eq "$(fact pod.dnsPolicy)" "None" "pod example: dnsPolicy None"
expect_eq "$(fact pod.nameserver0)" "$ADDR" "pod example: first nameserver is the agent's listen address"
if [ "$(fact pod.nameservers)" -ge 2 ] 2>/dev/null; then
	ok "pod example: a second nameserver for everything meshdns refuses"
else
	fail "pod example: a second nameserver for everything meshdns refuses"
fi
dom=$(fact conf.domain)
expect_eq "$(fact pod.searches | cut -d' ' -f1-2)" "$(fact pod.namespace).svc.$dom svc.$dom" \
	"pod example: search list starts with <ns>.svc.$dom svc.$dom"
expect_eq "$(fact pod.ndots)" "5" "pod example: ndots 5"

expect_eq "$(fact core.braces)" "true" "Corefile: braces balance"
expect_eq "$(fact core.zone):$(fact core.port)" "$dom:53" "Corefile: a server block for $dom"
expect_eq "$(fact core.plugins)" "errors cache forward" "Corefile: errors, cache, forward"
expect_eq "$(fact core.cache)" "5" "Corefile: cache 5"
expect_eq "$(fact core.forward_from) $(fact core.forward_host):$(fact core.forward_port)" \
	". $ADDR:$(fact conf.listen_port)" "Corefile: forwards to the agent's listen address"
expect_eq "$(fact core.force_tcp)" "false" "Corefile: no force_tcp"

# ---------------------------------------------------------------- distribution

want=$(cd "$DS" && find . -maxdepth 1 -type f ! -name Makefile.inc | sed 's#^\./#daemonset/#' | sort | tr '\n' ' ')
expect_eq "$(fact mk.extra_dist)" "${want% }" "daemonset/Makefile.inc distributes every file in daemonset/"

finish
