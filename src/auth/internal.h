/*
 * auth internals shared between the files of the layer: the decoded form
 * of a nonce, and the replay table's sequence numbers, which nonces carry.
 * Unit tests use the sequence-level calls to simulate millions of nonces
 * without computing an HMAC for each.
 */
#ifndef BASTION_AUTH_INTERNAL_H
#define BASTION_AUTH_INTERNAL_H

#include "auth.h"

#define AUTH_NONCE_RAW 36       /* time 8 | epoch 4 | sequence 8 | tag 16 */
#define AUTH_NONCE_TAG 16

struct auth_nonce_raw {
	uint64_t created;
	uint32_t epoch;         /* of the table that issued it (auth_nc_table_set_epoch) */
	uint64_t seq;           /* issued by the replay table (auth_nc_issue) */
	uint8_t tag[AUTH_NONCE_TAG];
};

/* Decode the base64url form strictly (length, alphabet, canonical final
 * character). No key involved: the tag is not checked here. Returns 0 or
 * EBADMSG. */
int auth_nonce_decode(struct auth_nonce_raw *raw, struct slice nonce);

/*
 * The next sequence number of table t, for a new nonce. Its position in the
 * window becomes "issued, never answered"; the nonce `window` numbers older,
 * which held that position, is outside the window from now on. O(1).
 */
uint64_t auth_nc_issue(struct auth_nc_table *t);

/*
 * auth_nc_use() for a nonce already decoded to its sequence number: OK
 * (recorded) when nc is above every count accepted for seq, REPLAY when it
 * is not, UNKNOWN when nc is 0, seq was not issued by t, has left the
 * window, or its count was evicted from the reuse table. O(AUTH_NC_WAYS).
 */
enum auth_nc_status auth_nc_use_seq(struct auth_nc_table *t, uint64_t seq, uint32_t nc);

#endif
