/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * DNS wire format on the hot path: query parsing into a fixed struct (no
 * allocation) and a bounded reply writer. Pure functions, any thread.
 * Slow paths (config, snapshot build, tests) use ldns instead.
 */
#ifndef MESHDNS_DNS_MSG_H
#define MESHDNS_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN		12
#define DNS_MAX_NAME		255
#define DNS_MAX_LABEL		63
#define DNS_MAX_LABELS		128
#define DNS_MIN_UDP		512
#define DNS_MAX_MSG		65535

enum {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16,		/* extended: needs OPT */
};

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_HINFO = 13,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_IXFR = 251,
	DNS_TYPE_AXFR = 252,
	DNS_TYPE_MAILB = 253,
	DNS_TYPE_MAILA = 254,
	DNS_TYPE_ANY = 255,
};

enum {
	DNS_CLASS_IN = 1,
	DNS_CLASS_CH = 3,
	DNS_CLASS_ANY = 255,
};

/* Header flag bits (second 16-bit word). */
#define DNS_FLAG_QR	0x8000
#define DNS_FLAG_AA	0x0400
#define DNS_FLAG_TC	0x0200
#define DNS_FLAG_RD	0x0100
#define DNS_FLAG_RA	0x0080
#define DNS_FLAG_AD	0x0020
#define DNS_FLAG_CD	0x0010
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNS_EDNS_DO	0x8000

/** What to do with a packet after parsing. */
enum dns_parse_result {
	DNS_PARSE_OK = 0,	/* answer it */
	DNS_PARSE_DROP,		/* no reply at all: header unreadable or QR set */
	DNS_PARSE_FORMERR,	/* reply FORMERR */
	DNS_PARSE_NOTIMP,	/* reply NOTIMP (opcode) */
	DNS_PARSE_BADVERS,	/* reply BADVERS (EDNS version) */
};

/** A parsed query. Points into the packet, which must outlive it. */
struct dns_query {
	const uint8_t *pkt;
	size_t len;
	uint16_t id;
	uint16_t flags;
	bool has_question;	/* qname/qtype/qclass valid */
	uint16_t qtype;
	uint16_t qclass;
	size_t qname_len;	/* wire length including the root label */
	uint8_t lname[DNS_MAX_NAME + 1]; /* qname lowercased, wire form */
	uint8_t nlabels;	/* labels, root excluded */
	uint8_t label_off[DNS_MAX_LABELS]; /* offset of each label in lname */
	bool edns;		/* a valid OPT RR was present */
	uint16_t udp_size;	/* client's advertised payload size */
	uint8_t edns_version;
	bool edns_do;
};

/**
 * Parse a query. Never reads past @p len.
 * @param q    filled in as far as parsing got (has_question tells whether
 *             the question can be echoed in an error reply)
 * @return what to do with the packet
 */
enum dns_parse_result dns_query_parse(struct dns_query *q, const uint8_t *pkt,
				      size_t len);

/** The query's question section as sent (case preserved). */
/**
 * The largest UDP reply to @p q when we accept @p ours at most: the
 * smaller of the two (RFC 6891); 512 without EDNS, which udp_size holds
 * then, as @p ours is never below 512.
 */
static inline size_t dns_udp_limit(const struct dns_query *q, uint16_t ours)
{
	return q->udp_size < ours ? q->udp_size : ours;
}

/**
 * Where the first question of message @p m ends (after its type and
 * class), for messages we made or checked: the name is followed label by
 * label, without compression. @return the offset, or 0 if it does not fit
 */
size_t dns_question_end(const uint8_t *m, size_t len);

static inline const uint8_t *dns_query_qname(const struct dns_query *q)
{
	return q->pkt + DNS_HDR_LEN;
}

/** Bounded output buffer. Writes past @c cap set @c overflow and are lost. */
struct dns_wbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool overflow;
};

static inline void wbuf_init(struct dns_wbuf *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->overflow = false;
}

static inline bool wbuf_room(struct dns_wbuf *w, size_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = true;
		return false;
	}
	return true;
}

/** Big-endian stores into a buffer already checked to have the room. */
static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/**
 * Claim @p n bytes at the end, for a fixed-size piece written in place
 * with one bounds check. @return where to write, or NULL (overflow set).
 */
static inline uint8_t *wbuf_take(struct dns_wbuf *w, size_t n)
{
	if (!wbuf_room(w, n))
		return NULL;
	w->len += n;
	return w->buf + w->len - n;
}

static inline void wbuf_u8(struct dns_wbuf *w, uint8_t v)
{
	uint8_t *p = wbuf_take(w, 1);

	if (p)
		*p = v;
}

static inline void wbuf_u16(struct dns_wbuf *w, uint16_t v)
{
	uint8_t *p = wbuf_take(w, 2);

	if (p)
		wr16(p, v);
}

static inline void wbuf_u32(struct dns_wbuf *w, uint32_t v)
{
	uint8_t *p = wbuf_take(w, 4);

	if (p)
		wr32(p, v);
}

void wbuf_bytes(struct dns_wbuf *w, const void *p, size_t n);

/** Write a compression pointer to @p offset. */
static inline void wbuf_ptr(struct dns_wbuf *w, size_t offset)
{
	wbuf_u16(w, (uint16_t)(0xc000 | offset));
}

/** Patch a 16-bit value at @p at (must be inside the written part). */
static inline void wbuf_put16(struct dns_wbuf *w, size_t at, uint16_t v)
{
	if (at + 2 <= w->len)
		wr16(w->buf + at, v);
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/**
 * Convert a presentation name ("web.default.svc.mesh.local", trailing dot
 * optional) to lowercase wire form.
 * @return wire length (>= 1) or MESHDNS_EINVAL for an invalid name.
 */
int dns_name_from_str(const char *str, uint8_t out[DNS_MAX_NAME + 1]);

/**
 * Write a wire name as presentation text (lowercase as stored, no
 * escaping beyond what DNS labels of meshdns can hold).
 * @return chars written excluding NUL, or MESHDNS_ESPACE.
 */
int dns_name_to_str(const uint8_t *wire, char *out, size_t outlen);

/** Lowercase ASCII letters of @p n bytes in place (labels' length bytes untouched because they are < 'A'). */
void dns_name_lower(uint8_t *wire, size_t n);

#endif
