// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * flow.c - The preallocated flow table
 *
 * Theory of operation: every connection of the sandbox is a struct flow in
 * one array allocated at start-up (--max-flows entries), addressed by index:
 * the epoll data word of a flow's socket carries that index, never an fd to
 * look up. Packets from the tun find their flow through a hash of the
 * 4-tuple (seeded at start, so the sandbox cannot aim for collisions), with
 * chains threaded through the array.
 *
 * Closing is deferred: flow_close() unhashes the flow and marks it
 * FLOW_CLOSED, and flow_reap(), called after each event batch, returns it to
 * the free list. An event for a closed flow that is still in the current
 * batch finds FLOW_CLOSED, never a reused slot.
 *
 * Flows with a deadline (connect timeout, retransmission, ...) are on a
 * doubly linked list, so the timer scans only those; idle established flows
 * cost nothing. The array is allocated untouched: memory is only committed
 * for flows actually used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "pmsocks-ns/flow.h"
#include "pmsocks-ns/util.h"

static uint64_t flow_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

static uint32_t flow_hash(const struct flow_table *t, const struct flow_key *k)
{
	uint64_t h = t->hash_seed, w[4];

	memcpy(w, &k->remote_addr, sizeof(w) / 2);
	memcpy(&w[2], &k->sandbox_addr, sizeof(w) / 2);
	h = flow_mix(h, ((uint64_t)k->family << 32) | ((uint64_t)k->sandbox_port << 16) |
				k->remote_port);
	h = flow_mix(h, w[0]);
	h = flow_mix(h, w[1]);
	h = flow_mix(h, w[2]);
	h = flow_mix(h, w[3]);
	return (uint32_t)h & t->bucket_mask;
}

static bool flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
	return a->family == b->family && a->sandbox_port == b->sandbox_port &&
	       a->remote_port == b->remote_port &&
	       !memcmp(&a->sandbox_addr, &b->sandbox_addr, sizeof(a->sandbox_addr)) &&
	       !memcmp(&a->remote_addr, &b->remote_addr, sizeof(a->remote_addr));
}

/**
 * flow_table_init() - Allocate the flow table
 * @t:   table
 * @max: number of flows, 1 to FLOW_MAX_LIMIT
 *
 * Return: 0, or -errno
 */
int flow_table_init(struct flow_table *t, uint32_t max)
{
	uint32_t buckets = 1;

	if (!max || max > FLOW_MAX_LIMIT)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	while (buckets < 2 * max)
		buckets <<= 1;
	/* mmap'd, not touched: only the flows in use cost memory. */
	t->flows = mmap(NULL, (size_t)max * sizeof(struct flow), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->flows == MAP_FAILED)
		return -ENOMEM;
	t->buckets = malloc((size_t)buckets * sizeof(uint32_t));
	if (!t->buckets) {
		munmap(t->flows, (size_t)max * sizeof(struct flow));
		return -ENOMEM;
	}
	memset(t->buckets, 0xff, (size_t)buckets * sizeof(uint32_t));
	t->bucket_mask = buckets - 1;
	t->max = max;
	/* Slots from never_used on have not been touched yet: free without a list. */
	t->never_used = 0;
	t->free_head = FLOW_NONE;
	t->closed_head = FLOW_NONE;
	t->timer_head = FLOW_NONE;
	if (getrandom(&t->hash_seed, sizeof(t->hash_seed), 0) != sizeof(t->hash_seed))
		t->hash_seed = 0x5bd1e9955bd1e995ULL ^ (uint64_t)(uintptr_t)t;
	return 0;
}

/**
 * flow_table_destroy() - Release the flow table (sockets must be closed already)
 * @t: table
 */
void flow_table_destroy(struct flow_table *t)
{
	if (t->flows)
		munmap(t->flows, (size_t)t->max * sizeof(struct flow));
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

/**
 * flow_lookup() - Find the live flow of a 4-tuple
 * @t: table
 * @k: key
 *
 * Return: the flow, or NULL
 */
struct flow *flow_lookup(const struct flow_table *t, const struct flow_key *k)
{
	uint32_t i = t->buckets[flow_hash(t, k)];

	while (i != FLOW_NONE) {
		struct flow *f = &t->flows[i];

		if (flow_key_eq(&f->key, k))
			return f;
		i = f->hash_next;
	}
	return NULL;
}

/**
 * flow_alloc() - Take a free flow for a key and hash it
 * @t: table
 * @k: key (must not be in the table)
 *
 * Return: the zeroed flow with the key set, or NULL if the table is full
 */
struct flow *flow_alloc(struct flow_table *t, const struct flow_key *k)
{
	uint32_t i = t->free_head, b;
	struct flow *f;

	if (i != FLOW_NONE) {
		f = &t->flows[i];
		t->free_head = f->free_next;
	} else if (t->never_used < t->max) {
		i = t->never_used++;
		f = &t->flows[i];
	} else {
		return NULL;
	}
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->sock = -1;
	f->timer_prev = f->timer_next = f->free_next = FLOW_NONE;
	b = flow_hash(t, k);
	f->hash_next = t->buckets[b];
	t->buckets[b] = i;
	t->active++;
	return f;
}

static void flow_unhash(struct flow_table *t, struct flow *f)
{
	uint32_t idx = flow_index(t, f);
	uint32_t *p = &t->buckets[flow_hash(t, &f->key)];

	while (*p != FLOW_NONE) {
		if (*p == idx) {
			*p = f->hash_next;
			return;
		}
		p = &t->flows[*p].hash_next;
	}
	ASSERT(!"flow not in its hash chain");
}

/**
 * flow_timer_set() - Set or clear a flow's deadline
 * @t:           table
 * @f:           flow
 * @deadline_ms: CLOCK_MONOTONIC milliseconds, or 0 to clear
 */
void flow_timer_set(struct flow_table *t, struct flow *f, uint64_t deadline_ms)
{
	uint32_t idx = flow_index(t, f);
	bool listed = f->deadline_ms != 0;

	f->deadline_ms = deadline_ms;
	if (deadline_ms && !listed) {
		f->timer_prev = FLOW_NONE;
		f->timer_next = t->timer_head;
		if (t->timer_head != FLOW_NONE)
			t->flows[t->timer_head].timer_prev = idx;
		t->timer_head = idx;
	} else if (!deadline_ms && listed) {
		if (f->timer_prev != FLOW_NONE)
			t->flows[f->timer_prev].timer_next = f->timer_next;
		else
			t->timer_head = f->timer_next;
		if (f->timer_next != FLOW_NONE)
			t->flows[f->timer_next].timer_prev = f->timer_prev;
		f->timer_prev = f->timer_next = FLOW_NONE;
	}
}

/**
 * flow_close() - Retire a flow; its slot is reused only after flow_reap()
 * @t: table
 * @f: flow (its socket already closed by the caller)
 */
void flow_close(struct flow_table *t, struct flow *f)
{
	if (f->state == FLOW_CLOSED || f->state == FLOW_FREE)
		return;
	flow_timer_set(t, f, 0);
	flow_unhash(t, f);
	f->state = FLOW_CLOSED;
	f->free_next = t->closed_head;
	t->closed_head = flow_index(t, f);
}

/**
 * flow_reap() - Free the flows closed during the last event batch
 * @t: table
 */
void flow_reap(struct flow_table *t)
{
	while (t->closed_head != FLOW_NONE) {
		struct flow *f = &t->flows[t->closed_head];

		t->closed_head = f->free_next;
		f->state = FLOW_FREE;
		f->free_next = t->free_head;
		t->free_head = flow_index(t, f);
		t->active--;
	}
}
