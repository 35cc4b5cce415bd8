/*
 * auth internals shared between the files of the layer: the decoded form
 * of a nonce, which the replay table keys on.
 */
#ifndef BASTION_AUTH_INTERNAL_H
#define BASTION_AUTH_INTERNAL_H

#include "auth.h"

#define AUTH_NONCE_RAW 32       /* time 8 | random 8 | tag 16 */
#define AUTH_NONCE_TAG 16

struct auth_nonce_raw {
	uint64_t created;
	uint8_t rnd[8];
	uint8_t tag[AUTH_NONCE_TAG];
};

/* Decode the base64url form strictly (length, alphabet, canonical final
 * character). No key involved: the tag is not checked here. Returns 0 or
 * EBADMSG. */
int auth_nonce_decode(struct auth_nonce_raw *raw, struct slice nonce);

#endif
