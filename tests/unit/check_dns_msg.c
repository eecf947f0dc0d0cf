/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * dns_query_parse() on hand-made packets, and name conversions.
 */
#include <string.h>

#include "meshdns/dns_msg.h"
#include "meshdns/error.h"
#include "suites.h"

/* A query for "Web.Mesh" A, with room to append records. */
static size_t base_query(uint8_t *p, uint16_t arcount)
{
	static const uint8_t q[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'W', 'e', 'b', 4, 'M', 'e', 's', 'h', 0, 0, 1, 0, 1,
	};
	memcpy(p, q, sizeof(q));
	p[11] = (uint8_t)arcount;
	return sizeof(q);
}

static size_t add_opt(uint8_t *p, size_t n, uint16_t size, uint8_t version,
		      uint16_t flags)
{
	const uint8_t opt[] = { 0, 0, 41, (uint8_t)(size >> 8), (uint8_t)size,
				0, version, (uint8_t)(flags >> 8), (uint8_t)flags,
				0, 0 };
	memcpy(p + n, opt, sizeof(opt));
	return n + sizeof(opt);
}

START_TEST(test_parse_ok)
{
	uint8_t p[512];
	struct dns_query q;
	size_t n = base_query(p, 0);

	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_OK);
	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert(q.has_question);
	ck_assert_uint_eq(q.qtype, DNS_TYPE_A);
	ck_assert_uint_eq(q.qclass, DNS_CLASS_IN);
	ck_assert_uint_eq(q.qname_len, 10);
	ck_assert_uint_eq(q.nlabels, 2);
	ck_assert_uint_eq(q.label_off[1], 4);
	ck_assert_mem_eq(q.lname, "\003web\004mesh", 10);
	ck_assert(!q.edns);
	/* the packet keeps the client's case for the echo */
	ck_assert_mem_eq(dns_query_qname(&q), "\003Web", 4);
}
END_TEST

START_TEST(test_parse_edns)
{
	uint8_t p[512];
	struct dns_query q;
	size_t n = add_opt(p, base_query(p, 1), 4096, 0, DNS_EDNS_DO);

	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_OK);
	ck_assert(q.edns);
	ck_assert_uint_eq(q.udp_size, 4096);
	ck_assert(q.edns_do);

	n = add_opt(p, base_query(p, 1), 100, 0, 0);
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_OK);
	ck_assert_uint_eq(q.udp_size, 512);	/* below 512 means 512 */

	n = add_opt(p, base_query(p, 1), 1232, 1, 0);
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_BADVERS);

	n = add_opt(p, base_query(p, 2), 1232, 0, 0);
	n = add_opt(p, n, 1232, 0, 0);
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);
	ck_assert(!q.edns);	/* a broken OPT is not echoed */

	/* option length running past the RDATA */
	n = add_opt(p, base_query(p, 1), 1232, 0, 0);
	p[n - 1] = 4;
	memcpy(p + n, "\000\012\000\011", 4);
	ck_assert_int_eq(dns_query_parse(&q, p, n + 4), DNS_PARSE_FORMERR);
}
END_TEST

START_TEST(test_parse_bad)
{
	uint8_t p[600];
	struct dns_query q;
	size_t n = base_query(p, 0);

	ck_assert_int_eq(dns_query_parse(&q, p, 11), DNS_PARSE_DROP);
	p[2] |= 0x80;	/* QR: a response */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_DROP);

	n = base_query(p, 0);
	p[5] = 2;	/* QDCOUNT 2 */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	p[5] = 0;	/* QDCOUNT 0 */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	ck_assert_int_eq(dns_query_parse(&q, p, n - 1), DNS_PARSE_FORMERR);
	ck_assert_int_eq(dns_query_parse(&q, p, 15), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	p[n++] = 0;	/* trailing garbage */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	p[12] = 0xc0;	/* compression pointer in the question */
	p[13] = 12;
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	p[12] = 0x40;	/* obsolete label type */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	n = base_query(p, 0);
	p[2] = 0x20;	/* opcode 4, NOTIFY */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_NOTIMP);
	ck_assert(q.has_question);

	n = base_query(p, 0);
	p[23] = 41;	/* QTYPE OPT */
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_FORMERR);

	/* a 300-byte name */
	memcpy(p, "\x12\x34\x01\x00\0\1\0\0\0\0\0\0", 12);
	n = 12;
	for (int i = 0; i < 5; i++) {
		p[n++] = 60;
		memset(p + n, 'a', 60);
		n += 60;
	}
	p[n++] = 0;
	memcpy(p + n, "\0\1\0\1", 4);
	ck_assert_int_eq(dns_query_parse(&q, p, n + 4), DNS_PARSE_FORMERR);
}
END_TEST

START_TEST(test_name_from_str)
{
	uint8_t w[DNS_MAX_NAME + 1];
	char s[DNS_MAX_NAME + 1];

	ck_assert_int_eq(dns_name_from_str("Mesh.Local", w), 12);
	ck_assert_mem_eq(w, "\004mesh\005local", 12);
	ck_assert_int_eq(dns_name_from_str("mesh.local.", w), 12);
	ck_assert_int_eq(dns_name_from_str(".", w), 1);
	ck_assert_int_eq(dns_name_from_str("a..b", w), MESHDNS_EINVAL);
	ck_assert_int_eq(dns_name_from_str("", w), MESHDNS_EINVAL);
	ck_assert_int_eq(dns_name_from_str(".a", w), MESHDNS_EINVAL);
	ck_assert_int_eq(dns_name_from_str("a b", w), MESHDNS_EINVAL);
	char big[80];
	memset(big, 'x', 64);
	big[64] = 0;
	ck_assert_int_eq(dns_name_from_str(big, w), MESHDNS_EINVAL);
	big[63] = 0;
	ck_assert_int_eq(dns_name_from_str(big, w), 65);

	dns_name_from_str("web.mesh.local", w);
	ck_assert_int_eq(dns_name_to_str(w, s, sizeof(s)), 14);
	ck_assert_str_eq(s, "web.mesh.local");
	ck_assert_int_eq(dns_name_to_str(w, s, 5), MESHDNS_ESPACE);
}
END_TEST

/* Word-at-a-time lowercasing against the plain rule: every byte value at
 * every offset of a word, and every length's tail. */
START_TEST(test_name_lower)
{
	uint8_t buf[40], want[40];

	for (unsigned v = 0; v < 256; v++) {
		for (size_t len = 1; len <= sizeof(buf); len++) {
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(v + i * 37);
			for (size_t i = 0; i < len; i++)
				want[i] = buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i];
			dns_name_lower(buf, len);
			ck_assert_mem_eq(buf, want, len);
		}
	}
	/* through the parser: mixed case, labels of every length class */
	uint8_t p[300] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const char label[] = "AbC-zZ@[`{09";
	size_t n = DNS_HDR_LEN;
	for (size_t l = 1; l < sizeof(label); l++) {
		p[n++] = (uint8_t)l;
		memcpy(p + n, label, l);
		n += l;
	}
	p[n++] = 0;
	p[n++] = 0, p[n++] = 1, p[n++] = 0, p[n++] = 1;
	struct dns_query q;
	ck_assert_int_eq(dns_query_parse(&q, p, n), DNS_PARSE_OK);
	ck_assert_uint_eq(q.qname_len, n - DNS_HDR_LEN - 4);
	for (size_t i = 0; i < q.qname_len; i++) {
		uint8_t c = p[DNS_HDR_LEN + i];
		ck_assert_uint_eq(q.lname[i], c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}
END_TEST

Suite *dns_msg_suite(void)
{
	Suite *s = suite_create("dns_msg");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_edns);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_name_from_str);
	tcase_add_test(tc, test_name_lower);
	suite_add_tcase(s, tc);
	return s;
}
