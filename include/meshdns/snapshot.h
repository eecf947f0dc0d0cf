/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Immutable answer data. A snapshot maps every mesh name to what an answer
 * needs; the DNS path only reads snapshots. Per-service data lives in
 * reference-counted snap_service objects that consecutive snapshots share,
 * so a change to one service rebuilds that service and the (pointer-only)
 * name table, not the whole registry.
 *
 * Built and freed on the loop thread; read by any thread that holds it.
 */
#ifndef MESHDNS_SNAPSHOT_H
#define MESHDNS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshdns/dns_msg.h"
#include "meshdns/error.h"
#include "meshdns/service.h"

/* Endpoint flags. */
#define SNAP_EP_READY	 0x01	/* the source says ready */
#define SNAP_EP_HEALTHY	 0x02	/* ready and passing probes (or not probed) */
#define SNAP_EP_ELIGIBLE 0x04	/* given out in answers now */
#define SNAP_EP_DRAINING 0x08	/* healthy with effective weight 0 */
#define SNAP_EP_LOCAL	 0x10	/* in the node's zone (or hinted for it) */

/** An endpoint's health as the prober last saw it (registry-owned). */
struct ep_health {
	bool healthy;		/* true until probes say otherwise */
	bool probed;		/* at least one probe result counted */
	uint8_t load_pct;	/* X-Mesh-Weight, 100 without one */
	uint64_t healthy_since_ms;	/* monotonic; slow start ramps from here */
};

/*
 * State shared by every snapshot's copy of one service and by the prober:
 * the DNS path marks the service as asked for (on_demand probing).
 */
struct svc_live {
	unsigned refs;		/* loop thread only */
	uint8_t queried;	/* set by readers (any thread), cleared by the
				 * prober; relaxed atomic loads and stores */
};

/** New live state with one reference; NULL on no memory. */
struct svc_live *svc_live_create(void);
void svc_live_ref(struct svc_live *l);
/** NULL is fine. */
void svc_live_unref(struct svc_live *l);

struct snap_ep {
	uint8_t family;		/* AF_INET / AF_INET6 */
	uint8_t flags;
	uint8_t addr[16];
	uint8_t load_pct;
	uint32_t weight;	/* base weight */
	uint32_t effective;	/* weight x load_pct / 100 */
	uint32_t target;	/* index into snap_service.targets */
	uint64_t ramp_start_ms;	/* slow start: healthy since (monotonic) */
	const char *zone;	/* NULL if unknown */
};

/* A host name under the service: HOST.SVC.NS.svc.DOMAIN. */
struct snap_target {
	uint8_t label[DNS_MAX_LABEL + 1];	/* wire label, lowercase */
	int32_t ep4;		/* endpoint index or -1 */
	int32_t ep6;
};

struct snap_port {
	uint8_t name[17];	/* wire label "_name"; name[0] == 0: unnamed */
	uint8_t proto[6];	/* wire label "_tcp" */
	uint16_t port;
};

struct snap_service {
	unsigned refs;		/* loop thread only */
	char *name;
	char *namespace;
	uint8_t key[2 * (DNS_MAX_LABEL + 1)];	/* wire "SVC" "NS" labels */
	uint8_t key_len;
	struct snap_ep *eps;
	uint32_t n_eps;
	struct snap_target *targets;
	uint32_t n_targets;
	uint32_t *target_table;	/* open addressing: target index + 1, 0 empty */
	uint32_t target_mask;
	struct snap_port *ports;
	uint32_t n_ports;
	struct svc_live *live;	/* one reference */
	uint32_t n_ready;
	uint32_t n_healthy;
	uint32_t n_eligible;
	bool panic;		/* below panic threshold: all ready answered */
	bool zones;		/* zone preference applies (our zone known) */
	bool use_local4;	/* A answers from the local zone only */
	bool use_local6;	/* AAAA answers from the local zone only */
	uint32_t max_answers;	/* 0: all */
	uint32_t slow_start_ms;	/* 0: off */
};

/** Answer policy from the config, fixed for a snapshot build. */
struct snap_policy {
	const char *node_zone;		/* NULL: unknown */
	bool zone_preference;
	uint8_t zone_min_share_pct;
	uint32_t max_answers;		/* global default, 0 = all */
};

enum snap_kind {
	SNAP_KIND_NONE = 0,	/* NXDOMAIN under the domain */
	SNAP_KIND_OUTSIDE,	/* not under the domain: not ours */
	SNAP_KIND_APEX,		/* DOMAIN: SOA, NS */
	SNAP_KIND_EMPTY,	/* exists without records: svc, ns, _proto, dns */
	SNAP_KIND_NSHOST,	/* ns.dns.DOMAIN: our own addresses */
	SNAP_KIND_SERVICE,	/* SVC.NS.svc.DOMAIN */
	SNAP_KIND_TARGET,	/* HOST.SVC.NS.svc.DOMAIN */
	SNAP_KIND_PORT,		/* _PORT._PROTO.SVC.NS.svc.DOMAIN */
	SNAP_KIND_STATUS,	/* _status.SVC.NS.svc.DOMAIN: TXT debug view */
};

/** Result of a name lookup. */
struct snap_match {
	enum snap_kind kind;
	const struct snap_service *svc;	/* SERVICE, TARGET, PORT */
	uint32_t index;			/* TARGET: target, PORT: port */
	uint8_t svc_label;		/* index of the SVC label in the qname */
	uint8_t domain_label;		/* index of the first domain label */
};

struct snap_entry;
struct strmap;

struct snapshot {
	uint64_t generation;
	uint32_t serial;		/* SOA serial: unix time of the change */
	uint32_t ttl_s;
	uint32_t negative_ttl_s;
	uint16_t edns_buffer_size;
	uint8_t domain[DNS_MAX_NAME + 1];	/* wire, lowercase */
	uint8_t domain_len;
	uint8_t domain_labels;
	/* ns.dns.DOMAIN addresses: our specific listen addresses */
	uint8_t ns_addr4[8][4];
	uint8_t n_ns4;
	uint8_t ns_addr6[8][16];
	uint8_t n_ns6;
	/* name table: services (2-label keys) and namespaces (1 label) */
	struct snap_entry *table;
	uint32_t mask;
	uint32_t n_entries;
	struct snap_service **services;	/* each holds one reference */
	uint32_t n_services;
	bool unsynced;			/* a source has not listed yet */
	char node_name[DNS_MAX_NAME + 1];	/* id.server */
	const struct strmap *rev;	/* address key -> "ns/name" (registry's) */
};

#define SNAP_ADDR_KEY 34

/** The reverse map's key for an address: '4' or '6' and the bytes in hex. */
void snapshot_addr_key(int family, const uint8_t *addr, char out[SNAP_ADDR_KEY]);

/**
 * The endpoint with address @p addr of @p family, for PTR answers.
 * @return the service (and *ep), or NULL
 */
const struct snap_service *snapshot_find_address(const struct snapshot *s, int family,
						 const uint8_t *addr, uint32_t *ep);

/** Parameters fixed for a snapshot's lifetime, set from the config. */
struct snapshot_params {
	const char *domain;
	uint32_t ttl_s;
	uint32_t negative_ttl_s;
	uint16_t edns_buffer_size;
	const struct sockaddr_storage *ns_addrs;	/* NULL or array */
	size_t n_ns_addrs;
	struct snap_policy policy;
	bool unsynced;			/* negative answers become SERVFAIL */
	const char *node_name;		/* id.server; NULL: unknown */
	/* address -> "ns/name", kept up to date by the registry (loop thread;
	 * a threaded server would need a published copy) */
	const struct strmap *rev;
};

/**
 * Build a service object from a spec and its endpoints' health, deciding
 * which endpoints answers hold: healthy ones with an effective weight above
 * zero; if there are none, the healthy draining ones; and when the healthy
 * share of ready endpoints is below the panic threshold, every ready one.
 * @param health  one per spec endpoint, or NULL (all healthy)
 * @param live    referenced by the new object; may be NULL
 * @param policy  zone and answer-size settings; NULL for none
 * @return a new object with one reference, or NULL (no memory).
 */
struct snap_service *snap_service_create(const struct svc_spec *spec,
					 const struct ep_health *health,
					 struct svc_live *live,
					 const struct snap_policy *policy);

/** Take a reference. Loop thread. */
void snap_service_ref(struct snap_service *s);

/** Drop a reference; frees at zero. NULL is fine. Loop thread. */
void snap_service_unref(struct snap_service *s);

/**
 * Build a snapshot over @p services (each gets a new reference).
 * @return new snapshot or NULL (no memory, or a bad domain).
 */
struct snapshot *snapshot_create(const struct snapshot_params *p,
				 struct snap_service *const *services,
				 size_t n_services, uint64_t generation,
				 uint32_t serial);

/**
 * A snapshot with the same services as @p prev, in the same order, some of
 * them replaced by new objects with the same names: the name table is
 * copied and patched instead of rebuilt. Of @p p only unsynced and rev
 * are taken; every other setting (domain, TTLs, payload size, node name,
 * our addresses, the policy) is @p prev's: the registry never changes
 * them, and a change of them needs snapshot_create().
 * @return new snapshot or NULL (no memory)
 */
struct snapshot *snapshot_update(const struct snapshot *prev, const struct snapshot_params *p,
				 struct snap_service *const *services, size_t n_services,
				 uint64_t generation, uint32_t serial);

/** Free a snapshot and its references. NULL is fine. Loop thread. */
void snapshot_delete(struct snapshot *s);

/**
 * Find what a query name is. @p q must have a parsed question.
 * Pure; any thread holding @p s.
 */
void snapshot_lookup(const struct snapshot *s, const struct dns_query *q,
		     struct snap_match *m);

/** Find a service by namespace and name; NULL if absent. */
const struct snap_service *snapshot_find_service(const struct snapshot *s,
						 const char *ns,
						 const char *name);

#endif
