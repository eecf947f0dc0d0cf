/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Snapshot construction and name lookup. Construction allocates; lookup
 * only hashes and compares bytes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "meshdns/snapshot.h"
#include "meshdns/strmap.h"

enum entry_kind {
	ENTRY_SERVICE = 1,
	ENTRY_NAMESPACE,
};

struct snap_entry {
	const uint8_t *key;	/* wire labels, no root */
	uint32_t hash;
	uint8_t key_len;
	uint8_t kind;
	const struct snap_service *svc;	/* ENTRY_SERVICE */
};

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	/* FNV-1a's low bits are poor for short keys that differ at the end
	 * ("svc-1", "svc-2"): finish with murmur3's mixer (perf: probing was
	 * 60% of a publish at 10,000 services) */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h ? h : 1;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t c = 8;

	while (c < n)
		c <<= 1;
	return c;
}

/* Append a wire label for @p s (lowercased by the caller's validation). */
static size_t put_label(uint8_t *out, const char *prefix, const char *s)
{
	size_t pl = strlen(prefix), l = strlen(s);

	if (pl + l > DNS_MAX_LABEL)
		l = DNS_MAX_LABEL - pl;
	out[0] = (uint8_t)(pl + l);
	memcpy(out + 1, prefix, pl);
	memcpy(out + 1 + pl, s, l);
	dns_name_lower(out + 1, pl + l);
	return 1 + pl + l;
}

static int32_t target_find(const struct snap_service *s, const uint8_t *label)
{
	uint32_t h = hash_bytes(label, 1u + label[0]);

	for (uint32_t i = h & s->target_mask;; i = (i + 1) & s->target_mask) {
		uint32_t t = s->target_table[i];
		if (t == 0)
			return -1;
		const uint8_t *l = s->targets[t - 1].label;
		if (l[0] == label[0] && memcmp(l + 1, label + 1, label[0]) == 0)
			return (int32_t)(t - 1);
	}
}

static void target_insert(struct snap_service *s, uint32_t idx)
{
	const uint8_t *label = s->targets[idx].label;
	uint32_t h = hash_bytes(label, 1u + label[0]);
	uint32_t i = h & s->target_mask;

	while (s->target_table[i])
		i = (i + 1) & s->target_mask;
	s->target_table[i] = idx + 1;
}

struct svc_live *svc_live_create(void)
{
	struct svc_live *l = calloc(1, sizeof(*l));

	if (l)
		l->refs = 1;
	return l;
}

void svc_live_ref(struct svc_live *l)
{
	l->refs++;
}

void svc_live_unref(struct svc_live *l)
{
	if (l && --l->refs == 0)
		free(l);
}

static bool ep_local(const struct svc_endpoint *se, const char *zone)
{
	if (se->zone && strcmp(se->zone, zone) == 0)
		return true;
	for (size_t i = 0; i < se->n_for_zones; i++) {
		if (strcmp(se->for_zones[i], zone) == 0)
			return true;
	}
	return false;
}

/*
 * Zone preference per family: answer from the local zone alone while its
 * eligible endpoints carry at least min_share of the eligible weight.
 */
static bool decide_local(const struct snap_service *s, int family, uint8_t min_share)
{
	uint64_t local = 0, total = 0, n_local = 0, n_total = 0;

	for (uint32_t i = 0; i < s->n_eps; i++) {
		const struct snap_ep *e = &s->eps[i];
		if (e->family != family || !(e->flags & SNAP_EP_ELIGIBLE))
			continue;
		total += e->effective;
		n_total++;
		if (e->flags & SNAP_EP_LOCAL) {
			local += e->effective;
			n_local++;
		}
	}
	if (!n_local)
		return false;
	if (!total)	/* all draining: count endpoints instead */
		return n_local * 100 >= (uint64_t)min_share * n_total;
	return local * 100 >= (uint64_t)min_share * total;
}

/* Which endpoints answers hold; see snap_service_create() in the header. */
static void decide_eligible(struct snap_service *s, uint8_t panic_pct)
{
	uint32_t n_live = 0;

	for (uint32_t i = 0; i < s->n_eps; i++) {
		struct snap_ep *e = &s->eps[i];
		s->n_ready += (e->flags & SNAP_EP_READY) != 0;
		s->n_healthy += (e->flags & SNAP_EP_HEALTHY) != 0;
		if ((e->flags & SNAP_EP_HEALTHY) && e->effective > 0)
			n_live++;
		if ((e->flags & SNAP_EP_HEALTHY) && e->effective == 0)
			e->flags |= SNAP_EP_DRAINING;
	}
	s->panic = panic_pct > 0 && s->n_ready > 0 &&
		   (uint64_t)s->n_healthy * 100 < (uint64_t)panic_pct * s->n_ready;
	for (uint32_t i = 0; i < s->n_eps; i++) {
		struct snap_ep *e = &s->eps[i];
		bool in;
		if (s->panic)
			in = (e->flags & SNAP_EP_READY) != 0;
		else if (n_live)
			in = (e->flags & SNAP_EP_HEALTHY) && e->effective > 0;
		else
			in = (e->flags & SNAP_EP_HEALTHY) != 0;
		if (in) {
			e->flags |= SNAP_EP_ELIGIBLE;
			s->n_eligible++;
		}
	}
}

/*
 * Endpoint @p se (@p h: its health, NULL: healthy) as the next snap_ep of
 * @p s, filed under its target name; @p node_zone non-NULL: mark it local
 * when it is in that zone. @return 0, or -1 (no memory)
 */
static int add_endpoint(struct snap_service *s, const struct svc_endpoint *se,
			const struct ep_health *h, const char *node_zone)
{
	struct snap_ep *e = &s->eps[s->n_eps];
	uint8_t label[DNS_MAX_LABEL + 1];
	char host[64];

	e->family = (uint8_t)se->family;
	memcpy(e->addr, se->addr, sizeof(e->addr));
	e->weight = se->weight;
	e->load_pct = h ? h->load_pct : 100;
	e->effective = (uint32_t)((uint64_t)se->weight * e->load_pct / 100);
	e->flags = 0;
	e->ramp_start_ms = h ? h->healthy_since_ms : 0;
	if (se->ready)
		e->flags |= SNAP_EP_READY;
	if (node_zone && ep_local(se, node_zone))
		e->flags |= SNAP_EP_LOCAL;
	if (se->ready && (!h || h->healthy))
		e->flags |= SNAP_EP_HEALTHY;
	/* Zone strings stay owned by a copy of the spec's zone. */
	e->zone = NULL;
	if (se->zone && !(e->zone = strdup(se->zone)))
		return -1;
	svc_endpoint_host(se, host);
	if (!host[0]) {
		free((char *)e->zone);
		return 0;
	}
	put_label(label, "", host);
	int32_t t = target_find(s, label);
	if (t < 0) {
		t = (int32_t)s->n_targets++;
		memcpy(s->targets[t].label, label, 1u + label[0]);
		s->targets[t].ep4 = s->targets[t].ep6 = -1;
		target_insert(s, (uint32_t)t);
	}
	int32_t *slot = e->family == AF_INET ? &s->targets[t].ep4 : &s->targets[t].ep6;
	if (*slot < 0)
		*slot = (int32_t)s->n_eps;
	e->target = (uint32_t)t;
	s->n_eps++;
	return 0;
}

struct snap_service *snap_service_create(const struct svc_spec *spec,
					 const struct ep_health *health,
					 struct svc_live *live,
					 const struct snap_policy *policy)
{
	bool zones = policy && policy->zone_preference && policy->node_zone;
	struct snap_service *s = calloc(1, sizeof(*s));
	size_t n = spec->n_endpoints;

	if (!s)
		return NULL;
	s->refs = 1;
	s->name = strdup(spec->name);
	s->namespace = strdup(spec->namespace);
	s->eps = calloc(n ? n : 1, sizeof(*s->eps));
	s->targets = calloc(n ? n : 1, sizeof(*s->targets));
	s->target_mask = pow2_at_least((uint32_t)n * 2) - 1;
	s->target_table = calloc(s->target_mask + 1, sizeof(*s->target_table));
	s->ports = calloc(spec->n_ports ? spec->n_ports : 1, sizeof(*s->ports));
	if (!s->name || !s->namespace || !s->eps || !s->targets ||
	    !s->target_table || !s->ports)
		goto fail;
	s->key_len = (uint8_t)put_label(s->key, "", spec->name);
	s->key_len = (uint8_t)(s->key_len + put_label(s->key + s->key_len, "",
						      spec->namespace));

	for (size_t i = 0; i < spec->n_ports; i++) {
		struct snap_port *p = &s->ports[i];
		const struct svc_port *sp = &spec->ports[i];
		if (sp->name && *sp->name)
			put_label(p->name, "_", sp->name);
		put_label(p->proto, "_", svc_proto_name(sp->proto));
		p->port = sp->port;
	}
	s->n_ports = (uint32_t)spec->n_ports;

	for (size_t i = 0; i < n; i++) {
		if (add_endpoint(s, &spec->endpoints[i], health ? &health[i] : NULL,
				 zones ? policy->node_zone : NULL) < 0)
			goto fail;
	}
	decide_eligible(s, spec->panic_threshold_pct);
	s->zones = zones;
	if (zones) {
		s->use_local4 = decide_local(s, AF_INET, policy->zone_min_share_pct);
		s->use_local6 = decide_local(s, AF_INET6, policy->zone_min_share_pct);
	}
	s->max_answers = spec->has_max_answers ? spec->max_answers
			 : policy ? policy->max_answers : 0;
	s->slow_start_ms = spec->slow_start_s * 1000u;
	if (live) {
		svc_live_ref(live);
		s->live = live;
	}
	return s;
fail:
	s->refs = 1;
	snap_service_unref(s);
	return NULL;
}

void snap_service_ref(struct snap_service *s)
{
	s->refs++;
}

void snap_service_unref(struct snap_service *s)
{
	if (!s || --s->refs > 0)
		return;
	for (uint32_t i = 0; i < s->n_eps; i++)
		free((char *)s->eps[i].zone);
	free(s->eps);
	free(s->targets);
	free(s->target_table);
	free(s->ports);
	free(s->name);
	free(s->namespace);
	svc_live_unref(s->live);
	free(s);
}

static struct snap_entry *entry_slot(struct snapshot *s, const uint8_t *key,
				     uint8_t key_len, uint8_t kind, bool *found)
{
	uint32_t h = hash_bytes(key, key_len);

	for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask) {
		struct snap_entry *e = &s->table[i];
		if (!e->kind) {
			*found = false;
			e->hash = h;
			return e;
		}
		if (e->hash == h && e->kind == kind && e->key_len == key_len &&
		    memcmp(e->key, key, key_len) == 0) {
			*found = true;
			return e;
		}
	}
}

static const struct snap_entry *entry_find(const struct snapshot *s,
					   const uint8_t *key, uint8_t key_len,
					   uint8_t kind)
{
	uint32_t h = hash_bytes(key, key_len);

	for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask) {
		const struct snap_entry *e = &s->table[i];
		if (!e->kind)
			return NULL;
		if (e->hash == h && e->kind == kind && e->key_len == key_len &&
		    memcmp(e->key, key, key_len) == 0)
			return e;
	}
}

struct snapshot *snapshot_create(const struct snapshot_params *p,
				 struct snap_service *const *services,
				 size_t n_services, uint64_t generation,
				 uint32_t serial)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	int dl;

	if (!s)
		return NULL;
	s->generation = generation;
	s->serial = serial;
	s->ttl_s = p->ttl_s;
	s->negative_ttl_s = p->negative_ttl_s;
	s->edns_buffer_size = p->edns_buffer_size;
	s->unsynced = p->unsynced;
	snprintf(s->node_name, sizeof(s->node_name), "%s", p->node_name ? p->node_name : "");
	dl = dns_name_from_str(p->domain, s->domain);
	if (dl < 0)
		goto fail;
	s->domain_len = (uint8_t)dl;
	for (const uint8_t *l = s->domain; *l; l += 1 + *l)
		s->domain_labels++;

	for (size_t i = 0; i < p->n_ns_addrs; i++) {
		const struct sockaddr_storage *ss = &p->ns_addrs[i];
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ss;
			if (sin->sin_addr.s_addr == htonl(INADDR_ANY) || s->n_ns4 >= 8)
				continue;
			memcpy(s->ns_addr4[s->n_ns4++], &sin->sin_addr, 4);
		} else if (ss->ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ss;
			if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) || s->n_ns6 >= 8)
				continue;
			memcpy(s->ns_addr6[s->n_ns6++], &sin6->sin6_addr, 16);
		}
	}

	/* at most two entries per service: itself and its namespace */
	s->mask = pow2_at_least((uint32_t)(n_services * 4 + 4)) - 1;
	s->table = calloc(s->mask + 1, sizeof(*s->table));
	s->services = calloc(n_services ? n_services : 1, sizeof(*s->services));
	if (!s->table || !s->services)
		goto fail;
	for (size_t i = 0; i < n_services; i++) {
		struct snap_service *svc = services[i];
		struct snap_entry *e;
		bool found;

		snap_service_ref(svc);
		s->services[s->n_services++] = svc;
		e = entry_slot(s, svc->key, svc->key_len, ENTRY_SERVICE, &found);
		if (!found) {
			e->key = svc->key;
			e->key_len = svc->key_len;
			e->kind = ENTRY_SERVICE;
			e->svc = svc;
			s->n_entries++;
		}
		/* the namespace label follows the service label in the key */
		const uint8_t *ns = svc->key + 1 + svc->key[0];
		e = entry_slot(s, ns, (uint8_t)(1 + ns[0]), ENTRY_NAMESPACE, &found);
		if (!found) {
			e->key = ns;
			e->key_len = (uint8_t)(1 + ns[0]);
			e->kind = ENTRY_NAMESPACE;
			s->n_entries++;
		}
	}
	s->rev = p->rev;
	return s;
fail:
	snapshot_delete(s);
	return NULL;
}

void snapshot_addr_key(int family, const uint8_t *addr, char out[SNAP_ADDR_KEY])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = family == AF_INET ? 4 : 16, o = 0;

	out[o++] = family == AF_INET ? '4' : '6';
	for (size_t i = 0; i < n; i++) {
		out[o++] = hex[addr[i] >> 4];
		out[o++] = hex[addr[i] & 15];
	}
	out[o] = '\0';
}

const struct snap_service *snapshot_find_address(const struct snapshot *s, int family,
						 const uint8_t *addr, uint32_t *ep)
{
	char key[SNAP_ADDR_KEY], ns[DNS_MAX_LABEL + 1], name[DNS_MAX_LABEL + 1];
	const char *who, *slash;
	size_t n = family == AF_INET ? 4 : 16;

	if (!s->rev)
		return NULL;
	snapshot_addr_key(family, addr, key);
	/* the first of the services that have the address (one per line) */
	who = strmap_get(s->rev, key);
	if (!who || !(slash = strchr(who, '/')) || (size_t)(slash - who) > DNS_MAX_LABEL)
		return NULL;
	size_t nl = strcspn(slash + 1, "\n");
	if (nl > DNS_MAX_LABEL)
		return NULL;
	memcpy(ns, who, (size_t)(slash - who));
	ns[slash - who] = '\0';
	memcpy(name, slash + 1, nl);
	name[nl] = '\0';
	const struct snap_service *svc = snapshot_find_service(s, ns, name);
	for (uint32_t i = 0; svc && i < svc->n_eps; i++) {
		if (svc->eps[i].family == family && memcmp(svc->eps[i].addr, addr, n) == 0) {
			*ep = i;
			return svc;
		}
	}
	return NULL;	/* not published yet, or gone */
}

/* The table entry whose key points into @p old must point into @p new. */
static void repoint(struct snapshot *s, const uint8_t *key, uint8_t key_len, uint8_t kind,
		    const struct snap_service *old, struct snap_service *new,
		    const uint8_t *new_key)
{
	bool found;
	struct snap_entry *e = entry_slot(s, key, key_len, kind, &found);

	if (!found)
		return;
	if (kind == ENTRY_SERVICE)
		e->svc = new;
	if (e->key >= old->key && e->key < old->key + sizeof(old->key))
		e->key = new_key;
}

struct snapshot *snapshot_update(const struct snapshot *prev, const struct snapshot_params *p,
				 struct snap_service *const *services, size_t n_services,
				 uint64_t generation, uint32_t serial)
{
	struct snapshot *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	*s = *prev;
	s->generation = generation;
	s->serial = serial;
	s->unsynced = p->unsynced;
	s->rev = p->rev;
	s->table = malloc((s->mask + 1) * sizeof(*s->table));
	s->services = malloc((n_services ? n_services : 1) * sizeof(*s->services));
	if (!s->table || !s->services) {
		free(s->table);
		free(s->services);
		free(s);
		return NULL;
	}
	memcpy(s->table, prev->table, (s->mask + 1) * sizeof(*s->table));
	for (size_t i = 0; i < n_services; i++) {
		struct snap_service *svc = services[i];
		const struct snap_service *old = prev->services[i];
		snap_service_ref(svc);
		s->services[i] = svc;
		if (svc == old)
			continue;
		repoint(s, svc->key, svc->key_len, ENTRY_SERVICE, old, svc, svc->key);
		const uint8_t *ns = svc->key + 1 + svc->key[0];
		repoint(s, ns, (uint8_t)(1 + ns[0]), ENTRY_NAMESPACE, old, svc, ns);
	}
	s->n_services = (uint32_t)n_services;
	return s;
}

void snapshot_delete(struct snapshot *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n_services; i++)
		snap_service_unref(s->services[i]);
	free(s->services);
	free(s->table);
	free(s);
}

/* Two wire labels equal? Lengths first: a label may be longer than the
 * array it is compared with (found by fuzz_dns). */
static bool label_eq(const uint8_t *a, const uint8_t *b)
{
	return a[0] == b[0] && memcmp(a + 1, b + 1, a[0]) == 0;
}

static bool label_is(const uint8_t *label, const char *text)
{
	size_t n = strlen(text);

	return label[0] == n && memcmp(label + 1, text, n) == 0;
}

void snapshot_lookup(const struct snapshot *s, const struct dns_query *q,
		     struct snap_match *m)
{
	const uint8_t *n = q->lname;
	size_t dlen = s->domain_len;

	memset(m, 0, sizeof(*m));
	m->kind = SNAP_KIND_OUTSIDE;
	if (q->nlabels < s->domain_labels)
		return;
	/* r: labels left of the domain */
	unsigned r = q->nlabels - s->domain_labels;
	size_t at = r < q->nlabels ? q->label_off[r] : q->qname_len - 1;
	if (q->qname_len - at != dlen || memcmp(n + at, s->domain, dlen) != 0)
		return;
	m->domain_label = (uint8_t)r;
	m->kind = SNAP_KIND_NONE;

	if (r == 0) {
		m->kind = SNAP_KIND_APEX;
		return;
	}
	const uint8_t *last = n + q->label_off[r - 1];
	if (label_is(last, "dns")) {
		if (r == 1)
			m->kind = SNAP_KIND_EMPTY;
		else if (r == 2 && label_is(n + q->label_off[0], "ns"))
			m->kind = SNAP_KIND_NSHOST;
		return;
	}
	if (!label_is(last, "svc"))
		return;
	if (r == 1) {
		m->kind = SNAP_KIND_EMPTY;
		return;
	}
	if (r == 2) {
		const uint8_t *ns = n + q->label_off[0];
		if (entry_find(s, ns, (uint8_t)(1 + ns[0]), ENTRY_NAMESPACE))
			m->kind = SNAP_KIND_EMPTY;
		return;
	}
	/* SVC.NS key: the two labels before "svc" */
	unsigned si = r - 3;
	const uint8_t *key = n + q->label_off[si];
	uint8_t key_len = (uint8_t)(q->label_off[r - 1] - q->label_off[si]);
	const struct snap_entry *e = entry_find(s, key, key_len, ENTRY_SERVICE);
	if (!e)
		return;
	const struct snap_service *svc = e->svc;
	m->svc = svc;
	m->svc_label = (uint8_t)si;
	if (si == 0) {
		m->kind = SNAP_KIND_SERVICE;
	} else if (si == 1) {
		const uint8_t *l = n + q->label_off[0];
		int32_t t;
		if (label_is(l, "_status")) {
			m->kind = SNAP_KIND_STATUS;
		} else if (l[0] > 1 && l[1] == '_') {
			/* _proto: an empty non-terminal above _port._proto */
			for (uint32_t i = 0; i < svc->n_ports; i++) {
				if (svc->ports[i].name[0] && label_eq(svc->ports[i].proto, l)) {
					m->kind = SNAP_KIND_EMPTY;
					return;
				}
			}
		} else if ((t = target_find(svc, l)) >= 0) {
			m->kind = SNAP_KIND_TARGET;
			m->index = (uint32_t)t;
		}
	} else if (si == 2) {
		const uint8_t *pl = n + q->label_off[0];
		const uint8_t *tl = n + q->label_off[1];
		for (uint32_t i = 0; i < svc->n_ports; i++) {
			const struct snap_port *p = &svc->ports[i];
			if (p->name[0] && label_eq(p->name, pl) && label_eq(p->proto, tl)) {
				m->kind = SNAP_KIND_PORT;
				m->index = i;
				return;
			}
		}
	}
}

const struct snap_service *snapshot_find_service(const struct snapshot *s,
						 const char *ns,
						 const char *name)
{
	uint8_t key[2 * (DNS_MAX_LABEL + 1)];
	size_t n;

	if (strlen(name) > DNS_MAX_LABEL || strlen(ns) > DNS_MAX_LABEL)
		return NULL;
	n = put_label(key, "", name);
	n += put_label(key + n, "", ns);
	const struct snap_entry *e = entry_find(s, key, (uint8_t)n, ENTRY_SERVICE);
	return e ? e->svc : NULL;
}
