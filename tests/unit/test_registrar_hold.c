/*
 * Unit tests of group commit (registrar/hold.c and registrar_flush): a
 * REGISTER's answer waits for the batch holding its change, goes out once
 * that batch is committed (and in order), never when the batch failed; a
 * full batch commits at once; a full queue refuses with 503. Real SQLite
 * files, and a second connection to make the store fail or stay locked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "registrar/registrar.h"
#include "store_tmp.h"

#define AOR "sip:1001@example.test"

static struct sip_hdr hdrs[64];
static struct sip_msg m;
static char buf[4096];
static struct net_msg src;
static struct net_addr dst;

/* What the sender saw, in order: the answer, and the note with it. */
static char sent[16][64], notes[16][64];
static size_t nsent;

static void sender(void *arg, uint16_t status, const struct net_msg *way,
		   const struct net_addr *to, const char *b, size_t len, const void *note,
		   size_t note_len)
{
	(void)arg;
	(void)way;
	(void)to;
	(void)status;
	if (nsent < ARRAY_SIZE(sent)) {
		snprintf(sent[nsent], sizeof(sent[0]), "%.*s", (int)len, b);
		snprintf(notes[nsent], sizeof(notes[0]), "%.*s", (int)note_len,
			 note_len ? (const char *)note : "");
	}
	nsent++;
}

/* Notes given before the commit, and whether the batch was stored then. */
static char noted[16][64];
static size_t nnoted;

static void noter(void *arg, const void *note, size_t len)
{
	(void)arg;
	if (nnoted < ARRAY_SIZE(noted))
		snprintf(noted[nnoted], sizeof(noted[0]), "%.*s", (int)len, (const char *)note);
	nnoted++;
}

static void setup_src(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&src.src.ss;

	memset(&src, 0, sizeof(src));
	src.tp = NET_UDP;
	src.udp_fd = -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	src.src.len = sizeof(*sin);
	dst = src.src;
	nsent = 0;
	nnoted = 0;
}

/* ---- the list on its own ---------------------------------------------------- */

static void list_order_release_drop(void)
{
	struct reg_hold *h = NULL;

	setup_src();
	CHECK_INT(reg_hold_new(&h, 0), EINVAL);
	CHECK_INT(reg_hold_new(&h, 4), 0);
	CHECK_INT(reg_hold_push(h, 0, 200, &src, &dst, "x", 1, NULL, 0), EINVAL);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, "a1", 2, "note-a1", 7), 0);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, "b1", 2, NULL, 0), 0);
	CHECK_INT(reg_hold_push(h, 2, 200, &src, &dst, "c2", 2, NULL, 0), 0);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, "late", 4, NULL, 0), EINVAL); /* numbers only grow */
	CHECK_INT(reg_hold_push(h, 3, 200, &src, &dst, "d3", 2, NULL, 0), 0);
	CHECK_INT(reg_hold_push(h, 3, 200, &src, &dst, "e3", 2, NULL, 0), EOVERFLOW); /* max 4 */
	CHECK_INT(reg_hold_count(h), 4);
	CHECK_INT(reg_hold_bytes(h), 15); /* answers and notes */

	/* batch 1's notes, once; its answers then go without them */
	CHECK_INT(reg_hold_notes(h, 1, noter, NULL), 1);
	CHECK_INT(reg_hold_notes(h, 1, noter, NULL), 0);
	CHECK_INT(nnoted, 1);
	CHECK(strcmp(noted[0], "note-a1") == 0);
	/* nothing durable yet */
	CHECK_INT(reg_hold_release(h, 0, sender, NULL), 0);
	/* batch 1 durable: its two answers, in order */
	CHECK_INT(reg_hold_release(h, 1, sender, NULL), 2);
	CHECK_INT(nsent, 2);
	CHECK(strcmp(sent[0], "a1") == 0 && strcmp(sent[1], "b1") == 0);
	CHECK(strcmp(notes[0], "") == 0 && strcmp(notes[1], "") == 0);
	/* batch 3 failed: its answer is forgotten, batch 2's stays */
	CHECK_INT(reg_hold_drop(h, 3), 1);
	CHECK_INT(reg_hold_count(h), 1);
	/* a later batch may reuse the failed number */
	CHECK_INT(reg_hold_push(h, 3, 200, &src, &dst, "f3", 2, "note-f3", 7), 0);
	CHECK_INT(reg_hold_release(h, 10, sender, NULL), 2);
	CHECK_INT(nsent, 4);
	CHECK(strcmp(sent[2], "c2") == 0 && strcmp(sent[3], "f3") == 0);
	CHECK(strcmp(notes[3], "note-f3") == 0);
	CHECK_INT(reg_hold_count(h), 0);
	CHECK_INT(reg_hold_bytes(h), 0);
	/* an empty list takes entries again from the head */
	CHECK_INT(reg_hold_push(h, 11, 200, &src, &dst, "g", 1, NULL, 0), 0);
	CHECK_INT(reg_hold_drop(h, 0), 1);
	CHECK_INT(reg_hold_push(h, 12, 200, &src, &dst, "h", 1, NULL, 0), 0);
	reg_hold_free(&h); /* frees what is held */
	CHECK(h == NULL);
}

/* The bytes held are bounded too: max * REG_HOLD_AVG_MAX. */
static void list_byte_bound(void)
{
	static char big[3 * REG_HOLD_AVG_MAX];
	struct reg_hold *h = NULL;

	setup_src();
	memset(big, 'x', sizeof(big));
	CHECK_INT(reg_hold_new(&h, 2), 0);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, big, 2 * REG_HOLD_AVG_MAX + 1, NULL, 0),
		  EOVERFLOW);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, big, REG_HOLD_AVG_MAX, "n", 1), 0);
	CHECK_INT(reg_hold_bytes(h), REG_HOLD_AVG_MAX + 1);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, big, REG_HOLD_AVG_MAX, NULL, 0),
		  EOVERFLOW);
	CHECK_INT(reg_hold_push(h, 1, 200, &src, &dst, big, REG_HOLD_AVG_MAX - 1, NULL, 0), 0);
	CHECK_INT(reg_hold_notes(h, 1, NULL, NULL), 1); /* the note's byte is given back */
	CHECK_INT(reg_hold_bytes(h), 2 * REG_HOLD_AVG_MAX - 1);
	CHECK_INT(reg_hold_release(h, 1, NULL, NULL), 2);
	CHECK_INT(reg_hold_bytes(h), 0);
	reg_hold_free(&h);
}

/* ---- the registrar with a real store -------------------------------------------- */

static struct store *st;
static struct registrar *r;
static struct registrar_result res;
static char db[256];

static int msg(const char *contact, unsigned cseq)
{
	int n = snprintf(buf, sizeof(buf),
			 "REGISTER sip:example.test SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%u\r\n"
			 "From: <" AOR ">;tag=a\r\nTo: <" AOR ">\r\n"
			 "Call-ID: c1\r\nCSeq: %u REGISTER\r\n"
			 "Contact: <%s>\r\nExpires: 600\r\n"
			 "Content-Length: 0\r\n\r\n",
			 cseq, cseq, contact);
	return sip_msg_parse(&m, hdrs, 64, buf, (size_t)n, false, NULL);
}

static int64_t uid;

/* Register contact; the answer text is the contact, handed to registrar_hold. */
static int reg(const char *contact, unsigned cseq)
{
	struct registrar_req q = { &m, SLICE_LIT(AOR), uid, &src, 1000 };
	int rc;

	if (msg(contact, cseq) != 0)
		return -1;
	rc = registrar_register(r, &q, &res);
	if (rc)
		return rc;
	return registrar_hold(r, res.seq, res.status, &src, &dst, contact, strlen(contact), "ev",
			      2);
}

static int count_stored(void *arg, const struct store_reg *sr)
{
	(void)sr;
	(*(size_t *)arg)++;
	return 0;
}

static size_t stored(void)
{
	size_t n = 0;

	if (store_regs_list_aor(st, AOR, count_stored, &n) != 0)
		return (size_t)-1;
	return n;
}

static bool write_behind;

static int open_all(uint32_t batch_max, uint32_t queue_max)
{
	struct registrar_conf c = { .min_expires = 60, .max_expires = 3600,
				    .default_expires = 1800, .max_contacts = 10,
				    .max_bindings = 100, .batch_max = batch_max,
				    .queue_max = queue_max, .write_behind = write_behind };
	struct store_user u = { 0 };
	char err[256];

	registrar_free(&r); /* sends what the last case left held */
	store_close(&st);
	setup_src();
	if (store_open(&st, tmp_db(db, sizeof(db)), err, sizeof(err)) != 0)
		return -1;
	strcpy(u.name, "1001");
	strcpy(u.domain, "example.test");
	strcpy(u.cred.realm, "example.test");
	memset(u.cred.ha1_md5, 'a', STORE_HA1_MD5_LEN);
	u.enabled = true;
	if (store_users_add(st, &uid, &u) != 0 || registrar_new(&r, &c, st) != 0)
		return -1;
	registrar_set_sender(r, sender, noter, NULL);
	return 0;
}

static void answer_waits_for_commit(void)
{
	struct registrar_stats rs;

	CHECK_INT(open_all(0, 0), 0);
	CHECK_INT(store_durable_seq(st), 0);
	CHECK_INT(store_batch_next_seq(st), 1);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.seq, 1);
	CHECK_INT(reg("sip:b@192.0.2.1", 2), 0);
	CHECK_INT(res.seq, 1);
	/* held: not sent, not stored */
	CHECK_INT(nsent, 0);
	CHECK_INT(stored(), 0);
	CHECK_INT(registrar_pending(r), 2);
	/* the tick commits: stored first, then both answers, in order */
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(stored(), 2);
	CHECK_INT(store_durable_seq(st), 1);
	CHECK_INT(nsent, 2);
	CHECK(strcmp(sent[0], "sip:a@192.0.2.1") == 0);
	CHECK(strcmp(sent[1], "sip:b@192.0.2.1") == 0);
	/* the events were given before the commit, once, not with the answers */
	CHECK_INT(nnoted, 2);
	CHECK(strcmp(noted[0], "ev") == 0);
	CHECK(strcmp(notes[0], "") == 0);
	/* a REGISTER that changes nothing (a query) is answered at once */
	{
		struct registrar_req q = { &m, SLICE_LIT(AOR), uid, &src, 1000 };
		int n = snprintf(buf, sizeof(buf),
				 "REGISTER sip:example.test SIP/2.0\r\n"
				 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKq\r\n"
				 "From: <" AOR ">;tag=a\r\nTo: <" AOR ">\r\n"
				 "Call-ID: q\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n");
		CHECK_INT(sip_msg_parse(&m, hdrs, 64, buf, (size_t)n, false, NULL), 0);
		CHECK_INT(registrar_register(r, &q, &res), 0);
		CHECK_INT(res.status, 200);
		CHECK_INT(res.seq, 0);
		CHECK_INT(registrar_hold(r, res.seq, 200, &src, &dst, "query", 5, NULL, 0), 0);
		CHECK_INT(nsent, 3);
	}
	registrar_stats(r, &rs);
	CHECK_INT(rs.batches, 1);
	CHECK_INT(rs.held, 2);
	CHECK_INT(rs.released, 2);
	CHECK_INT(rs.dropped, 0);
	CHECK_INT(rs.holding, 0);
	/* a flush with nothing queued sends nothing more */
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(nsent, 3);
}

static void batch_max_commits_at_once(void)
{
	CHECK_INT(open_all(2, 0), 0);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(reg("sip:b@192.0.2.1", 2), 0);
	CHECK_INT(res.seq, 1);
	CHECK_INT(nsent, 0);
	CHECK_INT(registrar_pending(r), 2);
	/* the next REGISTER finds the batch full: it is committed first, and
	 * its answers go out without waiting for the tick; the new change
	 * goes in batch 2 */
	CHECK_INT(reg("sip:c@192.0.2.1", 3), 0);
	CHECK_INT(res.seq, 2);
	CHECK_INT(stored(), 2);
	CHECK_INT(nsent, 2);
	CHECK_INT(nnoted, 2); /* the events of batch 1, before its commit */
	CHECK(strcmp(sent[0], "sip:a@192.0.2.1") == 0);
	CHECK(strcmp(sent[1], "sip:b@192.0.2.1") == 0);
	CHECK_INT(registrar_pending(r), 1);
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(nsent, 3);
	CHECK_INT(stored(), 3);
}

static void failed_batch_answers_nobody(void)
{
	struct registrar_stats rs;
	sqlite3 *other = NULL;

	CHECK_INT(open_all(0, 0), 0);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(nsent, 0);
	/* the table disappears under the registrar: the batch's write fails */
	CHECK_INT(sqlite3_open(db, &other), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "DROP TABLE registrations", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	CHECK(registrar_flush(r) != 0);
	CHECK_INT(nsent, 0);
	CHECK_INT(nnoted, 1); /* recorded before the commit, whatever its rows did */
	registrar_stats(r, &rs);
	CHECK_INT(rs.batch_failures, 1);
	CHECK_INT(rs.dropped, 1);
	CHECK_INT(rs.holding, 0);
	CHECK_INT(registrar_pending(r), 0);
}

/* Another user of the store commits its own batch (the server's call
 * records): that says nothing about ours, whose answers keep waiting. */
static void foreign_batch_releases_nothing(void)
{
	CHECK_INT(open_all(0, 0), 0);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(res.seq, 1);
	CHECK_INT(store_batch_begin(st), 0);
	CHECK_INT(store_batch_end(st, true), 0);
	CHECK_INT(store_durable_seq(st), 1);
	CHECK(!registrar_is_durable(r, 1));
	CHECK_INT(reg("sip:b@192.0.2.1", 2), 0);
	CHECK_INT(res.seq, 1);
	CHECK_INT(nsent, 0);
	CHECK_INT(stored(), 0);
	CHECK_INT(registrar_flush(r), 0);
	CHECK(registrar_is_durable(r, 1));
	CHECK_INT(nsent, 2);
	CHECK_INT(stored(), 2);
}

static void locked_store_keeps_answers(void)
{
	sqlite3 *other = NULL;

	CHECK_INT(open_all(0, 0), 0);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	/* another writer holds the database (the busy timeout passes) */
	CHECK_INT(sqlite3_open(db, &other), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(registrar_flush(r), EBUSY);
	CHECK_INT(nsent, 0);
	CHECK_INT(registrar_pending(r), 1);
	CHECK_INT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	/* the next tick commits and answers */
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(nsent, 1);
	CHECK_INT(stored(), 1);
}

static void full_queue_refuses(void)
{
	struct registrar_stats rs;

	CHECK_INT(open_all(0, 2), 0);
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(reg("sip:b@192.0.2.1", 2), 0);
	CHECK_INT(res.status, 200);
	/* queue_max 2 changes wait: the third REGISTER is refused, unchanged */
	CHECK_INT(reg("sip:c@192.0.2.1", 3), 0);
	CHECK_INT(res.status, 503);
	CHECK_INT(res.seq, 0);
	CHECK_INT(registrar_lookup(r, SLICE_LIT(AOR), NULL, NULL), 2);
	CHECK_INT(nsent, 1); /* the 503, at once */
	registrar_stats(r, &rs);
	CHECK_INT(rs.refused_full, 1);
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(nsent, 3);
	/* room again */
	CHECK_INT(reg("sip:c@192.0.2.1", 4), 0);
	CHECK_INT(res.status, 200);
}

/* durability = none: the old write-behind, answered before the commit */
static void write_behind_answers_at_once(void)
{
	write_behind = true;
	CHECK_INT(open_all(0, 0), 0);
	write_behind = false;
	CHECK_INT(reg("sip:a@192.0.2.1", 1), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.seq, 0);
	CHECK_INT(nsent, 1);
	CHECK_INT(stored(), 0); /* not yet: a crash now would lose it */
	CHECK_INT(registrar_flush(r), 0);
	CHECK_INT(stored(), 1);
}

static void durability_setting(void)
{
	CHECK_INT(open_all(0, 0), 0);
	CHECK_INT(store_set_durability(st, STORE_DURABLE_POWER), 0);
	CHECK_INT(store_set_durability(st, STORE_DURABLE_PROCESS), 0);
	CHECK_INT(store_set_durability(st, (enum store_durability)7), EINVAL);
	CHECK_INT(store_set_durability(NULL, STORE_DURABLE_POWER), EINVAL);
	/* a rolled-back batch takes no number */
	CHECK_INT(store_batch_begin(st), 0);
	CHECK_INT(store_batch_end(st, false), 0);
	CHECK_INT(store_batch_next_seq(st), 1);
	CHECK_INT(store_batch_begin(st), 0);
	CHECK_INT(store_batch_end(st, true), 0);
	CHECK_INT(store_batch_next_seq(st), 2);
	CHECK_INT(store_durable_seq(st), 1);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(list_order_release_drop),	   CASE(list_byte_bound),
		CASE(answer_waits_for_commit),
		CASE(batch_max_commits_at_once),   CASE(failed_batch_answers_nobody),
		CASE(foreign_batch_releases_nothing),
		CASE(locked_store_keeps_answers), CASE(full_queue_refuses),
		CASE(write_behind_answers_at_once), CASE(durability_setting),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("registrar_hold", cases, ARRAY_SIZE(cases), argc, argv);
	registrar_free(&r);
	store_close(&st);
	tmp_cleanup();
	return rc;
}
