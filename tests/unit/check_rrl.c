/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Response rate limiting with time passed in: the burst and the refill at
 * the rate (capped at one second's worth), slip cadence and its restart,
 * IPv4 and IPv6 prefixes and their caps, the loopback exemption, other
 * address families, and a bucket shared while busy then taken over.
 * (check_probe.c has the basic burst-then-slip case.)
 */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "meshdns/rrl.h"
#include "suites.h"

/* one rrl is 128 KiB: not on the stack */
static struct rrl r;

static enum rrl_verdict check(const char *client, uint64_t now_ms)
{
	socklen_t len;
	struct sockaddr_storage ss = th_sockaddr(client, 0, &len);

	return rrl_check(&r, &ss, now_ms);
}

/* How many of @p n responses to @p client at @p now_ms are sent. */
static unsigned sends(const char *client, uint64_t now_ms, unsigned n)
{
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++)
		sent += check(client, now_ms) == RRL_SEND;
	return sent;
}

START_TEST(test_burst_refill)
{
	rrl_init(&r, 5, 0, 24, 56, false);
	/* a second's worth at once, then nothing; slip 0: all dropped */
	ck_assert_uint_eq(sends("192.0.2.1", 10000, 5), 5);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(check("192.0.2.1", 10000), RRL_DROP);
	ck_assert_uint_eq(r.limited, 10);
	ck_assert_uint_eq(r.slipped, 0);
	/* 5 per second: one token every 200 ms, none before */
	ck_assert_int_eq(check("192.0.2.1", 10199), RRL_DROP);
	ck_assert_int_eq(check("192.0.2.1", 10399), RRL_SEND);
	ck_assert_int_eq(check("192.0.2.1", 10399), RRL_DROP);
	/* a long quiet time refills one burst, not more */
	ck_assert_uint_eq(sends("192.0.2.1", 60000, 20), 5);
}
END_TEST

START_TEST(test_slip)
{
	static const enum rrl_verdict want[] = { RRL_DROP, RRL_DROP, RRL_SLIP,
						 RRL_DROP, RRL_DROP, RRL_SLIP };

	rrl_init(&r, 1, 3, 24, 56, false);
	ck_assert_int_eq(check("192.0.2.1", 5000), RRL_SEND);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_int_eq(check("192.0.2.1", 5000), want[i]);
	ck_assert_uint_eq(r.limited, 6);
	ck_assert_uint_eq(r.slipped, 2);
	/* a response sent restarts the count: the third limited one slips */
	ck_assert_int_eq(check("192.0.2.1", 5000), RRL_DROP);
	ck_assert_int_eq(check("192.0.2.1", 6000), RRL_SEND);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(check("192.0.2.1", 6000), want[i]);

	/* slip 1: every limited response goes out truncated */
	rrl_init(&r, 1, 1, 24, 56, false);
	ck_assert_int_eq(check("192.0.2.1", 5000), RRL_SEND);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(check("192.0.2.1", 5000), RRL_SLIP);
	ck_assert_uint_eq(r.slipped, 5);
}
END_TEST

/* At rate 1, a fresh client @p a is answered; @p b then shares its
 * bucket (limited) when @p same, else has its own. */
static void pair(const char *a, const char *b, bool same)
{
	ck_assert_msg(check(a, 5000) == RRL_SEND, "%s limited at once", a);
	ck_assert_msg(check(b, 5000) == (same ? RRL_DROP : RRL_SEND),
		      "%s and %s: expected %s", a, b, same ? "one client" : "two");
}

START_TEST(test_prefixes)
{
	/* /20: 192.0.0.0 - 192.0.15.255 is one client, 192.0.16/20 the next */
	rrl_init(&r, 1, 0, 20, 56, false);
	pair("192.0.2.1", "192.0.15.200", true);
	pair("192.0.16.1", "192.0.31.255", true);
	/* more than 32 bits means 32: each address its own bucket */
	rrl_init(&r, 1, 0, 40, 56, false);
	ck_assert_uint_eq(r.v4_prefix, 32);
	pair("192.0.2.1", "192.0.2.2", false);
	/* /0: every IPv4 client together, IPv6 apart */
	rrl_init(&r, 1, 0, 0, 0, false);
	pair("10.0.0.1", "192.0.2.1", true);
	pair("2001:db8::1", "fd00::1", true);
	/* /56: the first 7 bytes */
	rrl_init(&r, 1, 0, 24, 56, false);
	pair("2001:db8:0:aa00::1", "2001:db8:0:aaff:1:2:3:4", true);
	pair("2001:db8:0:ab00::1", "2001:db8:0:abff::", true);
	/* more than 64 bits means 64: the interface ID never counts */
	rrl_init(&r, 1, 0, 24, 128, false);
	ck_assert_uint_eq(r.v6_prefix, 64);
	pair("2001:db8::1", "2001:db8::ffff:1", true);
	pair("2001:db8:0:1::1", "2001:db8:0:1:ffff::", true);
}
END_TEST

START_TEST(test_loopback)
{
	rrl_init(&r, 1, 0, 24, 56, true);
	/* all of 127/8 and ::1 */
	ck_assert_uint_eq(sends("127.0.0.1", 5000, 100), 100);
	ck_assert_uint_eq(sends("127.1.2.3", 5000, 100), 100);
	ck_assert_uint_eq(sends("::1", 5000, 100), 100);
	ck_assert_uint_eq(r.limited, 0);
	/* the exemption is a setting */
	rrl_init(&r, 1, 0, 24, 56, false);
	ck_assert_uint_eq(sends("127.0.0.1", 5000, 100), 1);
	ck_assert_uint_eq(sends("::1", 5000, 100), 1);
}
END_TEST

START_TEST(test_other_family)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	rrl_init(&r, 1, 0, 24, 56, false);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(rrl_check(&r, &ss, 5000), RRL_SEND);
	ck_assert_uint_eq(r.limited, 0);
}
END_TEST

/* Buckets held by the IPv4 /24 a.b.c (the table is in the header: a
 * family byte, then the prefix). */
static unsigned holders(unsigned a, unsigned b, unsigned c)
{
	const uint8_t prefix[8] = { (uint8_t)a, (uint8_t)b, (uint8_t)c };
	unsigned n = 0;

	for (unsigned i = 0; i < RRL_BUCKETS; i++)
		n += r.b[i].key[0] && memcmp(r.b[i].key + 1, prefix, sizeof(prefix)) == 0;
	return n;
}

/*
 * A bucket in use by one prefix is shared by another that hashes to it
 * (stricter, never looser), and taken over once quiet for a second. The
 * colliding prefix is found by behaviour: with A's bucket empty, the first
 * other prefix that is limited at once shares A's bucket.
 */
START_TEST(test_shared_bucket)
{
	char b[32];
	unsigned i;

	rrl_init(&r, 10, 0, 24, 56, false);
	ck_assert_uint_eq(sends("10.0.0.1", 5000, 11), 10);
	for (i = 1; i < 65536; i++) {
		snprintf(b, sizeof(b), "10.%u.%u.1", i >> 8, i & 255);
		if (check(b, 5000) != RRL_SEND)
			break;
	}
	ck_assert_uint_lt(i, 65536);
	/* still busy (A was last seen at 5000): B shares the empty bucket,
	 * which stays A's */
	ck_assert_int_eq(check(b, 5000), RRL_DROP);
	ck_assert_uint_eq(holders(10, 0, 0), 1);
	ck_assert_uint_eq(holders(10, i >> 8, i & 255), 0);
	/* quiet for a second: B takes the bucket with a full burst, and A,
	 * now the other one, shares B's */
	ck_assert_uint_eq(sends(b, 6000, 10), 10);
	ck_assert_uint_eq(holders(10, 0, 0), 0);
	ck_assert_uint_eq(holders(10, i >> 8, i & 255), 1);
	ck_assert_int_eq(check("10.0.0.1", 6000), RRL_DROP);
}
END_TEST

Suite *rrl_suite(void)
{
	Suite *s = suite_create("rrl");
	TCase *tc = tcase_create("rrl");

	tcase_add_test(tc, test_burst_refill);
	tcase_add_test(tc, test_slip);
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_other_family);
	tcase_add_test(tc, test_shared_bucket);
	suite_add_tcase(s, tc);
	return s;
}
