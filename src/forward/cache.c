/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Answer cache (see header). Each entry is one allocation holding its key,
 * the response wire and the TTL offsets; the table is chained and the LRU
 * list is intrusive, so a hit allocates nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "meshdns/cache.h"

#define ENTRY_MAX_WIRE	(16u << 10)
#define MAX_TTLS	512
#define STALE_TTL_S	30
#define EDE_STALE	3

struct entry {
	struct entry *hnext;
	struct entry *prev, *next;	/* LRU, most recent first */
	uint32_t hash;
	uint16_t qtype, qclass;
	bool do_bit;
	uint8_t key_len;
	uint8_t key[DNS_MAX_NAME + 1];
	uint64_t stored_ms;
	uint32_t ttl_s;
	uint16_t n_ttl;
	uint16_t wire_len;
	uint16_t qname_len;		/* question name length in wire */
	uint16_t *ttl_off;		/* into wire */
	uint8_t *wire;
	/* ttl_off and wire follow in the same allocation */
};

struct cache {
	struct cache_params p;
	struct entry **table;
	uint32_t mask;
	struct entry *head, *tail;
	struct cache_stats st;
};

static uint32_t key_hash(const uint8_t *name, size_t n, uint16_t qtype, uint16_t qclass,
			 bool do_bit)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ name[i]) * 16777619u;
	h = (h ^ qtype) * 16777619u;
	h = (h ^ qclass) * 16777619u;
	return (h ^ do_bit) * 16777619u;
}

struct cache *cache_create(const struct cache_params *p)
{
	struct cache *c = calloc(1, sizeof(*c));
	uint32_t buckets = 64;

	if (!c)
		return NULL;
	c->p = *p;
	if (!c->p.max_entries)
		c->p.max_entries = 1;
	while (buckets < c->p.max_entries && buckets < (1u << 24))
		buckets <<= 1;
	c->mask = buckets - 1;
	c->table = calloc(buckets, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	return c;
}

void cache_delete(struct cache *c)
{
	if (!c)
		return;
	for (struct entry *e = c->head, *n; e; e = n) {
		n = e->next;
		free(e);
	}
	free(c->table);
	free(c);
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct cache *c, struct entry *e)
{
	e->next = c->head;
	e->prev = NULL;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void entry_remove(struct cache *c, struct entry *e)
{
	struct entry **p = &c->table[e->hash & c->mask];

	while (*p && *p != e)
		p = &(*p)->hnext;
	if (*p)
		*p = e->hnext;
	lru_unlink(c, e);
	c->st.entries--;
	free(e);
}

static struct entry *find(struct cache *c, const struct dns_query *q)
{
	bool do_bit = q->edns && q->edns_do;
	uint32_t h = key_hash(q->lname, q->qname_len, q->qtype, q->qclass, do_bit);

	for (struct entry *e = c->table[h & c->mask]; e; e = e->hnext) {
		if (e->hash == h && e->qtype == q->qtype && e->qclass == q->qclass &&
		    e->do_bit == do_bit && e->key_len == q->qname_len &&
		    memcmp(e->key, q->lname, e->key_len) == 0)
			return e;
	}
	return NULL;
}

/* Skip a (possibly compressed) name; @return the position after it or 0. */
static size_t skip_name(const uint8_t *p, size_t len, size_t pos)
{
	while (pos < len) {
		uint8_t l = p[pos];
		if (l == 0)
			return pos + 1;
		if ((l & 0xc0) == 0xc0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (l & 0xc0)
			return 0;
		pos += 1u + l;
	}
	return 0;
}

/* What parsing an upstream response found. */
struct parsed {
	uint16_t ttl_off[MAX_TTLS];
	size_t n_ttl;
	size_t opt_at, opt_end;		/* the OPT RR to drop, if any */
	uint32_t min_ans;		/* smallest answer TTL */
	uint32_t neg;			/* min(SOA TTL, SOA minimum) */
	uint16_t counts[3];
	uint8_t rcode;
};

/* Walk a response to @p q: sections, TTL offsets, the OPT record. */
static int parse_resp(const struct dns_query *q, const uint8_t *resp, size_t len,
		      struct parsed *p)
{
	size_t pos;
	uint8_t lname[DNS_MAX_NAME + 1];

	p->n_ttl = p->opt_at = p->opt_end = 0;
	p->min_ans = p->neg = UINT32_MAX;
	if (len < DNS_HDR_LEN || rd16(resp + 4) != 1)
		return MESHDNS_EMALF;
	p->rcode = rd16(resp + 2) & 0xf;
	p->counts[0] = rd16(resp + 6);
	p->counts[1] = rd16(resp + 8);
	p->counts[2] = rd16(resp + 10);
	/* the question must be ours */
	pos = DNS_HDR_LEN + q->qname_len;
	if (pos + 4 > len || rd16(resp + pos) != q->qtype || rd16(resp + pos + 2) != q->qclass)
		return MESHDNS_EMALF;
	memcpy(lname, resp + DNS_HDR_LEN, q->qname_len);
	dns_name_lower(lname, q->qname_len);
	if (memcmp(lname, q->lname, q->qname_len) != 0)
		return MESHDNS_EMALF;
	pos += 4;
	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < p->counts[sec]; i++) {
			size_t rr = pos;
			pos = skip_name(resp, len, pos);
			if (!pos || pos + 10 > len)
				return MESHDNS_EMALF;
			uint16_t type = rd16(resp + pos);
			uint32_t ttl = rd32(resp + pos + 4);
			uint16_t rdlen = rd16(resp + pos + 8);
			if (pos + 10 + rdlen > len)
				return MESHDNS_EMALF;
			if (type == DNS_TYPE_OPT) {
				/* only a last OPT can go without moving names */
				if (sec != 2 || i + 1 != p->counts[2])
					return MESHDNS_EMALF;
				p->opt_at = rr;
				p->opt_end = pos + 10 + rdlen;
			} else {
				if (p->n_ttl == MAX_TTLS)
					return MESHDNS_EMALF;
				p->ttl_off[p->n_ttl++] = (uint16_t)(pos + 4);
				if (sec == 0 && ttl < p->min_ans)
					p->min_ans = ttl;
				if (sec == 1 && type == DNS_TYPE_SOA && rdlen >= 22) {
					uint32_t minimum = rd32(resp + pos + 10 + rdlen - 4);
					p->neg = ttl < minimum ? ttl : minimum;
				}
			}
			pos += 10 + rdlen;
		}
	}
	return pos == len ? 0 : MESHDNS_EMALF;
}

/*
 * The reply to client @p q from a response: its ID, flags and question
 * case, TTLs aged by @p age_s (or all 30 s when stale), the response's OPT
 * replaced by ours when the client sent one, TC and the question only when
 * it does not fit @p limit.
 */
static size_t build(const uint8_t *wire, size_t len, size_t opt_at, size_t opt_end,
		    const uint16_t *ttl_off, size_t n_ttl, uint64_t age_s, bool stale,
		    const struct dns_query *q, uint8_t *out, size_t limit, uint16_t edns_size)
{
	size_t opt = q->edns ? 11 + (stale ? 6 + 12 : 0) : 0;
	size_t body = opt_at ? len - (opt_end - opt_at) : len;
	uint16_t flags = rd16(wire + 2);
	uint16_t keep = flags & (DNS_FLAG_AD | 0xf);	/* AD and rcode */
	uint16_t arcount = (uint16_t)(rd16(wire + 10) - (opt_at ? 1 : 0));
	struct dns_wbuf w;

	if (!(q->edns && q->edns_do) && !(q->flags & DNS_FLAG_AD))
		keep &= (uint16_t)~DNS_FLAG_AD;
	wbuf_init(&w, out, limit);
	if (body + opt > limit) {
		/* does not fit: TC, question only, retry over TCP */
		wbuf_u16(&w, q->id);
		wbuf_u16(&w, (uint16_t)(DNS_FLAG_QR | DNS_FLAG_TC | DNS_FLAG_RA |
					(q->flags & (DNS_FLAG_RD | DNS_FLAG_CD)) | (keep & 0xf)));
		wbuf_u16(&w, 1);
		wbuf_u16(&w, 0);
		wbuf_u16(&w, 0);
		wbuf_u16(&w, 0);
		wbuf_bytes(&w, q->pkt + DNS_HDR_LEN, q->qname_len + 4);
		arcount = 0;
	} else {
		wbuf_bytes(&w, wire, opt_at ? opt_at : len);
		if (opt_at)
			wbuf_bytes(&w, wire + opt_end, len - opt_end);
		wbuf_put16(&w, 0, q->id);
		wbuf_put16(&w, 2, (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RA | keep |
					     (q->flags & (DNS_FLAG_RD | DNS_FLAG_CD))));
		/* the question as this client wrote it */
		memcpy(out + DNS_HDR_LEN, q->pkt + DNS_HDR_LEN, q->qname_len);
		for (size_t i = 0; i < n_ttl; i++) {
			/* offsets past a dropped OPT do not exist: it is last */
			uint32_t t = rd32(wire + ttl_off[i]);
			t = stale ? STALE_TTL_S : t > age_s ? t - (uint32_t)age_s : 0;
			out[ttl_off[i]] = (uint8_t)(t >> 24);
			out[ttl_off[i] + 1] = (uint8_t)(t >> 16);
			out[ttl_off[i] + 2] = (uint8_t)(t >> 8);
			out[ttl_off[i] + 3] = (uint8_t)t;
		}
	}
	if (q->edns) {
		wbuf_u8(&w, 0);
		wbuf_u16(&w, DNS_TYPE_OPT);
		wbuf_u16(&w, edns_size);
		wbuf_u32(&w, q->edns_do ? DNS_EDNS_DO : 0);
		if (stale) {
			wbuf_u16(&w, 6 + 12);
			wbuf_u16(&w, 15);		/* EDE */
			wbuf_u16(&w, 2 + 12);
			wbuf_u16(&w, EDE_STALE);
			wbuf_bytes(&w, "stale answer", 12);
		} else {
			wbuf_u16(&w, 0);
		}
		arcount++;
	}
	wbuf_put16(&w, 10, arcount);
	return w.overflow ? 0 : w.len;
}

int cache_insert(struct cache *c, const struct dns_query *q, const uint8_t *resp,
		 size_t len, uint64_t now_ms)
{
	struct parsed p;
	struct entry *e;
	uint32_t ttl;

	if (len > ENTRY_MAX_WIRE || parse_resp(q, resp, len, &p) < 0 ||
	    (rd16(resp + 2) & DNS_FLAG_TC) ||
	    (p.rcode != DNS_RCODE_NOERROR && p.rcode != DNS_RCODE_NXDOMAIN))
		goto no;
	if (p.rcode == DNS_RCODE_NOERROR && p.counts[0]) {
		ttl = p.min_ans;
		if (ttl < c->p.min_ttl_s)
			ttl = c->p.min_ttl_s;
		if (ttl > c->p.max_ttl_s)
			ttl = c->p.max_ttl_s;
	} else {
		if (p.neg == UINT32_MAX)
			goto no;	/* RFC 2308: no SOA, no negative caching */
		ttl = p.neg < c->p.neg_max_ttl_s ? p.neg : c->p.neg_max_ttl_s;
	}
	if (ttl == 0)
		goto no;

	size_t wire_len = p.opt_at ? len - (p.opt_end - p.opt_at) : len;
	e = find(c, q);
	if (e)
		entry_remove(c, e);
	e = malloc(sizeof(*e) + p.n_ttl * sizeof(uint16_t) + wire_len);
	if (!e)
		return MESHDNS_ENOMEM;
	memset(e, 0, sizeof(*e));
	e->ttl_off = (uint16_t *)(e + 1);
	e->wire = (uint8_t *)(e->ttl_off + p.n_ttl);
	memcpy(e->ttl_off, p.ttl_off, p.n_ttl * sizeof(uint16_t));
	memcpy(e->wire, resp, p.opt_at ? p.opt_at : len);
	if (p.opt_at) {
		memcpy(e->wire + p.opt_at, resp + p.opt_end, len - p.opt_end);
		e->wire[10] = (uint8_t)((p.counts[2] - 1) >> 8);
		e->wire[11] = (uint8_t)(p.counts[2] - 1);
	}
	e->n_ttl = (uint16_t)p.n_ttl;
	e->wire_len = (uint16_t)wire_len;
	e->qname_len = (uint16_t)q->qname_len;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->do_bit = q->edns && q->edns_do;
	e->key_len = (uint8_t)q->qname_len;
	memcpy(e->key, q->lname, q->qname_len);
	e->hash = key_hash(e->key, e->key_len, e->qtype, e->qclass, e->do_bit);
	e->stored_ms = now_ms;
	e->ttl_s = ttl;
	e->hnext = c->table[e->hash & c->mask];
	c->table[e->hash & c->mask] = e;
	lru_front(c, e);
	c->st.entries++;
	c->st.inserts++;
	while (c->st.entries > c->p.max_entries && c->tail) {
		c->st.evictions++;
		entry_remove(c, c->tail);
	}
	return 0;
no:
	c->st.uncacheable++;
	return MESHDNS_EINVAL;
}

size_t cache_relay(const struct dns_query *asked, const uint8_t *resp, size_t len,
		   const struct dns_query *client, uint8_t *out, size_t limit,
		   uint16_t edns_size)
{
	struct parsed p;

	if (parse_resp(asked, resp, len, &p) < 0)
		return 0;
	return build(resp, len, p.opt_at, p.opt_end, p.ttl_off, p.n_ttl, 0, false, client,
		     out, limit, edns_size);
}

size_t cache_lookup(struct cache *c, const struct dns_query *q, uint64_t now_ms,
		    bool stale, uint8_t *out, size_t limit, uint16_t edns_size,
		    bool *was_stale)
{
	struct entry *e = find(c, q);

	*was_stale = false;
	if (!e) {
		if (!stale)
			c->st.misses++;
		return 0;
	}
	uint64_t age_s = now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;
	if (age_s >= e->ttl_s) {
		if (age_s >= (uint64_t)e->ttl_s + c->p.stale_s) {
			entry_remove(c, e);	/* too old even to serve stale */
			if (!stale)
				c->st.misses++;
			return 0;
		}
		if (!stale) {
			c->st.misses++;
			return 0;
		}
		*was_stale = true;
		c->st.stale_hits++;
	} else {
		if (stale)
			return 0;	/* the caller asked for stale only */
		c->st.hits++;
	}
	lru_unlink(c, e);
	lru_front(c, e);
	return build(e->wire, e->wire_len, 0, 0, e->ttl_off, e->n_ttl, age_s, *was_stale, q,
		     out, limit, edns_size);
}

const struct cache_stats *cache_stats(const struct cache *c)
{
	return &c->st;
}
