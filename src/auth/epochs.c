/*
 * Nonces of other epochs: other nodes' and this node's earlier ones
 * (auth.h, docs/scaling.md).
 *
 * A small array of epochs (AUTH_EPOCHS_MAX), searched linearly: it holds a
 * few entries (one or two per node), and a lookup happens only for a nonce
 * that is not of the running epoch, which is rare (a phone that moved
 * nodes). A held epoch's counts are in a table keyed by sequence number
 * (base/htab, SipHash: the sequence number comes from the peer, although
 * the tag was checked first), with its entries in one array allocated when
 * the epoch is taken: no allocation per request.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "base/hash.h"

struct use {
	struct htab_node node;
	uint64_t seq;
	uint32_t nc;
};

struct held {
	struct htab by_seq;
	struct use *uses;       /* capacity entries */
	size_t n;
	uint64_t floor;         /* sequence numbers below: counts not loaded */
};

struct epoch {
	uint32_t id;
	uint8_t key[AUTH_KEY_LEN];
	struct held *held;      /* NULL: known only */
	bool seen;              /* put since auth_epochs_begin */
};

struct auth_epochs {
	struct epoch e[AUTH_EPOCHS_MAX];
	size_t n;
	uint32_t capacity;
};

int auth_epochs_new(struct auth_epochs **ep, uint32_t capacity)
{
	if (!ep || capacity < AUTH_NC_CAPACITY_MIN || capacity > AUTH_NC_CAPACITY_MAX)
		return EINVAL;
	*ep = calloc(1, sizeof(**ep));
	if (!*ep)
		return ENOMEM;
	(*ep)->capacity = capacity;
	return 0;
}

static void held_free(struct held *h)
{
	if (!h)
		return;
	htab_fini(&h->by_seq);
	free(h->uses);
	free(h);
}

static void epoch_drop(struct epoch *e)
{
	held_free(e->held);
	OPENSSL_cleanse(e->key, sizeof(e->key));
	e->held = NULL;
}

void auth_epochs_free(struct auth_epochs **ep)
{
	if (!ep || !*ep)
		return;
	for (size_t i = 0; i < (*ep)->n; i++)
		epoch_drop(&(*ep)->e[i]);
	free(*ep);
	*ep = NULL;
}

static struct epoch *find(const struct auth_epochs *ep, uint32_t id)
{
	for (size_t i = 0; ep && i < ep->n; i++)
		if (ep->e[i].id == id)
			return (struct epoch *)&ep->e[i];
	return NULL;
}

static size_t held_count(const struct auth_epochs *ep)
{
	size_t n = 0;

	for (size_t i = 0; i < ep->n; i++)
		n += ep->e[i].held != NULL;
	return n;
}

void auth_epochs_begin(struct auth_epochs *ep)
{
	for (size_t i = 0; ep && i < ep->n; i++)
		ep->e[i].seen = false;
}

static int held_new(struct held **hp, uint32_t capacity)
{
	struct held *h = calloc(1, sizeof(*h));
	int e;

	if (!h)
		return ENOMEM;
	h->uses = calloc(capacity, sizeof(*h->uses));
	e = h->uses ? htab_init(&h->by_seq, capacity) : ENOMEM;
	if (e) {
		free(h->uses);
		free(h);
		return e;
	}
	*hp = h;
	return 0;
}

int auth_epochs_put(struct auth_epochs *ep, uint32_t id, const uint8_t key[AUTH_KEY_LEN],
		    bool held, bool *fresh)
{
	struct epoch *e;
	int err;

	if (fresh)
		*fresh = false;
	if (!ep || !key)
		return EINVAL;
	e = find(ep, id);
	if (e && CRYPTO_memcmp(e->key, key, AUTH_KEY_LEN) != 0)
		epoch_drop(e); /* another key under the same number: start over */
	if (!e) {
		if (ep->n == AUTH_EPOCHS_MAX)
			return EOVERFLOW;
		e = &ep->e[ep->n++];
		memset(e, 0, sizeof(*e));
		e->id = id;
	}
	if (e->key != key) /* a caller may hand back the key it found here */
		memcpy(e->key, key, AUTH_KEY_LEN);
	e->seen = true;
	if (!held) {
		held_free(e->held);
		e->held = NULL;
		return 0;
	}
	if (e->held)
		return 0;
	if (held_count(ep) >= AUTH_EPOCHS_HELD_MAX)
		return EOVERFLOW;
	if ((err = held_new(&e->held, ep->capacity)) != 0)
		return err;
	if (fresh)
		*fresh = true;
	return 0;
}

void auth_epochs_end(struct auth_epochs *ep)
{
	size_t k = 0;

	if (!ep)
		return;
	for (size_t i = 0; i < ep->n; i++) {
		if (!ep->e[i].seen) {
			epoch_drop(&ep->e[i]);
			continue;
		}
		if (k != i) {
			ep->e[k] = ep->e[i];
			/* the htab's buckets point at entries of the uses array,
			 * which did not move: only the struct epoch did */
		}
		k++;
	}
	ep->n = k;
}

static struct use *use_find(struct held *h, uint64_t seq)
{
	uint64_t hv = htab_hash(&h->by_seq, &seq, sizeof(seq));

	for (struct htab_node *n = htab_find(&h->by_seq, hv); n; n = htab_next(&h->by_seq, n)) {
		struct use *u = (struct use *)n;

		if (u->seq == seq)
			return u;
	}
	return NULL;
}

static int use_add(struct held *h, uint64_t seq, uint32_t nc, size_t capacity)
{
	struct use *u;

	if (h->n == capacity)
		return EOVERFLOW;
	u = &h->uses[h->n];
	u->seq = seq;
	u->nc = nc;
	if (htab_insert(&h->by_seq, &u->node, htab_hash(&h->by_seq, &seq, sizeof(seq))) != 0)
		return EOVERFLOW;
	h->n++;
	return 0;
}

int auth_epochs_load_use(struct auth_epochs *ep, uint32_t id, uint64_t seq, uint32_t nc)
{
	struct epoch *e = find(ep, id);
	struct use *u;

	if (!e || !e->held)
		return ENOENT;
	if ((u = use_find(e->held, seq)) != NULL) {
		if (nc > u->nc)
			u->nc = nc;
		return 0;
	}
	return use_add(e->held, seq, nc, ep->capacity);
}

void auth_epochs_set_floor(struct auth_epochs *ep, uint32_t id, uint64_t seq)
{
	struct epoch *e = find(ep, id);

	if (e && e->held && seq > e->held->floor)
		e->held->floor = seq;
}

enum auth_epoch_kind auth_epochs_find(const struct auth_epochs *ep, uint32_t id,
				      const uint8_t **key)
{
	const struct epoch *e = find(ep, id);

	if (!e)
		return AUTH_EPOCH_NONE;
	if (key)
		*key = e->key;
	return e->held ? AUTH_EPOCH_HELD : AUTH_EPOCH_KNOWN;
}

enum auth_nc_status auth_epochs_use(struct auth_epochs *ep, uint32_t id, uint64_t seq,
				    uint32_t nc)
{
	struct epoch *e = find(ep, id);
	struct use *u;

	if (!e || !e->held || nc == 0 || seq < e->held->floor)
		return AUTH_NC_UNKNOWN;
	u = use_find(e->held, seq);
	if (u) {
		if (nc <= u->nc)
			return AUTH_NC_REPLAY;
		u->nc = nc;
		return AUTH_NC_OK;
	}
	/* Never used before the takeover, as far as the store knows. */
	return use_add(e->held, seq, nc, ep->capacity) == 0 ? AUTH_NC_OK : AUTH_NC_UNKNOWN;
}

void auth_epochs_count(const struct auth_epochs *ep, size_t *known, size_t *held)
{
	*known = ep ? ep->n : 0;
	*held = ep ? held_count(ep) : 0;
}

size_t auth_epochs_held(const struct auth_epochs *ep, uint32_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; ep && i < ep->n && n < cap; i++)
		if (ep->e[i].held)
			out[n++] = ep->e[i].id;
	return n;
}

size_t auth_epochs_drop_held(struct auth_epochs *ep)
{
	size_t n = 0;

	for (size_t i = 0; ep && i < ep->n; i++)
		if (ep->e[i].held) {
			held_free(ep->e[i].held);
			ep->e[i].held = NULL;
			n++;
		}
	return n;
}
