/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * udp_floor: the least a UDP DNS server can do per query, as a yardstick
 * for bench/dns-qps. It answers every query at once with its own question
 * (QR and AA set, no records), the way a server that answers one read per
 * wakeup must: block in recvmmsg() for the first datagram, take what else
 * is queued (up to 32), send the answers with one sendmmsg(). No parsing,
 * no lookup, no event loop: what it costs per query is the kernel's part
 * (the wakeup, the receive, the send and the client's wakeup that the
 * send pays for on loopback), which no server that answers at once can
 * avoid. A server's CPU per query minus this is what its own code costs.
 *
 * usage: udp_floor ADDR PORT      (loopback addresses only)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH	32
#define MSG_MAX	4096

int main(int argc, char **argv)
{
	static uint8_t buf[BATCH][MSG_MAX];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	struct sockaddr_in sa = { .sin_family = AF_INET };

	if (argc != 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 ||
	    (ntohl(sa.sin_addr.s_addr) >> 24) != 127 || atoi(argv[2]) <= 0 ||
	    atoi(argv[2]) > 65535) {
		fprintf(stderr, "usage: udp_floor 127.x.y.z PORT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("udp_floor: bind");
		return 1;
	}
	signal(SIGTERM, SIG_DFL);
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ buf[i], MSG_MAX };
			mm[i].msg_hdr = (struct msghdr){
				.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
				.msg_iov = &iov[i], .msg_iovlen = 1,
			};
		}
		int got = recvmmsg(fd, mm, BATCH, MSG_WAITFORONE, NULL);
		if (got <= 0)
			continue;
		int k = 0;
		for (int i = 0; i < got; i++) {
			uint8_t *m = buf[i];
			if (mm[i].msg_len < 12 || (m[2] & 0x80))
				continue;	/* no header, or a response */
			m[2] = (uint8_t)(m[2] | 0x84);	/* QR, AA */
			m[3] &= 0x10;			/* CD kept; RA, rcode 0 */
			memset(m + 6, 0, 6);		/* question only */
			size_t len = mm[i].msg_len;
			/* cut at the end of the question (drop an OPT) */
			size_t p = 12;
			while (p < len && m[p] && m[p] < 64)
				p += 1u + m[p];
			len = p + 5 <= len ? p + 5 : len;
			iov[i].iov_len = len;
			if (k != i)
				mm[k] = mm[i];
			k++;
		}
		if (k)
			sendmmsg(fd, mm, (unsigned)k, 0);
	}
}
