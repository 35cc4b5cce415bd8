/*
 * registrar: the location service and REGISTER processing (RFC 3261 10.3).
 *
 * Memory: one allocation per AOR (its name inline) and one per binding (its
 * strings inline, about 100 bytes of header plus the contact, Call-ID, user
 * agent, instance and source address: a few hundred bytes, well under the
 * 1 KiB per contact the product allows). AORs hang in a keyed (SipHash) hash table
 * that doubles as it fills. Expiry is a sweep driven by the caller's tick.
 */
#include "registrar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define REG_UA_MAX 128          /* user agent text kept per binding */
#define REG_REQ_CONTACTS_MAX 100 /* contacts looked at in one REGISTER */

struct binding {
	struct binding *next;
	struct net_msg way;     /* buf unused */
	int64_t expires_at;
	int64_t dead_since;     /* TCP/TLS: when its connection was first seen closed, or 0 */
	uint32_t cseq;
	uint32_t reg_id;        /* RFC 5626 reg-id, 0 for none */
	uint16_t q;
	uint32_t gen;           /* registrar.sync_gen of the last reread that saw it */
	const char *contact, *call_id, *user_agent, *instance, *received;
	char data[];
};

struct aor {
	struct htab_node node;     /* r->aors (base/hash), keyed by name */
	struct binding *bindings;
	int64_t user_id;
	uint32_t count;
	size_t len;
	char name[];
};

/* A binding change waiting for registrar_flush: strings inline. */
enum pending_op { PENDING_UPSERT, PENDING_DELETE, PENDING_DELETE_AOR };

struct pending {
	struct pending *next;
	enum pending_op op;
	int64_t user_id, expires_at;
	uint32_t cseq, reg_id;
	uint16_t q;
	const char *aor, *contact, *received, *transport, *call_id, *ua, *instance;
	char data[];
};

struct registrar {
	struct registrar_conf conf;
	struct store *store;
	struct pending *head, **tail;
	size_t npending;
	struct reg_hold *hold;     /* answers waiting for their batch (hold.c) */
	reg_hold_send_fn *send;
	reg_hold_note_fn *note;
	void *send_arg;
	struct registrar_stats stats;
	/* Our batches are numbered 1, 2, ... (registrar_result.seq); the store
	 * numbers every batch committed through its handle (call records'
	 * too), so each of ours committed but not yet durable remembers the
	 * store's number it got (a backend that becomes durable later). */
	uint64_t batch_k;          /* our last committed batch */
	struct store_inflight inflight; /* our batches committed, not yet durable */
	struct htab aors;          /* bounded by max_bindings: an AOR has a binding */
	size_t naors, nbindings;
	struct store_reg *scratch; /* the row being written (apply) */
	uint32_t sync_gen;         /* see registrar_sync */
	uint64_t synced_aors, full_syncs;
};

/* ---- the table ------------------------------------------------------------- */

/* The AOR named name, or NULL. */
static struct aor *aor_find(const struct registrar *r, struct slice name)
{
	uint64_t h = htab_hash(&r->aors, name.p, name.len);

	for (struct htab_node *n = htab_find(&r->aors, h); n; n = htab_next(&r->aors, n)) {
		struct aor *a = (struct aor *)n;
		if (a->len == name.len && memcmp(a->name, name.p, name.len) == 0)
			return a;
	}
	return NULL;
}

static struct aor *aor_get(struct registrar *r, struct slice name, int64_t user_id)
{
	struct aor *a = aor_find(r, name);

	if (a)
		return a;
	a = calloc(1, sizeof(*a) + name.len + 1);
	if (!a)
		return NULL;
	memcpy(a->name, name.p, name.len);
	a->len = name.len;
	a->user_id = user_id;
	if (htab_insert(&r->aors, &a->node, htab_hash(&r->aors, name.p, name.len)) != 0) {
		free(a);
		return NULL;
	}
	r->naors++;
	return a;
}

static void aor_drop_if_empty(struct registrar *r, struct aor *a)
{
	if (a->bindings)
		return;
	htab_remove(&r->aors, &a->node);
	free(a);
	r->naors--;
}

static struct binding *binding_new(struct slice contact, struct slice call_id, struct slice ua,
				   struct slice instance, const char *received)
{
	size_t rl = strlen(received);
	size_t n = contact.len + call_id.len + ua.len + instance.len + rl + 5;
	struct binding *b = malloc(sizeof(*b) + n);
	char *p;

	if (!b)
		return NULL;
	memset(b, 0, sizeof(*b));
	p = b->data;
#define PUT(field, s) \
	do { \
		b->field = p; \
		memcpy(p, (s).p ? (s).p : "", (s).len); \
		p += (s).len; \
		*p++ = '\0'; \
	} while (0)
	PUT(contact, contact);
	PUT(call_id, call_id);
	PUT(user_agent, ua);
	PUT(instance, instance);
	PUT(received, slice_make(received, rl));
#undef PUT
	return b;
}

static struct binding **binding_slot(struct aor *a, struct slice contact)
{
	struct binding **pp = &a->bindings;

	while (*pp && !slice_eq(slice_cstr((*pp)->contact), contact))
		pp = &(*pp)->next;
	return pp;
}

/* ---- life cycle --------------------------------------------------------------- */

int registrar_new(struct registrar **rp, const struct registrar_conf *c, struct store *st)
{
	struct registrar *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return ENOMEM;
	r->scratch = malloc(sizeof(*r->scratch));
	/* an AOR exists only while it has a binding; a few spare for the AOR
	 * made just before its binding is refused at the bound */
	rc = r->scratch ? htab_init(&r->aors, (size_t)c->max_bindings + 16) : ENOMEM;
	if (rc) {
		free(r->scratch);
		free(r);
		return rc;
	}
	if (reg_hold_new(&r->hold, c->queue_max ? c->queue_max : REGISTRAR_PENDING_MAX) != 0) {
		htab_fini(&r->aors);
		free(r->scratch);
		free(r);
		return ENOMEM;
	}
	r->conf = *c;
	r->store = st;
	r->tail = &r->head;
	*rp = r;
	return 0;
}

void registrar_set_sender(struct registrar *r, reg_hold_send_fn *fn, reg_hold_note_fn *note,
			  void *arg)
{
	r->send = fn;
	r->note = note;
	r->send_arg = arg;
}

static void aor_free(struct htab_node *n, void *arg)
{
	struct aor *a = (struct aor *)n;
	struct binding *b = a->bindings, *bn;

	(void)arg;
	for (; b; b = bn) {
		bn = b->next;
		free(b);
	}
	free(a);
}

void registrar_free(struct registrar **rp)
{
	struct registrar *r = *rp;

	if (!r)
		return;
	(void)registrar_flush(r);
	r->stats.dropped += reg_hold_count(r->hold);
	reg_hold_free(&r->hold);
	while (r->head) {
		struct pending *p = r->head;
		r->head = p->next;
		free(p);
	}
	htab_drain(&r->aors, aor_free, NULL);
	htab_fini(&r->aors);
	free(r->scratch);
	free(r);
	*rp = NULL;
}

void registrar_set_conf(struct registrar *r, const struct registrar_conf *c)
{
	r->conf = *c;
	reg_hold_set_max(r->hold, c->queue_max ? c->queue_max : REGISTRAR_PENDING_MAX);
	htab_set_max(&r->aors, (size_t)c->max_bindings + 16);
}

void registrar_counts(const struct registrar *r, size_t *aors, size_t *bindings)
{
	*aors = r->naors;
	*bindings = r->nbindings;
}

/* Insert or replace binding b (already filled) of aor a. */
static void binding_put(struct registrar *r, struct aor *a, struct binding *b)
{
	struct binding **pp = binding_slot(a, slice_cstr(b->contact));

	if (*pp) {
		b->next = (*pp)->next;
		free(*pp);
	} else {
		b->next = NULL;
		a->count++;
		r->nbindings++;
	}
	*pp = b;
}

static void binding_remove(struct registrar *r, struct aor *a, struct binding **pp)
{
	struct binding *b = *pp;

	*pp = b->next;
	free(b);
	a->count--;
	r->nbindings--;
}

struct restore_ctx {
	struct registrar *r;
	int64_t now;
	size_t n;
	int err;
};

static int restore_one(void *arg, const struct store_reg *sr)
{
	struct restore_ctx *x = arg;
	struct aor *a;
	struct binding *b;

	if (sr->expires_at <= x->now || x->r->nbindings >= x->r->conf.max_bindings)
		return 0;
	a = aor_get(x->r, slice_cstr(sr->aor), sr->user_id);
	b = a ? binding_new(slice_cstr(sr->contact), slice_cstr(sr->call_id),
			    slice_cstr(sr->user_agent), slice_cstr(sr->instance), sr->received)
	      : NULL;
	if (!b) {
		x->err = ENOMEM;
		return ENOMEM;
	}
	b->expires_at = sr->expires_at;
	b->cseq = sr->cseq;
	b->q = sr->q;
	b->reg_id = sr->reg_id;
	net_msg_from_text(&b->way, sr->received, NULL);
	binding_put(x->r, a, b);
	x->n++;
	return 0;
}

int registrar_restore(struct registrar *r, int64_t now, size_t *n)
{
	struct restore_ctx x = { r, now, 0, 0 };
	size_t gone;
	int rc;

	*n = 0;
	if (!r->store)
		return 0;
	rc = store_regs_expire(r->store, &gone, now);
	if (rc == 0)
		rc = store_regs_list_all(r->store, restore_one, &x);
	*n = x.n;
	return rc ? rc : x.err;
}

/* A TCP or TLS binding whose connection is gone (closed, or never there
 * since a restart): the phone is unreachable until it connects again. */
static bool flow_dead(const struct binding *b)
{
	return b->way.tp != NET_UDP && !net_msg_conn_alive(&b->way);
}

static int queue_delete(struct registrar *r, const struct aor *a, const char *contact);

struct expire_ctx {
	struct registrar *r;
	int64_t now;
	size_t n;
};

static void expire_aor(struct htab_node *node, void *arg)
{
	struct expire_ctx *x = arg;
	struct aor *a = (struct aor *)node;

	for (struct binding **pp = &a->bindings; *pp;) {
		struct binding *b = *pp;
		bool dead = flow_dead(b);

		if (dead && !b->dead_since)
			b->dead_since = x->now;
		else if (!dead)
			b->dead_since = 0;
		if (dead && x->now - b->dead_since >= (int64_t)x->r->conf.flow_grace &&
		    b->expires_at > x->now) {
			/* RFC 5626 flows: the phone did not come back within the
			 * grace period; forget the binding (the store too: it has
			 * not expired there) */
			(void)queue_delete(x->r, a, b->contact);
			binding_remove(x->r, a, pp);
			x->n++;
		} else if (b->expires_at <= x->now) {
			binding_remove(x->r, a, pp);
			x->n++;
		} else {
			pp = &(*pp)->next;
		}
	}
	aor_drop_if_empty(x->r, a); /* htab_each allows removing this node */
}

size_t registrar_expire(struct registrar *r, int64_t now)
{
	size_t n = 0, gone;

	struct expire_ctx x = { r, now, 0 };

	htab_each(&r->aors, expire_aor, &x);
	n = x.n;
	if (n && r->store)
		(void)store_regs_expire(r->store, &gone, now);
	return n;
}

/* ---- several nodes ----------------------------------------------------------------- */

struct sync_ctx {
	struct registrar *r;
	int64_t now;
	int err;
};

/* One stored row into memory, marked with this reread's generation. A
 * binding that keeps its contact, Call-ID and source keeps its way back
 * (the socket or connection it came on, when it came to this node). */
static int sync_one(void *arg, const struct store_reg *sr)
{
	struct sync_ctx *x = arg;
	struct registrar *r = x->r;
	struct aor *a;
	struct binding *b, *old;

	if (sr->expires_at <= x->now)
		return 0;
	a = aor_find(r, slice_cstr(sr->aor));
	old = a ? *binding_slot(a, slice_cstr(sr->contact)) : NULL;
	if (!old && r->nbindings >= r->conf.max_bindings)
		return 0;
	if (!a && !(a = aor_get(r, slice_cstr(sr->aor), sr->user_id))) {
		x->err = ENOMEM;
		return ENOMEM;
	}
	b = binding_new(slice_cstr(sr->contact), slice_cstr(sr->call_id),
			slice_cstr(sr->user_agent), slice_cstr(sr->instance), sr->received);
	if (!b) {
		x->err = ENOMEM;
		return ENOMEM;
	}
	b->expires_at = sr->expires_at;
	b->cseq = sr->cseq;
	b->q = sr->q;
	b->gen = r->sync_gen;
	if (old && strcmp(old->call_id, b->call_id) == 0 && strcmp(old->received, b->received) == 0)
		b->way = old->way;
	else
		net_msg_from_text(&b->way, sr->received, NULL);
	a->user_id = sr->user_id;
	binding_put(r, a, b);
	return 0;
}

/* Drop the bindings of a that the last reread did not see. */
static void sweep_aor(struct registrar *r, struct aor *a)
{
	for (struct binding **pp = &a->bindings; *pp;) {
		if ((*pp)->gen != r->sync_gen)
			binding_remove(r, a, pp);
		else
			pp = &(*pp)->next;
	}
	aor_drop_if_empty(r, a);
}

static void sweep_node(struct htab_node *node, void *arg)
{
	sweep_aor(arg, (struct aor *)node); /* htab_each allows removing this node */
}

static int sync_aor(void *arg, const char *aor)
{
	struct sync_ctx *x = arg;
	struct registrar *r = x->r;
	struct aor *a;
	int rc;

	r->sync_gen++;
	if ((rc = store_regs_list_aor(r->store, aor, sync_one, x)) != 0)
		return rc;
	if ((a = aor_find(r, slice_cstr(aor))) != NULL)
		sweep_aor(r, a);
	r->synced_aors++;
	return 0;
}

static int sync_all(struct sync_ctx *x)
{
	struct registrar *r = x->r;
	int rc;

	r->sync_gen++;
	if ((rc = store_regs_list_all(r->store, sync_one, x)) != 0)
		return rc;
	htab_each(&r->aors, sweep_node, r);
	r->full_syncs++;
	return 0;
}

int registrar_sync(struct registrar *r, int64_t now, bool *full)
{
	struct store_backend_stats st;
	struct sync_ctx x = { r, now, 0 };
	bool all = false;
	int rc;

	if (full)
		*full = false;
	if (!r->store)
		return 0;
	/* Our own writes first: until they are in the store, a reread would
	 * take them back. The changes wait in the store meanwhile. */
	if (r->npending || store_backend_stats(r->store, &st) != 0 || st.queued || !st.connected)
		return 0;
	rc = store_regs_changes(r->store, &all, sync_aor, &x);
	if (!rc && all) {
		rc = sync_all(&x);
		if (full)
			*full = rc == 0;
	}
	return rc ? rc : x.err;
}

/* ---- REGISTER ------------------------------------------------------------------- */

/* One contact of the request, decided. */
struct reg_op {
	struct slice contact;   /* URI text */
	struct slice instance;
	uint32_t reg_id;        /* 0: none (or no instance, RFC 5626 6: ignored) */
	uint32_t expires;       /* 0: remove */
	uint16_t q;
	bool exists;
	const char *replaces;   /* contact of the binding of the same device
				   (instance, reg-id) it takes over, or NULL */
};

/* The binding of device (instance, reg_id) in a, other than the one with
 * `contact`: RFC 5626 6 (and RFC 5627 for a bare instance) make the
 * instance, not the contact URI, name the device, so a phone that builds
 * another contact (new port, new connection) replaces its old binding and
 * can remove it without knowing it. */
static struct binding *binding_of_device(struct aor *a, struct slice instance, uint32_t reg_id,
					 struct slice contact)
{
	if (!a || instance.len == 0)
		return NULL;
	for (struct binding *b = a->bindings; b; b = b->next)
		if (b->reg_id == reg_id && slice_eq(slice_cstr(b->instance), instance) &&
		    !slice_eq(slice_cstr(b->contact), contact))
			return b;
	return NULL;
}

/* "1", "0.5", "0.123", "1.000": thousandths, or -1. */
static int parse_q(struct slice s)
{
	unsigned v = 0, digits = 0;

	if (s.len == 0 || (s.p[0] != '0' && s.p[0] != '1'))
		return -1;
	if (s.len == 1)
		return (s.p[0] - '0') * 1000;
	if (s.p[1] != '.' || s.len > 5)
		return -1;
	for (size_t i = 2; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s.p[i] - '0');
		digits++;
	}
	while (digits++ < 3)
		v *= 10;
	v += (unsigned)(s.p[0] - '0') * 1000;
	return v > 1000 ? -1 : (int)v;
}

static void result(struct registrar_result *res, uint16_t status, const char *reason)
{
	res->status = status;
	res->reason = reason;
}

/* Decide every contact of the request (no side effects). Returns false with
 * res set when the request must be refused as a whole. */
static bool plan(struct registrar *r, const struct registrar_req *q, struct aor *a,
		 struct reg_op *ops, size_t *nops, bool *star, struct registrar_result *res)
{
	const struct sip_msg *m = q->m;
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	uint32_t hdr_expires = (m->have & SIP_HAVE_EXPIRES) ? m->expires : r->conf.default_expires;
	size_t n = 0;

	*star = false;
	lim.max_uri = STORE_URI_MAX - 1;
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_CONTACT); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value;
		struct sip_contact c;
		int rc;

		while ((rc = sip_contact_next(&c, &rest, &lim)) == 0) {
			struct slice inst = SLICE_NULL, rid = SLICE_NULL;
			uint32_t reg_id = 0;
			int qq = 1000;
			size_t k;

			if (c.star) {
				*star = true;
				continue;
			}
			if (n == REG_REQ_CONTACTS_MAX || n >= r->conf.max_contacts * 2u + 1) {
				result(res, 403, "Too Many Contacts");
				return false;
			}
			if (c.na.uri.scheme != SIP_SCHEME_SIP && c.na.uri.scheme != SIP_SCHEME_SIPS) {
				result(res, 400, "Contact Must Be a SIP or SIPS URI");
				return false;
			}
			if (c.has_q && (qq = parse_q(c.q)) < 0) {
				result(res, 400, "Malformed q Parameter");
				return false;
			}
			if (sip_param_get(c.na.params, "+sip.instance", &inst) &&
			    inst.len >= STORE_INSTANCE_MAX)
				inst.len = 0;
			if (sip_param_get(c.na.params, "reg-id", &rid) &&
			    (slice_to_u32(rid, &reg_id) != 0 || reg_id == 0 ||
			     reg_id > STORE_REG_ID_MAX)) {
				result(res, 400, "Malformed reg-id Parameter");
				return false;
			}
			if (inst.len == 0)
				reg_id = 0; /* RFC 5626 6: reg-id without an instance is ignored */
			/* a contact listed twice: the last one counts */
			for (k = 0; k < n && !slice_eq(ops[k].contact, c.na.uri.raw); k++)
				;
			ops[k].contact = c.na.uri.raw;
			ops[k].instance = inst;
			ops[k].reg_id = reg_id;
			ops[k].replaces = NULL;
			ops[k].q = (uint16_t)qq;
			ops[k].expires = c.has_expires ? c.expires_val : hdr_expires;
			if (k == n)
				n++;
		}
		if (rc != ENODATA) {
			result(res, 400, rc == EOVERFLOW ? "Contact URI Too Long" : "Malformed Contact");
			return false;
		}
	}
	if (*star) {
		/* RFC 3261 10.3 step 6: '*' alone, with Expires: 0 */
		if (n != 0 || !(m->have & SIP_HAVE_EXPIRES) || m->expires != 0) {
			result(res, 400, "Wildcard Contact Needs Expires 0 and No Other Contact");
			return false;
		}
		for (struct binding *b = a ? a->bindings : NULL; b; b = b->next) {
			if (slice_eq(slice_cstr(b->call_id), m->call_id) && m->cseq.num <= b->cseq) {
				result(res, 500, "Out-of-order CSeq");
				return false;
			}
		}
		*nops = 0;
		return true;
	}
	for (size_t k = 0; k < n; k++) {
		struct binding *b = a ? *binding_slot(a, ops[k].contact) : NULL;

		if (!b && (b = binding_of_device(a, ops[k].instance, ops[k].reg_id,
						 ops[k].contact)) != NULL) {
			/* the same device under another contact: take it over, or
			 * remove it (an unregister naming a contact built anew) */
			for (size_t j = 0; j < k; j++)
				if (ops[j].replaces == b->contact)
					b = NULL; /* another contact of this request has it */
			if (b)
				ops[k].replaces = b->contact;
		}

		if (ops[k].expires && ops[k].expires < r->conf.min_expires) {
			result(res, 423, "Interval Too Brief");
			res->min_expires = r->conf.min_expires;
			return false;
		}
		if (ops[k].expires > r->conf.max_expires)
			ops[k].expires = r->conf.max_expires;
		ops[k].exists = b != NULL;
		/* RFC 3261 10.3 step 7: same Call-ID needs a higher CSeq */
		if (b && slice_eq(slice_cstr(b->call_id), m->call_id) && m->cseq.num <= b->cseq) {
			result(res, 500, "Out-of-order CSeq");
			return false;
		}
	}
	*nops = n;
	return true;
}

static void queue_push(struct registrar *r, struct pending *p)
{
	p->next = NULL;
	*r->tail = p;
	r->tail = &p->next;
	r->npending++; /* bounded: registrar_register refuses past REGISTRAR_PENDING_MAX */
}

/* Queue a change: strings copied inline, in one allocation. */
static int queue(struct registrar *r, enum pending_op op, const struct registrar_req *q,
		 const struct reg_op *rop, const char *received, struct slice ua)
{
	const char *tp = net_transport_name(q->in->tp);
	struct slice parts[7] = { q->aor, rop ? rop->contact : SLICE_NULL,
				  slice_cstr(received), slice_cstr(tp), q->m->call_id, ua,
				  rop ? rop->instance : SLICE_NULL };
	const char **dst[7];
	size_t n = 0;
	struct pending *p;
	char *w;

	if (!r->store)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		n += parts[i].len + 1;
	p = malloc(sizeof(*p) + n);
	if (!p)
		return ENOMEM;
	p->op = op;
	p->user_id = q->user_id;
	p->expires_at = rop ? q->now + rop->expires : 0;
	p->cseq = q->m->cseq.num;
	p->q = rop ? rop->q : 0;
	p->reg_id = rop ? rop->reg_id : 0;
	dst[0] = &p->aor;
	dst[1] = &p->contact;
	dst[2] = &p->received;
	dst[3] = &p->transport;
	dst[4] = &p->call_id;
	dst[5] = &p->ua;
	dst[6] = &p->instance;
	w = p->data;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		*dst[i] = w;
		if (parts[i].len)
			memcpy(w, parts[i].p, parts[i].len);
		w += parts[i].len;
		*w++ = '\0';
	}
	queue_push(r, p);
	return 0;
}

/* Queue the deletion of one stored binding of a, outside any REGISTER. */
static int queue_delete(struct registrar *r, const struct aor *a, const char *contact)
{
	size_t al = a->len, cl = strlen(contact);
	struct pending *p;

	if (!r->store)
		return 0;
	p = calloc(1, sizeof(*p) + al + cl + 2);
	if (!p)
		return ENOMEM;
	p->op = PENDING_DELETE;
	p->user_id = a->user_id;
	memcpy(p->data, a->name, al);
	memcpy(p->data + al + 1, contact, cl);
	p->aor = p->data;
	p->contact = p->data + al + 1;
	p->received = p->transport = p->call_id = p->ua = p->instance = "";
	queue_push(r, p);
	return 0;
}

/* Copy a NUL-terminated string that fits (checked when queued) into a field. */
static void put_field(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int apply(struct registrar *r, const struct pending *p)
{
	struct store_reg *srp = r->scratch; /* a few KiB, owned by r */
	int64_t id;
	size_t n;
	int rc;

	switch (p->op) {
	case PENDING_DELETE:
		rc = store_regs_delete(r->store, p->aor, p->contact);
		return rc == ENOENT ? 0 : rc;
	case PENDING_DELETE_AOR:
		return store_regs_delete_aor(r->store, &n, p->aor);
	case PENDING_UPSERT:
		break;
	}
	srp->id = 0;
	srp->user_id = p->user_id;
	put_field(srp->aor, sizeof(srp->aor), p->aor);
	put_field(srp->contact, sizeof(srp->contact), p->contact);
	put_field(srp->received, sizeof(srp->received), p->received);
	put_field(srp->transport, sizeof(srp->transport), p->transport);
	srp->expires_at = p->expires_at;
	put_field(srp->call_id, sizeof(srp->call_id), p->call_id);
	srp->cseq = p->cseq;
	put_field(srp->user_agent, sizeof(srp->user_agent), p->ua);
	put_field(srp->instance, sizeof(srp->instance), p->instance);
	srp->q = p->q;
	srp->reg_id = p->reg_id;
	rc = store_regs_upsert(r->store, &id, srp);
	return rc == ENOENT ? 0 : rc; /* the user was deleted meanwhile */
}

/* Our last durable batch, by what the store says is durable. */
static uint64_t update_durable(struct registrar *r)
{
	return store_inflight_durable(&r->inflight, r->store ? store_durable_seq(r->store) : 0);
}

static void release(struct registrar *r)
{
	r->stats.released += reg_hold_release(r->hold, update_durable(r), r->send, r->send_arg);
}

bool registrar_is_durable(struct registrar *r, uint64_t seq)
{
	return seq <= update_durable(r);
}

/* Commit the queue as one batch. *kept tells whether the queue (and the
 * answers waiting on it) is still there for the next try. */
static int commit_batch(struct registrar *r, bool *kept)
{
	struct pending *batch = r->head;
	uint64_t seq = r->batch_k + 1, store_seq;
	int rc, first = 0;

	*kept = false;
	if (!r->store || !batch)
		return 0;
	if (store_inflight_full(&r->inflight)) {
		*kept = true; /* the store is that far behind making batches durable */
		return EBUSY;
	}
	rc = store_batch_begin(r->store);
	if (rc) {
		*kept = rc == EBUSY; /* another writer: keep all for the next tick */
		if (!*kept)
			goto failed;
		return rc;
	}
	while (batch) {
		rc = apply(r, batch);
		if (rc && !first)
			first = rc; /* one bad row does not lose the others */
		batch = batch->next;
	}
	/* the answers' notes (security events) just before the commit */
	(void)reg_hold_notes(r->hold, seq, r->note, r->send_arg);
	store_seq = store_batch_next_seq(r->store); /* the number this commit gets */
	rc = store_batch_end(r->store, true);
	if (rc == 0) {
		r->stats.batches++;
		r->batch_k = seq;
		store_inflight_push(&r->inflight, seq, store_seq);
		if (!first)
			goto out;
	}
	rc = rc ? rc : first;
failed:
	/* Nobody is told about a change that may not be stored. */
	r->stats.batch_failures++;
	r->stats.dropped += reg_hold_drop(r->hold, seq);
out:
	while (r->head) {
		struct pending *p = r->head;
		r->head = p->next;
		free(p);
	}
	r->tail = &r->head;
	r->npending = 0;
	return rc;
}

int registrar_flush(struct registrar *r)
{
	bool kept;
	int rc = commit_batch(r, &kept);

	release(r);
	return rc;
}

int registrar_hold(struct registrar *r, uint64_t seq, uint16_t status, const struct net_msg *way,
		   const struct net_addr *dst, const char *buf, size_t len, const void *note,
		   size_t note_len)
{
	int rc;

	if (!way || !dst || (!buf && len) || (!note && note_len))
		return EINVAL;
	if (seq == 0 || !r->store || registrar_is_durable(r, seq)) {
		if (r->send)
			r->send(r->send_arg, status, way, dst, buf, len, note, note_len);
		return 0;
	}
	rc = reg_hold_push(r->hold, seq, status, way, dst, buf, len, note, note_len);
	if (rc == 0)
		r->stats.held++;
	return rc;
}

void registrar_stats(const struct registrar *r, struct registrar_stats *out)
{
	*out = r->stats;
	out->holding = reg_hold_count(r->hold);
}

size_t registrar_pending(const struct registrar *r)
{
	return r->npending;
}

/* User-Agent as kept: printable ASCII only, bounded. */
static struct slice clean_ua(const struct sip_msg *m, char *buf, size_t cap)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_USER_AGENT);
	size_t n = 0;

	if (!h)
		return SLICE_NULL;
	for (size_t i = 0; i < h->value.len && n + 1 < cap; i++) {
		unsigned char c = (unsigned char)h->value.p[i];
		buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	return slice_make(buf, n);
}

int registrar_register(struct registrar *r, const struct registrar_req *q,
		       struct registrar_result *res)
{
	struct reg_op ops[REG_REQ_CONTACTS_MAX];
	struct aor *a = aor_find(r, q->aor);
	char received[STORE_RECEIVED_MAX], ua_buf[REG_UA_MAX];
	struct slice ua = clean_ua(q->m, ua_buf, sizeof(ua_buf));
	size_t nops = 0, adds = 0, removes = 0, queued0 = r->npending;
	bool star;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	result(res, 200, "OK");
	/* A full batch is committed before this request's changes join the
	 * queue, so that they, and the answer and event that wait for them,
	 * always go in a later batch (a failure here is the batch's, not this
	 * request's: registrar_flush says the same at the next tick). */
	if (r->store && r->conf.batch_max && r->npending >= r->conf.batch_max) {
		uint64_t before = r->stats.batches;
		bool kept;
		(void)commit_batch(r, &kept);
		r->stats.batches_full += r->stats.batches - before;
		release(r);
		queued0 = r->npending;
	}
	if (!plan(r, q, a, ops, &nops, &star, res))
		goto out;
	for (size_t k = 0; k < nops; k++) {
		adds += ops[k].expires && !ops[k].exists;
		removes += !ops[k].expires && ops[k].exists;
	}
	if (star)
		removes = a ? a->count : 0;
	if ((a ? a->count : 0) + adds - removes > r->conf.max_contacts) {
		result(res, 403, "Too Many Contacts");
		goto out;
	}
	if (r->nbindings + adds - removes > r->conf.max_bindings && adds > removes) {
		result(res, 503, "Registrar Full");
		goto out;
	}
	/* The store is behind: refuse rather than queue without bound (the
	 * phone retries after Retry-After). */
	if (r->store && r->npending + nops + (star ? 1 : 0) >
			       (r->conf.queue_max ? r->conf.queue_max : REGISTRAR_PENDING_MAX)) {
		r->stats.refused_full++;
		result(res, 503, "Registrar Busy");
		goto out;
	}
	/* The shared store cannot take these writes now (PostgreSQL away and its
	 * queue full): refuse rather than acknowledge what would not be kept. */
	if (r->store && !store_write_room(r->store, r->npending + nops + (star ? 1 : 0))) {
		r->stats.refused_full++;
		result(res, 503, "Location Store Unavailable");
		goto out;
	}

	net_addr_fmt(received, sizeof(received), q->in->tp, &q->in->src);
	if (star) {
		if (a && (rc = queue(r, PENDING_DELETE_AOR, q, NULL, received, ua)) != 0)
			goto out;
		while (a && a->bindings)
			binding_remove(r, a, &a->bindings);
		res->removed = (uint32_t)removes;
	}
	for (size_t k = 0; k < nops; k++) {
		const struct reg_op *op = &ops[k];

		if (!op->expires && !op->exists)
			continue;
		if (op->replaces) {
			/* the device's old binding goes, whatever happens to the new */
			struct binding **old = binding_slot(a, slice_cstr(op->replaces));

			if ((rc = queue_delete(r, a, op->replaces)) != 0)
				goto out;
			binding_remove(r, a, old);
			res->removed++;
			if (!op->expires)
				continue;
		}
		rc = queue(r, op->expires ? PENDING_UPSERT : PENDING_DELETE, q, op, received, ua);
		if (rc)
			goto out;
		if (!a && !(a = aor_get(r, q->aor, q->user_id))) {
			rc = ENOMEM;
			goto out;
		}
		if (!op->expires) {
			binding_remove(r, a, binding_slot(a, op->contact));
			res->removed++;
			continue;
		}
		if (op->reg_id)
			res->outbound_reg = true;
		struct binding *b = binding_new(op->contact, q->m->call_id, ua, op->instance, received);
		if (!b) {
			rc = ENOMEM;
			goto out;
		}
		b->expires_at = q->now + op->expires;
		b->cseq = q->m->cseq.num;
		b->q = op->q;
		b->reg_id = op->reg_id;
		b->way = *q->in;
		b->way.buf = NULL;
		b->way.len = 0;
		if (op->exists && !op->replaces)
			res->refreshed++;
		else
			res->added++;
		binding_put(r, a, b);
	}
out:
	if (a) {
		res->count = a->count;
		aor_drop_if_empty(r, a);
	}
	if (rc == 0 && r->store && r->npending > queued0 && !r->conf.write_behind) {
		/* the answer waits for the batch these changes go in: committed
		 * at the tick, or when the next request finds batch_max waiting */
		res->seq = r->batch_k + 1;
	}
	if (rc) {
		res->seq = 0;
		result(res, 500, "Registrar Storage Failure");
	}
	return rc;
}

void registrar_print_contacts(const struct registrar *r, struct slice aor, int64_t now,
			      struct sip_buf *b)
{
	struct aor *a = aor_find(r, aor);

	for (struct binding *x = a ? a->bindings : NULL; x; x = x->next) {
		if (x->expires_at <= now)
			continue;
		sip_buf_str(b, "Contact: <");
		sip_buf_str(b, x->contact);
		sip_buf_str(b, ">;expires=");
		sip_buf_u32(b, (uint32_t)(x->expires_at - now));
		sip_buf_str(b, "\r\n");
	}
}

bool registrar_flow_find(const struct registrar *r, struct slice aor, const char *want,
			 const char *received, struct reg_flow *out)
{
	struct aor *a = aor_find(r, aor);
	const struct binding *best = NULL;
	bool best_alive = false;

	memset(out, 0, sizeof(*out));
	if (want && !want[0])
		want = NULL; /* not known */
	for (const struct binding *x = a ? a->bindings : NULL; x; x = x->next) {
		bool alive = x->way.tp != NET_UDP && net_msg_conn_alive(&x->way);

		if (!want ? strcmp(x->received, received) != 0
		    : strncmp(want, "i:", 2) == 0 ? strcmp(x->instance, want + 2) != 0
		    : strncmp(want, "c:", 2) == 0 ? strcmp(x->contact, want + 2) != 0
						   : true)
			continue;
		if (best && (best_alive || !alive))
			continue; /* the first live flow wins */
		best = x;
		best_alive = alive;
	}
	if (!best)
		return false;
	out->way = best->way;
	out->alive = best_alive;
	base_strcpy(out->contact, sizeof(out->contact), best->contact);
	base_strcpy(out->key, sizeof(out->key), best->instance[0] ? "i:" : "c:");
	base_strcpy(out->key + 2, sizeof(out->key) - 2,
		    best->instance[0] ? best->instance : best->contact);
	return true;
}

size_t registrar_lookup(const struct registrar *r, struct slice aor, registrar_binding_fn *fn,
			void *arg)
{
	struct aor *a = aor_find(r, aor);
	size_t n = 0;

	for (struct binding *x = a ? a->bindings : NULL; x; x = x->next, n++) {
		struct reg_binding_view v = { x->contact, x->call_id, x->user_agent, x->instance,
					      x->received, x->expires_at, x->cseq, x->q, &x->way };
		if (fn)
			fn(arg, &v);
	}
	return n;
}
