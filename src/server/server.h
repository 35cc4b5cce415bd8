/*
 * server: the dispatcher. It owns the event loop (net/) and the objects of
 * the other layers, receives every message, runs the guard, parses (sip/),
 * hands requests to the transaction layer, decides (policy_route), and
 * routes: REGISTER through the one authentication step (auth.c) to the
 * registrar (register.c), other requests through admission (call.c: the
 * same authentication step with 407, identity policy, targets) to the proxy
 * core (proxy/); a trunk peer's request, a call to an outside number and an
 * emergency call go through trunk/'s and emerg/'s decisions (trunk.c,
 * emerg.c) to the same core. OPTIONS outside a dialog is answered 200 here; other methods
 * get 405 or 501, a malformed request 400 with a reason phrase naming the
 * fault (when Via, From, To, Call-ID and CSeq can be read; dropped otherwise).
 * It counts everything it refused or dropped (server_get_stats).
 */
#ifndef BASTION_SERVER_H
#define BASTION_SERVER_H

#include <signal.h>

#include "../auth/auth.h"
#include "../conf/conf.h"
#include "../sip/sip.h"

/* Counters of everything the server refused or dropped. */
#define SERVER_METHODS (SIP_M_UPDATE + 1)
struct server_stats {
	uint64_t received;
	uint64_t requests[SERVER_METHODS][3]; /* parsed requests by method and transport */
	uint64_t answered[7];               /* by status class, 1xx..6xx at [1..6] */
	uint64_t refused[SIP_E__COUNT];     /* malformed requests answered, by error */
	uint64_t dropped_malformed;         /* malformed, too broken to answer */
	uint64_t dropped_responses;         /* stray responses (no transaction) */
	uint64_t dropped_ack;
	uint64_t dropped_banned;            /* from a banned source, before parsing */
	uint64_t dropped_rate;              /* over the source's budget, before parsing */
	uint64_t dropped_scanner;           /* scanner fingerprints */
	uint64_t shed;                      /* new requests answered 503: overload */
	uint64_t bans, bans_unsaved;        /* bans started; not written to the store */
	struct auth_nc_stats nonces;        /* the nonce-count replay table's counters */
};

struct server;

/* Create the server for state directory `state`: open the store, the nonce
 * key, the credential cache, restore bindings, then the event loop and its
 * listeners, per c. Returns 0, or an errno with err naming what failed (e.g.
 * an address already in use, or a missing nonce key). */
int server_new(struct server **sp, const struct conf *c, const char *state, char *err,
	       size_t errlen);
void server_free(struct server **sp);

/* Run until *stop. Each time *reload is set (SIGHUP), re-read conf_path:
 * a good file replaces the running configuration (except the settings only
 * a restart changes, conf_reload_merge's, each group's change logged as a
 * warning), a bad one is refused with its error logged and the old
 * configuration kept. Returns 0 or a fatal errno. */
int server_run(struct server *s, const char *conf_path, volatile sig_atomic_t *stop,
	       volatile sig_atomic_t *reload);

void server_get_stats(const struct server *s, struct server_stats *out);

#endif
