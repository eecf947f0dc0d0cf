/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Query parsing and wire helpers for the hot path. Every read is bounds
 * checked against the packet length; nothing here allocates.
 */
#include "config.h"

#include <string.h>

#include "meshdns/dns_msg.h"
#include "meshdns/error.h"

void wbuf_bytes(struct dns_wbuf *w, const void *p, size_t n)
{
	if (wbuf_room(w, n)) {
		memcpy(w->buf + w->len, p, n);
		w->len += n;
	}
}

/*
 * Eight bytes at a time: a byte gets 0x20 when its low seven bits are in
 * 'A'..'Z' and its top bit is clear (the sums per byte cannot carry
 * into the next one, as both operands are below 0x80).
 */
void dns_name_lower(uint8_t *wire, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, low;
		memcpy(&x, wire + i, 8);
		low = x & ~high;
		uint64_t ge_a = low + ones * (0x80 - 'A');
		uint64_t gt_z = low + ones * (0x80 - 'Z' - 1);
		uint64_t upper = ge_a & ~gt_z & ~x & high;
		x |= upper >> 2;
		memcpy(wire + i, &x, 8);
	}
	for (; i < n; i++) {
		if (wire[i] >= 'A' && wire[i] <= 'Z')
			wire[i] |= 0x20;
	}
}

/*
 * Skip a possibly compressed name in a record (not the question). Pointers
 * are only followed for validation of their target range; the name's
 * length in place is what the caller needs.
 */
static int skip_name(const uint8_t *pkt, size_t len, size_t *pos)
{
	size_t p = *pos;

	for (;;) {
		if (p >= len)
			return MESHDNS_EMALF;
		uint8_t l = pkt[p];
		if (l == 0) {
			*pos = p + 1;
			return 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len || (size_t)(rd16(pkt + p) & 0x3fff) >= p)
				return MESHDNS_EMALF;
			*pos = p + 2;
			return 0;
		}
		if (l & 0xc0)
			return MESHDNS_EMALF;	/* 0x40, 0x80: obsolete label types */
		p += 1u + l;
	}
}

/* Question name: must be uncompressed (it is the first name). */
static int parse_qname(struct dns_query *q, size_t *pos)
{
	size_t p = *pos, n = 0;

	q->nlabels = 0;
	for (;;) {
		if (p >= q->len)
			return MESHDNS_EMALF;
		uint8_t l = q->pkt[p];
		if (l == 0)
			break;
		if (l > DNS_MAX_LABEL || q->nlabels >= DNS_MAX_LABELS ||
		    n + 1u + l + 1u > DNS_MAX_NAME || p + 1u + l > q->len)
			return MESHDNS_EMALF;
		q->label_off[q->nlabels++] = (uint8_t)n;
		n += 1u + l;
		p += 1u + l;
	}
	/* labels checked: the name is copied and lowercased as a whole */
	q->qname_len = n + 1;
	memcpy(q->lname, q->pkt + *pos, q->qname_len);
	dns_name_lower(q->lname, q->qname_len);
	*pos = p + 1;
	return 0;
}

/* One RR of the additional section; picks up the OPT record. */
static enum dns_parse_result parse_additional(struct dns_query *q, size_t *pos,
					      bool *seen_opt)
{
	size_t p = *pos, name_at = p;

	if (skip_name(q->pkt, q->len, &p) < 0 || p + 10 > q->len)
		return DNS_PARSE_FORMERR;
	uint16_t type = rd16(q->pkt + p);
	uint16_t rclass = rd16(q->pkt + p + 2);
	uint32_t ttl = rd32(q->pkt + p + 4);
	uint16_t rdlen = rd16(q->pkt + p + 8);
	p += 10;
	if (p + rdlen > q->len)
		return DNS_PARSE_FORMERR;
	if (type == DNS_TYPE_OPT) {
		/* RFC 6891 6.1.1: one OPT, owned by the root. */
		if (*seen_opt || q->pkt[name_at] != 0)
			return DNS_PARSE_FORMERR;
		*seen_opt = true;
		/* Options must tile the RDATA exactly. */
		for (size_t o = p; o < p + rdlen;) {
			if (o + 4 > p + rdlen)
				return DNS_PARSE_FORMERR;
			size_t olen = rd16(q->pkt + o + 2);
			if (o + 4 + olen > p + rdlen)
				return DNS_PARSE_FORMERR;
			o += 4 + olen;
		}
		q->edns = true;
		q->udp_size = rclass < DNS_MIN_UDP ? DNS_MIN_UDP : rclass;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & DNS_EDNS_DO) != 0;
	}
	*pos = p + rdlen;
	return DNS_PARSE_OK;
}

size_t dns_question_end(const uint8_t *m, size_t len)
{
	size_t p = DNS_HDR_LEN;

	while (p < len && m[p] && m[p] < 64 && p < DNS_HDR_LEN + DNS_MAX_NAME)
		p += 1u + m[p];
	if (p >= len || m[p] != 0)
		return 0;
	p += 5;		/* root label, type, class */
	return p <= len ? p : 0;
}

enum dns_parse_result dns_query_parse(struct dns_query *q, const uint8_t *pkt,
				      size_t len)
{
	size_t pos = DNS_HDR_LEN;
	bool seen_opt = false;

	q->pkt = pkt;
	q->len = len;
	q->has_question = false;
	q->edns = false;
	q->udp_size = DNS_MIN_UDP;
	q->edns_version = 0;
	q->edns_do = false;
	if (len < DNS_HDR_LEN)
		return DNS_PARSE_DROP;
	q->id = rd16(pkt);
	q->flags = rd16(pkt + 2);
	if (q->flags & DNS_FLAG_QR)
		return DNS_PARSE_DROP;	/* never answer a response: no loops */

	uint16_t qdcount = rd16(pkt + 4);
	uint16_t ancount = rd16(pkt + 6);
	uint16_t nscount = rd16(pkt + 8);
	uint16_t arcount = rd16(pkt + 10);

	if (qdcount == 1) {
		if (parse_qname(q, &pos) < 0 || pos + 4 > len)
			return DNS_OPCODE(q->flags) == 0 ? DNS_PARSE_FORMERR
							 : DNS_PARSE_NOTIMP;
		q->qtype = rd16(pkt + pos);
		q->qclass = rd16(pkt + pos + 2);
		pos += 4;
		q->has_question = true;
	}
	if (DNS_OPCODE(q->flags) != 0)
		return DNS_PARSE_NOTIMP;
	if (qdcount != 1 || ancount != 0 || nscount != 0)
		return DNS_PARSE_FORMERR;
	for (unsigned i = 0; i < arcount; i++) {
		enum dns_parse_result r = parse_additional(q, &pos, &seen_opt);
		if (r != DNS_PARSE_OK) {
			q->edns = false;	/* a broken OPT is not echoed */
			return r;
		}
	}
	if (pos != len)
		return DNS_PARSE_FORMERR;	/* trailing garbage */
	if (q->qtype == DNS_TYPE_OPT)
		return DNS_PARSE_FORMERR;	/* RFC 6891 6.1.1 */
	if (q->edns && q->edns_version > 0)
		return DNS_PARSE_BADVERS;
	return DNS_PARSE_OK;
}

int dns_name_from_str(const char *str, uint8_t out[DNS_MAX_NAME + 1])
{
	size_t n = 0, label_at = 0;
	const char *s = str;

	if (strcmp(str, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	out[0] = 0;
	for (; *s; s++) {
		if (*s == '.') {
			size_t l = n - label_at;
			/* empty label, or a dot that is not the final one */
			if (l == 0)
				return MESHDNS_EINVAL;
			out[label_at] = (uint8_t)l;
			n++;
			label_at = n;
			if (s[1] == '\0')
				goto done;
			continue;
		}
		if (n + 2 > DNS_MAX_NAME || n - label_at >= DNS_MAX_LABEL)
			return MESHDNS_EINVAL;
		if (*s <= ' ' || *s == '\\' || (unsigned char)*s >= 0x7f)
			return MESHDNS_EINVAL;
		out[++n] = (uint8_t)*s;
	}
	if (n == label_at)
		return MESHDNS_EINVAL;	/* empty name or trailing empty label */
	out[label_at] = (uint8_t)(n - label_at);
	n++;
done:
	if (n + 1 > DNS_MAX_NAME)
		return MESHDNS_EINVAL;
	out[n++] = 0;
	dns_name_lower(out, n);
	return (int)n;
}

int dns_name_to_str(const uint8_t *wire, char *out, size_t outlen)
{
	size_t n = 0;

	if (wire[0] == 0) {
		if (outlen < 2)
			return MESHDNS_ESPACE;
		memcpy(out, ".", 2);
		return 1;
	}
	while (*wire) {
		uint8_t l = *wire++;
		if (n + l + 2 > outlen)
			return MESHDNS_ESPACE;
		memcpy(out + n, wire, l);
		n += l;
		wire += l;
		if (*wire)
			out[n++] = '.';
	}
	out[n] = '\0';
	return (int)n;
}
