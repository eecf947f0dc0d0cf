/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Reply construction. The question is echoed byte for byte (so the case is
 * the client's), and every owner and target name is compressed against
 * it: the answer owner is a pointer to offset 12, SRV targets are one
 * label plus a pointer to the service name inside the question, and the
 * SOA names point at the domain suffix of the question.
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include "meshdns/dns_answer.h"

#define OPT_RR_LEN 11
#define EDE_OPTION 15		/* RFC 8914 Extended DNS Error */
#define EDE_NOT_READY 14
#define EDE_OTHER 0
#define SOA_REFRESH 7200
#define SOA_RETRY 1800
#define SOA_EXPIRE 86400

struct reply {
	const struct snapshot *snap;
	const struct dns_query *q;
	struct snap_match m;
	struct dns_wbuf w;
	size_t limit;		/* total size allowed */
	size_t opt_len;		/* room kept for the OPT RR */
	uint16_t ancount, nscount, arcount;
	struct dns_answer_scratch *scratch;
	uint32_t n_recorded;
	size_t n_srv;		/* SRV targets chosen */
};

static size_t qname_offset(const struct dns_query *q, unsigned label)
{
	return DNS_HDR_LEN + (label < q->nlabels ? q->label_off[label]
						 : q->qname_len - 1);
}

static void put_header(struct dns_wbuf *w, const struct dns_query *q,
		       uint16_t flags, uint8_t rcode, bool question)
{
	uint8_t *h = wbuf_take(w, DNS_HDR_LEN);

	if (!h)
		return;
	wr16(h, q->id);
	wr16(h + 2, (uint16_t)(DNS_FLAG_QR | (q->flags & (0x7800 | DNS_FLAG_RD | DNS_FLAG_CD)) |
			       flags | (rcode & 0xf)));
	wr16(h + 4, question ? 1 : 0);
	memset(h + 6, 0, 6);
	if (question)
		wbuf_bytes(w, q->pkt + DNS_HDR_LEN, q->qname_len + 4);
}

/* Bytes an OPT RR takes with an EDE option of @p text (NULL: none). */
static size_t opt_len(const char *ede_text)
{
	return OPT_RR_LEN + (ede_text ? 6 + strlen(ede_text) : 0);
}

static void put_opt(struct dns_wbuf *w, const struct dns_query *q,
		    uint16_t udp_size, uint8_t rcode, uint16_t ede, const char *ede_text)
{
	wbuf_u8(w, 0);				/* root owner */
	wbuf_u16(w, DNS_TYPE_OPT);
	wbuf_u16(w, udp_size);
	wbuf_u8(w, (uint8_t)(rcode >> 4));	/* extended rcode */
	wbuf_u8(w, 0);				/* version 0 */
	wbuf_u16(w, q->edns_do ? DNS_EDNS_DO : 0);
	if (!ede_text) {
		wbuf_u16(w, 0);			/* no options */
		return;
	}
	size_t tl = strlen(ede_text);
	wbuf_u16(w, (uint16_t)(6 + tl));
	wbuf_u16(w, EDE_OPTION);
	wbuf_u16(w, (uint16_t)(2 + tl));
	wbuf_u16(w, ede);
	wbuf_bytes(w, ede_text, tl);
}

/* Header-only error reply (FORMERR, NOTIMP, BADVERS, REFUSED). */
static size_t error_reply(const struct snapshot *snap, const struct dns_query *q,
			  uint8_t rcode, uint8_t *out, size_t cap,
			  struct dns_answer_info *info)
{
	struct dns_wbuf w;

	wbuf_init(&w, out, cap);
	put_header(&w, q, 0, rcode, q->has_question);
	if (q->edns) {
		put_opt(&w, q, snap->edns_buffer_size, rcode, 0, NULL);
		wbuf_put16(&w, 10, 1);
	}
	if (w.overflow) {
		/* The echoed question did not fit: reply with the header. */
		wbuf_init(&w, out, cap);
		put_header(&w, q, 0, rcode, false);
	}
	info->rcode = rcode;
	info->answered = true;
	return w.len;
}

/* Owner (a compression pointer), type, class and TTL of an RR at @p p. */
static void rr_head_at(uint8_t *p, size_t owner, uint16_t type, uint32_t ttl)
{
	wr16(p, (uint16_t)(0xc000 | owner));
	wr16(p + 2, type);
	wr16(p + 4, DNS_CLASS_IN);
	wr32(p + 6, ttl);
}

static void rr_head(struct reply *r, size_t owner, uint16_t type, uint32_t ttl)
{
	uint8_t *p = wbuf_take(&r->w, 10);

	if (p)
		rr_head_at(p, owner, type, ttl);
}

static bool ep_eligible(const struct snap_ep *e)
{
	return (e->flags & SNAP_EP_ELIGIBLE) != 0;
}

static void put_addr_rr(struct reply *r, size_t owner, const struct snap_ep *e)
{
	bool v4 = e->family == AF_INET;
	uint16_t alen = v4 ? 4 : 16;
	uint8_t *p = wbuf_take(&r->w, 12u + alen);

	if (!p)
		return;
	rr_head_at(p, owner, v4 ? DNS_TYPE_A : DNS_TYPE_AAAA, r->snap->ttl_s);
	wr16(p + 10, alen);
	memcpy(p + 12, e->addr, alen);
}

/* The selector picks and orders the addresses (weights, zones, limit). */
static void add_addresses(struct reply *r, const struct snap_service *svc,
			  int family)
{
	struct dns_answer_scratch *sc = r->scratch;
	/* never order more than fit: one more than the room left is enough
	 * to overflow and set TC, so a big service costs what the packet
	 * can carry, not what the service holds */
	size_t room = (r->w.cap - r->w.len) / (family == AF_INET ? 16 : 28);
	size_t k = svc->max_answers && svc->max_answers <= room ? svc->max_answers
								 : room + 1;
	if (k > room && select_count(svc, family) > room) {
		r->w.overflow = true;	/* all of them cannot fit: TC at once */
		return;
	}
	size_t n = select_addresses(svc, family, sc->now_ms, k, &sc->rng, &sc->sel,
				    sc->pick);

	for (size_t i = 0; i < n; i++) {
		put_addr_rr(r, DNS_HDR_LEN, &svc->eps[sc->pick[i]]);
		r->ancount++;
	}
}

static void add_target_address(struct reply *r, const struct snap_service *svc,
			       const struct snap_target *t, int family)
{
	int32_t idx = family == AF_INET ? t->ep4 : t->ep6;

	if (idx >= 0 && ep_eligible(&svc->eps[idx])) {
		put_addr_rr(r, DNS_HDR_LEN, &svc->eps[idx]);
		r->ancount++;
	}
}

/*
 * One SRV per target chosen by the selector (r->n_srv of them, in
 * r->scratch->pick with priorities and weights), for @p port; @p record
 * keeps the targets' offsets for the additional section.
 */
static void add_srv(struct reply *r, const struct snap_service *svc,
		    const struct snap_port *port, bool record)
{
	struct dns_answer_scratch *sc = r->scratch;
	size_t svc_off = qname_offset(r->q, r->m.svc_label);

	for (size_t k = 0; k < r->n_srv; k++) {
		const struct snap_target *t = &svc->targets[sc->pick[k]];
		size_t rdlen_at;

		rr_head(r, DNS_HDR_LEN, DNS_TYPE_SRV, r->snap->ttl_s);
		rdlen_at = r->w.len;
		wbuf_u16(&r->w, 0);
		wbuf_u16(&r->w, sc->prio[k]);
		wbuf_u16(&r->w, sc->weight[k]);
		wbuf_u16(&r->w, port->port);
		size_t target_at = r->w.len;
		wbuf_bytes(&r->w, t->label, 1u + t->label[0]);
		wbuf_ptr(&r->w, svc_off);
		wbuf_put16(&r->w, rdlen_at, (uint16_t)(r->w.len - rdlen_at - 2));
		r->ancount++;
		if (record && r->n_recorded < DNS_ANSWER_MAX_RECORDS &&
		    target_at < 0x3fff) {
			sc->target[r->n_recorded] = sc->pick[k];
			sc->offset[r->n_recorded] = (uint16_t)target_at;
			r->n_recorded++;
		}
	}
}

static void choose_srv(struct reply *r, const struct snap_service *svc)
{
	struct dns_answer_scratch *sc = r->scratch;

	r->n_srv = select_srv(svc, sc->now_ms, &sc->rng, &sc->sel, sc->pick,
			      sc->prio, sc->weight);
}

/* SRV targets' addresses; whole records only, never sets TC. */
static void add_srv_additional(struct reply *r, const struct snap_service *svc)
{
	for (uint32_t k = 0; k < r->n_recorded; k++) {
		const struct snap_target *t = &svc->targets[r->scratch->target[k]];
		int32_t idx[2] = { t->ep4, t->ep6 };

		for (int f = 0; f < 2; f++) {
			if (idx[f] < 0 || !ep_eligible(&svc->eps[idx[f]]))
				continue;
			size_t mark = r->w.len;
			put_addr_rr(r, r->scratch->offset[k], &svc->eps[idx[f]]);
			if (r->w.overflow) {
				r->w.len = mark;
				r->w.overflow = false;
				return;
			}
			r->arcount++;
		}
	}
}

static void add_soa(struct reply *r, uint32_t ttl)
{
	size_t dom = qname_offset(r->q, r->m.domain_label);
	size_t rdlen_at;

	rr_head(r, dom, DNS_TYPE_SOA, ttl);
	rdlen_at = r->w.len;
	wbuf_u16(&r->w, 0);
	wbuf_bytes(&r->w, "\002ns\003dns", 7);
	wbuf_ptr(&r->w, dom);
	wbuf_bytes(&r->w, "\012hostmaster", 11);
	wbuf_ptr(&r->w, dom);
	wbuf_u32(&r->w, r->snap->serial);
	wbuf_u32(&r->w, SOA_REFRESH);
	wbuf_u32(&r->w, SOA_RETRY);
	wbuf_u32(&r->w, SOA_EXPIRE);
	wbuf_u32(&r->w, r->snap->negative_ttl_s);
	wbuf_put16(&r->w, rdlen_at, (uint16_t)(r->w.len - rdlen_at - 2));
}

static void add_ns(struct reply *r)
{
	size_t dom = qname_offset(r->q, r->m.domain_label);

	rr_head(r, dom, DNS_TYPE_NS, r->snap->ttl_s);
	wbuf_u16(&r->w, 9);
	wbuf_bytes(&r->w, "\002ns\003dns", 7);
	wbuf_ptr(&r->w, dom);
	r->ancount++;
}

static void add_ns_addresses(struct reply *r, uint16_t qtype)
{
	const struct snapshot *s = r->snap;

	if (qtype == DNS_TYPE_A || qtype == DNS_TYPE_ANY) {
		for (unsigned i = 0; i < s->n_ns4; i++) {
			rr_head(r, DNS_HDR_LEN, DNS_TYPE_A, s->ttl_s);
			wbuf_u16(&r->w, 4);
			wbuf_bytes(&r->w, s->ns_addr4[i], 4);
			r->ancount++;
		}
	}
	if (qtype == DNS_TYPE_AAAA || (qtype == DNS_TYPE_ANY && !r->ancount)) {
		for (unsigned i = 0; i < s->n_ns6; i++) {
			rr_head(r, DNS_HDR_LEN, DNS_TYPE_AAAA, s->ttl_s);
			wbuf_u16(&r->w, 16);
			wbuf_bytes(&r->w, s->ns_addr6[i], 16);
			r->ancount++;
		}
	}
}

static bool has_family(const struct snap_service *svc, int family)
{
	for (uint32_t i = 0; i < svc->n_eps; i++) {
		if (svc->eps[i].family == family && ep_eligible(&svc->eps[i]))
			return true;
	}
	return false;
}

/* One TXT RR; the text is cut into character-strings of 255 bytes. */
static void put_txt(struct reply *r, size_t owner, uint16_t rclass, uint32_t ttl,
		    const char *text, size_t len)
{
	size_t rdlen_at;

	wbuf_ptr(&r->w, owner);
	wbuf_u16(&r->w, DNS_TYPE_TXT);
	wbuf_u16(&r->w, rclass);
	wbuf_u32(&r->w, ttl);
	rdlen_at = r->w.len;
	wbuf_u16(&r->w, 0);
	do {
		size_t n = len > 255 ? 255 : len;
		wbuf_u8(&r->w, (uint8_t)n);
		wbuf_bytes(&r->w, text, n);
		text += n;
		len -= n;
	} while (len);
	wbuf_put16(&r->w, rdlen_at, (uint16_t)(r->w.len - rdlen_at - 2));
	r->ancount++;
}

/* TXT _status.SVC...: one record per endpoint, key=value facts. */
static void add_status(struct reply *r, const struct snap_service *svc)
{
	char facts[1024];

	if (!r->scratch->facts)
		return;
	for (uint32_t i = 0; i < svc->n_eps; i++) {
		size_t n = r->scratch->facts(r->scratch->facts_arg, svc, i, facts, sizeof(facts));
		put_txt(r, DNS_HDR_LEN, DNS_CLASS_IN, 0, facts, n);
	}
}

/* The answer section; RFC 8482: ANY gets one RRset. */
static void add_answers(struct reply *r, uint16_t qtype)
{
	const struct snap_service *svc = r->m.svc;
	bool any = qtype == DNS_TYPE_ANY;

	/* on_demand probing: tell the prober this service is in use. The
	 * check first keeps the cache line shared when nothing changes. */
	if (svc && svc->live && !__atomic_load_n(&svc->live->queried, __ATOMIC_RELAXED))
		__atomic_store_n(&svc->live->queried, 1, __ATOMIC_RELAXED);

	switch (r->m.kind) {
	case SNAP_KIND_APEX:
		if (qtype == DNS_TYPE_SOA || any) {
			add_soa(r, r->snap->ttl_s);
			r->ancount++;
		} else if (qtype == DNS_TYPE_NS) {
			add_ns(r);
		}
		break;
	case SNAP_KIND_NSHOST:
		add_ns_addresses(r, qtype);
		break;
	case SNAP_KIND_SERVICE:
		if (any)
			qtype = has_family(svc, AF_INET) ? DNS_TYPE_A : DNS_TYPE_AAAA;
		if (qtype == DNS_TYPE_A)
			add_addresses(r, svc, AF_INET);
		else if (qtype == DNS_TYPE_AAAA)
			add_addresses(r, svc, AF_INET6);
		else if (qtype == DNS_TYPE_SRV) {
			bool first = true;
			choose_srv(r, svc);
			for (uint32_t i = 0; i < svc->n_ports; i++) {
				if (!svc->ports[i].name[0])
					continue;
				add_srv(r, svc, &svc->ports[i], first);
				first = false;
			}
		}
		break;
	case SNAP_KIND_TARGET: {
		const struct snap_target *t = &svc->targets[r->m.index];
		if (any)
			qtype = t->ep4 >= 0 && ep_eligible(&svc->eps[t->ep4])
					? DNS_TYPE_A : DNS_TYPE_AAAA;
		if (qtype == DNS_TYPE_A)
			add_target_address(r, svc, t, AF_INET);
		else if (qtype == DNS_TYPE_AAAA)
			add_target_address(r, svc, t, AF_INET6);
		break;
	}
	case SNAP_KIND_STATUS:
		if (qtype == DNS_TYPE_TXT || any)
			add_status(r, svc);
		break;
	case SNAP_KIND_PORT:
		if (qtype == DNS_TYPE_SRV || any) {
			choose_srv(r, svc);
			add_srv(r, svc, &svc->ports[r->m.index], true);
		}
		break;
	default:
		break;
	}
}

static bool qname_is(const struct dns_query *q, const char *name)
{
	uint8_t wire[DNS_MAX_NAME + 1];
	int n = dns_name_from_str(name, wire);

	return n > 0 && (size_t)n == q->qname_len && memcmp(wire, q->lname, (size_t)n) == 0;
}

/* CH TXT version.bind / version.server / id.server / hostname.bind. */
static size_t chaos_reply(const struct snapshot *snap, const struct dns_query *q,
			  uint8_t *out, size_t cap, struct dns_answer_info *info)
{
	const char *text = NULL;
	struct reply r;

	if (qname_is(q, "version.bind") || qname_is(q, "version.server"))
		text = PACKAGE_NAME " " PACKAGE_VERSION;
	else if (qname_is(q, "id.server") || qname_is(q, "hostname.bind"))
		text = snap->node_name[0] ? snap->node_name : "unknown";
	if (!text || (q->qtype != DNS_TYPE_TXT && q->qtype != DNS_TYPE_ANY))
		return error_reply(snap, q, DNS_RCODE_REFUSED, out, cap, info);
	memset(&r, 0, sizeof(r));
	r.q = q;
	wbuf_init(&r.w, out, (cap < DNS_MIN_UDP ? cap : DNS_MIN_UDP) - (q->edns ? OPT_RR_LEN : 0));
	put_header(&r.w, q, DNS_FLAG_AA, 0, true);
	put_txt(&r, DNS_HDR_LEN, DNS_CLASS_CH, 0, text, strlen(text));
	r.w.cap += q->edns ? OPT_RR_LEN : 0;
	if (q->edns) {
		put_opt(&r.w, q, snap->edns_buffer_size, 0, 0, NULL);
		r.arcount++;
	}
	wbuf_put16(&r.w, 6, r.ancount);
	wbuf_put16(&r.w, 10, r.arcount);
	info->answered = true;
	return r.w.overflow ? 0 : r.w.len;
}

/* The address a reverse name stands for: in-addr.arpa or ip6.arpa. */
static int reverse_addr(const struct dns_query *q, uint8_t *addr)
{
	static const uint8_t v4[] = "\007in-addr\004arpa";
	static const uint8_t v6[] = "\003ip6\004arpa";
	const uint8_t *n = q->lname;

	if (q->nlabels == 6 && memcmp(n + q->label_off[4], v4, sizeof(v4)) == 0) {
		for (int i = 0; i < 4; i++) {
			const uint8_t *l = n + q->label_off[i];
			unsigned v = 0;
			if (l[0] < 1 || l[0] > 3)
				return 0;
			for (int k = 1; k <= l[0]; k++) {
				if (l[k] < '0' || l[k] > '9')
					return 0;
				v = v * 10 + (unsigned)(l[k] - '0');
			}
			if (v > 255)
				return 0;
			addr[3 - i] = (uint8_t)v;
		}
		return AF_INET;
	}
	if (q->nlabels == 34 && memcmp(n + q->label_off[32], v6, sizeof(v6)) == 0) {
		memset(addr, 0, 16);
		for (int i = 0; i < 32; i++) {
			const uint8_t *l = n + q->label_off[i];
			int d;
			if (l[0] != 1)
				return 0;
			if (l[1] >= '0' && l[1] <= '9')
				d = l[1] - '0';
			else if (l[1] >= 'a' && l[1] <= 'f')
				d = l[1] - 'a' + 10;
			else
				return 0;
			addr[15 - i / 2] |= (uint8_t)(i % 2 ? d << 4 : d);
		}
		return AF_INET6;
	}
	return 0;
}

/* PTR for an endpoint address: HOST.SVC.NS.svc.DOMAIN. */
static size_t ptr_reply(const struct snapshot *snap, const struct dns_query *q,
			const struct snap_service *svc, uint32_t ep, bool tcp, uint8_t *out,
			size_t cap, struct dns_answer_info *info)
{
	const struct snap_target *t = &svc->targets[svc->eps[ep].target];
	size_t limit = tcp ? DNS_MAX_MSG : dns_udp_limit(q, snap->edns_buffer_size);
	struct reply r;
	size_t rdlen_at;

	if (limit > cap)
		limit = cap;
	memset(&r, 0, sizeof(r));
	r.q = q;
	wbuf_init(&r.w, out, limit - (q->edns ? OPT_RR_LEN : 0));
	put_header(&r.w, q, DNS_FLAG_AA, 0, true);
	rr_head(&r, DNS_HDR_LEN, DNS_TYPE_PTR, snap->ttl_s);
	rdlen_at = r.w.len;
	wbuf_u16(&r.w, 0);
	wbuf_bytes(&r.w, t->label, 1u + t->label[0]);
	wbuf_bytes(&r.w, svc->key, svc->key_len);	/* SVC NS */
	wbuf_bytes(&r.w, "\003svc", 4);
	wbuf_bytes(&r.w, snap->domain, snap->domain_len);
	wbuf_put16(&r.w, rdlen_at, (uint16_t)(r.w.len - rdlen_at - 2));
	r.w.cap = limit;
	if (q->edns)
		put_opt(&r.w, q, snap->edns_buffer_size, 0, 0, NULL);
	wbuf_put16(&r.w, 6, 1);
	wbuf_put16(&r.w, 10, q->edns ? 1 : 0);
	info->answered = true;
	return r.w.overflow ? 0 : r.w.len;
}

/*
 * A search-path expansion of a mesh name: X.svc.DOMAIN followed by more
 * labels (a pod with ndots:5 tries web.default.svc.mesh.local.<search>
 * first). No such name exists upstream unless a zone there repeats our
 * domain under its own svc label, so NXDOMAIN here saves a round trip.
 */
static bool search_expansion(const struct snapshot *snap, const struct dns_query *q)
{
	for (unsigned i = 1; i + snap->domain_labels < q->nlabels; i++) {
		const uint8_t *at = q->lname + q->label_off[i];
		const uint8_t *prev = q->lname + q->label_off[i - 1];
		/* the domain's labels, then at least one more byte of name */
		if (prev[0] == 3 && memcmp(prev + 1, "svc", 3) == 0 &&
		    q->qname_len - q->label_off[i] > snap->domain_len &&
		    memcmp(at, snap->domain, snap->domain_len - 1) == 0)
			return true;
	}
	return false;
}

/* Names not under the mesh domain: our PTRs, search expansions, forward. */
static size_t outside(const struct snapshot *snap, const struct dns_query *q, bool tcp,
		      uint8_t *out, size_t cap, struct dns_answer_scratch *sc,
		      struct dns_answer_info *info)
{
	uint8_t addr[16];
	int family;

	if (q->qtype == DNS_TYPE_PTR && (family = reverse_addr(q, addr))) {
		uint32_t ep;
		if (sc->worker) {
			/* the reverse map is the registry's, not the snapshot's */
			info->defer = true;
			return 0;
		}
		const struct snap_service *svc = snapshot_find_address(snap, family, addr, &ep);
		if (svc)
			return ptr_reply(snap, q, svc, ep, tcp, out, cap, info);
	}
	if (!sc->forwarding)
		return 0;
	if (search_expansion(snap, q)) {
		size_t n = error_reply(snap, q, DNS_RCODE_NXDOMAIN, out, cap, info);
		if (n >= 4)
			out[3] |= DNS_FLAG_RA & 0xff;
		return n;
	}
	info->forward = true;
	info->defer = sc->worker;
	return 0;
}

/*
 * What is answered before the snapshot is looked at: parse errors, a
 * client outside the allow list, classes and types we do not serve.
 * @return true when *n is the whole answer
 */
static bool early_reply(const struct snapshot *snap, const struct dns_query *q,
			const struct dns_answer_scratch *scratch, uint8_t *out,
			size_t out_cap, struct dns_answer_info *info, size_t *n)
{
	uint8_t rcode;

	switch (info->parse) {
	case DNS_PARSE_DROP:
		*n = 0;
		return true;
	case DNS_PARSE_FORMERR:
		rcode = DNS_RCODE_FORMERR;
		break;
	case DNS_PARSE_NOTIMP:
		rcode = DNS_RCODE_NOTIMP;
		break;
	case DNS_PARSE_BADVERS:
		rcode = DNS_RCODE_BADVERS;
		break;
	case DNS_PARSE_OK:
	default:
		if (scratch->refuse)
			rcode = DNS_RCODE_REFUSED;
		else if (q->qtype == DNS_TYPE_MAILA || q->qtype == DNS_TYPE_MAILB)
			rcode = DNS_RCODE_NOTIMP;
		else if (q->qclass == DNS_CLASS_CH) {
			*n = chaos_reply(snap, q, out, out_cap, info);
			return true;
		} else if (q->qclass != DNS_CLASS_IN || q->qtype == DNS_TYPE_AXFR ||
			   q->qtype == DNS_TYPE_IXFR)
			rcode = DNS_RCODE_REFUSED;
		else
			return false;
	}
	*n = error_reply(snap, q, rcode, out, out_cap, info);
	return true;
}

/* Why an existing service answers the way it does (RFC 8914 code 0). */
static const char *service_why(const struct snap_match *m)
{
	const struct snap_service *svc = m->svc;

	if (!svc || m->kind == SNAP_KIND_STATUS)
		return NULL;
	if (svc->panic)
		return "panic: too few healthy endpoints, answering all ready ones";
	if (svc->n_eligible == 0)
		return svc->n_ready ? "no healthy endpoints" : "no ready endpoints";
	return NULL;
}

/* a source has not listed yet: what we do not know may exist */
static const char not_synced[] = "not synced: sources still loading";

/*
 * The answer to a name under our domain: the records, else the SOA of a
 * negative answer, or SERVFAIL while unsynced; TC when the records do not
 * fit; then the OPT RR (kept room for) and the header's counts.
 */
static size_t mesh_reply(struct reply *r, uint8_t *out, bool unsynced, const char *why,
			 struct dns_answer_info *info)
{
	const struct snapshot *snap = r->snap;
	const struct dns_query *q = r->q;
	uint8_t rcode = DNS_RCODE_NOERROR;

	wbuf_init(&r->w, out, r->limit - r->opt_len);
	put_header(&r->w, q, DNS_FLAG_AA, 0, true);
	add_answers(r, q->qtype);
	if (r->m.kind == SNAP_KIND_NONE)
		rcode = DNS_RCODE_NXDOMAIN;
	if (r->ancount == 0 && unsynced) {
		/* SERVFAIL, not a negative answer a resolver would cache */
		wbuf_init(&r->w, out, r->limit - r->opt_len);
		put_header(&r->w, q, 0, 0, true);
		rcode = DNS_RCODE_SERVFAIL;
	} else if (r->ancount == 0) {
		unsynced = false;
		add_soa(r, snap->negative_ttl_s);
		r->nscount++;
	} else {
		unsynced = false;
	}
	if (r->w.overflow) {
		/* RFC 2181 9: required records do not fit; say so with TC. */
		wbuf_init(&r->w, out, r->limit - r->opt_len);
		put_header(&r->w, q, DNS_FLAG_AA | DNS_FLAG_TC, rcode, true);
		r->ancount = r->nscount = r->arcount = 0;
		info->truncated = true;
	} else if (r->n_recorded) {
		add_srv_additional(r, r->m.svc);
	}
	/* the OPT RR always fits: its room was kept back */
	r->w.cap = r->limit;
	if (q->edns) {
		/* "no healthy endpoints" explains an empty answer; panic
		 * explains a full one */
		if (!unsynced && why && r->m.svc->n_eligible == 0 && r->ancount)
			why = NULL;
		put_opt(&r->w, q, snap->edns_buffer_size, rcode,
			unsynced ? EDE_NOT_READY : EDE_OTHER,
			unsynced ? not_synced : info->truncated ? NULL : why);
		r->arcount++;
	}
	wbuf_put16(&r->w, 2, (uint16_t)(rd16(out + 2) | rcode |
					(r->scratch->forwarding ? DNS_FLAG_RA : 0)));
	wbuf_put16(&r->w, 6, r->ancount);
	wbuf_put16(&r->w, 8, r->nscount);
	wbuf_put16(&r->w, 10, r->arcount);
	info->rcode = rcode;
	info->answered = true;
	return r->w.len;
}

size_t dns_answer(const struct snapshot *snap, const uint8_t *pkt, size_t len,
		  bool tcp, uint8_t *out, size_t out_cap,
		  struct dns_answer_scratch *scratch, struct dns_answer_info *info)
{
	struct dns_query q;
	struct reply r;
	size_t n;

	memset(info, 0, sizeof(*info));
	info->parse = dns_query_parse(&q, pkt, len);
	info->qtype = q.has_question ? q.qtype : 0;
	if (early_reply(snap, &q, scratch, out, out_cap, info, &n))
		return n;

	memset(&r, 0, sizeof(r));
	r.snap = snap;
	r.q = &q;
	r.scratch = scratch;
	snapshot_lookup(snap, &q, &r.m);
	if (r.m.kind == SNAP_KIND_STATUS && scratch->worker) {
		info->defer = true;	/* facts are the prober's */
		return 0;
	}
	if (r.m.kind == SNAP_KIND_OUTSIDE) {
		n = outside(snap, &q, tcp, out, out_cap, scratch, info);
		if (info->forward)
			scratch->q = q;
		if (n || info->forward || info->defer)
			return n;
		return error_reply(snap, &q, DNS_RCODE_REFUSED, out, out_cap, info);
	}

	r.limit = tcp ? DNS_MAX_MSG : dns_udp_limit(&q, snap->edns_buffer_size);
	if (r.limit > out_cap)
		r.limit = out_cap;
	bool unsynced = snap->unsynced && r.m.kind != SNAP_KIND_APEX &&
			r.m.kind != SNAP_KIND_NSHOST;
	const char *why = service_why(&r.m);
	r.opt_len = q.edns ? opt_len(unsynced ? not_synced : why) : 0;
	return mesh_reply(&r, out, unsynced, why, info);
}
