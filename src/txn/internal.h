/*
 * txn/internal.h: what the files of the transaction layer share. layer.c owns
 * the table (a seeded SipHash table of matching keys), the timer heap, the
 * layer and the dispatch of received messages; server.c and client.c the two
 * kinds of state machines (RFC 3261 17.2 and 17.1).
 */
#ifndef BASTION_TXN_INTERNAL_H
#define BASTION_TXN_INTERNAL_H

#include "txn.h"

enum txn_state {
	TXN_S_TRYING = 0,   /* non-INVITE server and client: no response yet */
	TXN_S_CALLING,      /* INVITE client: no response yet */
	TXN_S_PROCEEDING,   /* a provisional response sent / received */
	TXN_S_COMPLETED,    /* a final response: waiting for retransmissions */
	TXN_S_CONFIRMED,    /* INVITE server: the ACK came */
	TXN_S_ACCEPTED,     /* INVITE client, RFC 6026: a 2xx came, timer M runs */
	TXN_S_TERMINATED,   /* out of the table; freed at the next tick */
};

/* The two timers a transaction may hold: RETX is A, E or G; END is every
 * timer that ends a state (B D F H I J K M, the CANCEL guard of 9.1) and
 * the "free me" mark of a terminated transaction. */
enum { TXN_T_RETX = 0, TXN_T_END = 1 };

struct txn;

struct txn_timer {
	uint64_t due;
	uint64_t seq;           /* insertion order: ties fire first-in first */
	uint32_t idx;           /* position in the heap, UINT32_MAX when idle */
	uint8_t slot;
	struct txn *t;
};

/* What server and client transactions have in common (first member of both). */
struct txn {
	struct txn_layer *l;
	struct htab_node hnode;         /* l->table (base/hash), keyed by key */
	struct txn *prev, *next;        /* every transaction of the layer */
	bool server, invite, reliable, linked, internal;
	enum txn_state state;
	struct txn_timer tm[2];
	uint32_t retx_ivl;              /* current A/E/G interval */
	struct txn_peer peer;
	void *user;
	char *key;                      /* matching key bytes (see layer.c) */
	size_t key_len;
	bool legacy;                    /* matched by the RFC 2543 rules (17.2.3) */
};

/* The request of a server transaction, parsed (txn_server_request): one
 * allocation, made only for the transactions whose user asks. */
struct txn_server_parse {
	struct sip_msg msg;
	struct sip_hdr hdrs[];          /* exactly the request's header count */
};

struct txn_server {
	struct txn t;
	char *req;                      /* copy of the request bytes */
	size_t req_len;
	struct slice to_tag;            /* the request's To tag, in req (or tag_mem once
					   req is released) */
	uint32_t nhdrs;                 /* the request's header count */
	struct txn_server_parse *parse; /* parsed from req on first use, else NULL */
	char *resp;                     /* last response sent, for retransmission */
	size_t resp_len;
	uint16_t status;                /* of the last response, 0 for none */
	struct slice resp_tag;          /* To tag of the last response (in resp or tag_mem) */
	char tag_mem[64];               /* a tag the user named (txn_server_respond_tag) */
};

struct txn_client {
	struct txn t;
	char *req;                      /* copy of the request bytes */
	size_t req_len;
	char *ack;                      /* INVITE: the ACK for a non-2xx final */
	size_t ack_len;
	bool cancel_wanted, cancel_sent, got_provisional;
};

struct txn_layer {
	struct txn_conf conf;
	struct txn_ops ops;
	void *arg;
	struct sip_limits lim;          /* for parsing copies of messages */
	struct htab table;              /* base/hash, keyed SipHash: peers choose branches */
	struct txn *all;                /* every transaction, for txn_layer_free */
	struct txn_timer **heap;
	uint32_t heap_len, heap_cap;
	uint64_t timer_seq;
	struct sip_hdr *scratch;        /* header array for transient parses */
	uint32_t scratch_cap;
	char *kbuf;                     /* key under construction */
	size_t kbuf_cap;
	struct txn_stats stats;
	bool shed;                      /* txn_layer_shed(): refuse new dialog-less requests */
	bool priority;                  /* txn_layer_priority(): the reserve is open */
};

/* ---- layer.c ------------------------------------------------------------ */

/* Parse a copy we hold (already accepted once, or built by the user) into
 * hdrs[0..cap); limits are relaxed to the header count. */
int txn_parse_copy(struct sip_msg *m, struct sip_hdr *hdrs, uint32_t cap, const char *buf,
		   size_t len);
/* Parse into the layer's scratch header array (valid until the next call). */
int txn_parse_scratch(struct txn_layer *l, struct sip_msg *m, const char *buf, size_t len);

bool txn_room(const struct txn_layer *l);
/* Make room in the timer heap for one more transaction: 0 or ENOMEM. */
int txn_reserve(struct txn_layer *l);
/* Link t into the layer: allocate nothing more, insert in the list and, with
 * a key, in the table. t->key is owned by t from now on. */
void txn_attach(struct txn_layer *l, struct txn *t);
/* Leave the table (no more matching) and schedule the free + ops->terminated
 * for the next txn_tick. Idempotent. */
void txn_end(struct txn *t, uint64_t now_ms);
/* Move t to state st, keeping txn_stats.settled: a transaction that has
 * its final response and only absorbs retransmissions (or is ending). */
void txn_set_state(struct txn *t, enum txn_state st);

void txn_timer_set(struct txn *t, int slot, uint64_t due);
void txn_timer_stop(struct txn *t, int slot);

int txn_send(struct txn *t, const char *buf, size_t len);

/* Keys. Each builds into the layer's key buffer; NULL on ENOMEM. */
struct slice txn_key_server(struct txn_layer *l, const struct sip_msg *m, struct slice method,
			    bool *legacy);
struct slice txn_key_client(struct txn_layer *l, struct slice method, struct slice branch);
/* The transaction with this key. With tag (RFC 2543 keys), a server
 * transaction must also agree on the To tag: its request's, or for an ACK
 * (ack true) the tag of the response it sent. */
struct txn *txn_lookup(struct txn_layer *l, struct slice key, const struct slice *tag, bool ack);
/* Duplicate the key for a transaction. */
char *txn_key_dup(struct slice key);

static inline struct txn_server *txn_to_server(struct txn *t)
{
	return (struct txn_server *)t;
}

static inline struct txn_client *txn_to_client(struct txn *t)
{
	return (struct txn_client *)t;
}

/* ---- server.c ----------------------------------------------------------- */

enum txn_recv txn_server_receive(struct txn_layer *l, const struct sip_msg *m,
				 const struct txn_peer *from, uint64_t now_ms);
void txn_server_timer(struct txn_server *st, int slot, uint64_t now_ms);
void txn_server_destroy(struct txn_server *st);

/* ---- client.c ----------------------------------------------------------- */

enum txn_recv txn_client_receive(struct txn_layer *l, const struct sip_msg *m,
				 uint64_t now_ms);
void txn_client_timer(struct txn_client *ct, int slot, uint64_t now_ms);
void txn_client_destroy(struct txn_client *ct);

#endif
