/*
 * Unit tests of registrar/: each branch of REGISTER processing (RFC 3261
 * 10.3) on parsed messages, with time given by the test; persistence and
 * restore through a real SQLite file.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

#include <errno.h>
#include "registrar/registrar.h"

#define AOR "sip:1001@example.test"

static struct registrar_conf conf = { .min_expires = 60, .max_expires = 3600,
				      .default_expires = 1800, .max_contacts = 3,
				      .max_bindings = 5 };
static struct sip_hdr hdrs[64];
static struct sip_msg m;
static char buf[4096];
static struct net_msg src;
static struct registrar *r;
static struct registrar_result res;

/* Parse a REGISTER with the given Call-ID, CSeq, extra header lines. */
static int msg(const char *call_id, unsigned cseq, const char *extra)
{
	int n = snprintf(buf, sizeof(buf),
			 "REGISTER sip:example.test SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%u\r\n"
			 "From: <" AOR ">;tag=a\r\nTo: <" AOR ">\r\n"
			 "Call-ID: %s\r\nCSeq: %u REGISTER\r\n%s"
			 "Content-Length: 0\r\n\r\n",
			 cseq, call_id, cseq, extra);
	return sip_msg_parse(&m, hdrs, 64, buf, (size_t)n, false, NULL);
}

static int do_register(const char *call_id, unsigned cseq, const char *extra, int64_t now)
{
	struct registrar_req q = { &m, SLICE_LIT(AOR), 1, &src, now };

	if (msg(call_id, cseq, extra) != 0)
		return -1;
	return registrar_register(r, &q, &res);
}

static size_t count(void)
{
	return registrar_lookup(r, SLICE_LIT(AOR), NULL, NULL);
}

static void setup(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&src.src.ss;

	memset(&src, 0, sizeof(src));
	src.tp = NET_UDP;
	src.udp_fd = -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	src.src.len = sizeof(*sin);
	registrar_free(&r);
	registrar_new(&r, &conf, NULL);
}

static void add_refresh_remove(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1>\r\nExpires: 600\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.added, 1);
	CHECK_INT(count(), 1);
	CHECK_INT(do_register("c1", 2, "Contact: <sip:1001@192.0.2.1>;expires=900\r\n", 1010), 0);
	CHECK_INT(res.refreshed, 1);
	CHECK_INT(res.added, 0);
	CHECK_INT(do_register("c1", 3, "Contact: <sip:1001@192.0.2.1>;expires=0\r\n", 1020), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.removed, 1);
	CHECK_INT(count(), 0);
}

static void default_and_clamped_expiry(void)
{
	char out[512];
	struct sip_buf b;

	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1>\r\n", 1000), 0);
	sip_buf_init(&b, out, sizeof(out));
	registrar_print_contacts(r, SLICE_LIT(AOR), 1000, &b);
	CHECK(strstr(out, ";expires=1800\r\n") != NULL); /* default_expires */
	CHECK_INT(do_register("c1", 2, "Contact: <sip:1001@192.0.2.1>\r\nExpires: 99999\r\n", 1000), 0);
	sip_buf_init(&b, out, sizeof(out));
	registrar_print_contacts(r, SLICE_LIT(AOR), 1000, &b);
	CHECK(strstr(out, ";expires=3600\r\n") != NULL); /* max_expires */
}

static void too_brief_423(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1>;expires=59\r\n", 1000), 0);
	CHECK_INT(res.status, 423);
	CHECK_INT(res.min_expires, 60);
	CHECK_INT(count(), 0);
	/* 0 is a removal, not "too brief" */
	CHECK_INT(do_register("c1", 2, "Contact: <sip:1001@192.0.2.1>;expires=0\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
}

static void wildcard(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1>, <sip:1001@192.0.2.2>\r\n", 1000), 0);
	CHECK_INT(count(), 2);
	CHECK_INT(do_register("c2", 1, "Contact: *\r\n", 1000), 0);
	CHECK_INT(res.status, 400); /* no Expires: 0 */
	CHECK_INT(do_register("c2", 1, "Contact: *\r\nExpires: 10\r\n", 1000), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c2", 1, "Contact: *, <sip:1001@192.0.2.3>\r\nExpires: 0\r\n", 1000), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(count(), 2);
	/* same Call-ID as the bindings, but an old CSeq: refused */
	CHECK_INT(do_register("c1", 1, "Contact: *\r\nExpires: 0\r\n", 1000), 0);
	CHECK_INT(res.status, 500);
	CHECK_INT(do_register("c1", 2, "Contact: *\r\nExpires: 0\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.removed, 2);
	CHECK_INT(count(), 0);
}

static void cseq_order(void)
{
	setup();
	CHECK_INT(do_register("c1", 5, "Contact: <sip:1001@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(do_register("c1", 5, "Contact: <sip:1001@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(res.status, 500);
	CHECK_INT(do_register("c1", 4, "Contact: <sip:1001@192.0.2.1>;expires=0\r\n", 1000), 0);
	CHECK_INT(res.status, 500);
	CHECK_INT(count(), 1);
	/* another Call-ID (a rebooted phone) may update whatever its CSeq */
	CHECK_INT(do_register("c9", 1, "Contact: <sip:1001@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.refreshed, 1);
}

static void per_aor_cap(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.1>, <sip:c@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(do_register("c1", 2, "Contact: <sip:d@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(res.status, 403);
	CHECK_INT(count(), 3);
	/* replacing one within the cap in one request is fine */
	CHECK_INT(do_register("c1", 3, "Contact: <sip:d@192.0.2.1>, <sip:a@192.0.2.1>;expires=0\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(count(), 3);
}

static void total_cap(void)
{
	struct registrar_req q = { &m, SLICE_LIT("sip:1002@example.test"), 2, &src, 1000 };

	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.1>, <sip:c@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(msg("c2", 1, "Contact: <sip:x@192.0.2.9>, <sip:y@192.0.2.9>, <sip:z@192.0.2.9>\r\n"), 0);
	CHECK_INT(registrar_register(r, &q, &res), 0);
	CHECK_INT(res.status, 503); /* 3 + 3 > max_bindings 5 */
	size_t aors, bindings;
	registrar_counts(r, &aors, &bindings);
	CHECK_INT(bindings, 3);
	CHECK_INT(aors, 1);
}

static void bad_contacts(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <tel:+15551234>\r\n", 1000), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c1", 2, "Contact: <sip:1001@192.0.2.1>;q=2\r\n", 1000), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c1", 3, "Contact: <sip:1001@192.0.2.1;q=0.5\r\n", 1000), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c1", 4, "Contact: <sip:1001@192.0.2.1>;q=0.5\r\n", 1000), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(count(), 1);
}

static void no_contact_lists(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1>\r\n", 1000), 0);
	CHECK_INT(do_register("c1", 2, "", 1000), 0); /* a query */
	CHECK_INT(res.status, 200);
	CHECK_INT(res.count, 1);
}

static void expiry_sweep(void)
{
	setup();
	CHECK_INT(do_register("c1", 1, "Contact: <sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.1>;expires=120\r\n", 1000), 0);
	CHECK_INT(registrar_expire(r, 1059), 0);
	CHECK_INT(registrar_expire(r, 1060), 1);
	CHECK_INT(count(), 1);
	CHECK_INT(registrar_expire(r, 1120), 1);
	size_t aors, bindings;
	registrar_counts(r, &aors, &bindings);
	CHECK_INT(aors, 0); /* an empty AOR is freed */
}

/* RFC 5626 / 5627: the instance (and reg-id) names the device. */
#define INST "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\""

static void instance_replaces_and_unregisters(void)
{
	setup();
	/* Linphone's case: registered with one contact, unregisters with another */
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1:5070;transport=tcp>;" INST "\r\n", 1000), 0);
	CHECK_INT(res.added, 1);
	CHECK_INT(do_register("c1", 2, "Contact: <sip:1001@192.0.2.1:6000;transport=tcp>;" INST ";expires=0\r\n", 1010), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.removed, 1);
	CHECK_INT(count(), 0);
	/* a new contact of the same device replaces its binding: still one */
	CHECK_INT(do_register("c2", 1, "Contact: <sip:1001@192.0.2.1:5070>;" INST "\r\n", 1020), 0);
	CHECK_INT(do_register("c3", 1, "Contact: <sip:1001@192.0.2.1:5071>;" INST "\r\n", 1030), 0);
	CHECK_INT(res.added, 1);
	CHECK_INT(res.removed, 1);
	CHECK_INT(res.count, 1);
	CHECK_INT(count(), 1);
	/* reg-id: the same instance with two reg-ids is two flows; each is
	 * replaced by its own; no instance, no flow (reg-id ignored) */
	CHECK_INT(do_register("c4", 1, "Contact: <sip:1001@192.0.2.1:7001>;" INST ";reg-id=1\r\n", 1040), 0);
	CHECK_INT(do_register("c4", 2, "Contact: <sip:1001@192.0.2.1:7002>;" INST ";reg-id=2\r\n", 1041), 0);
	CHECK_INT(count(), 3);
	CHECK(res.outbound_reg);
	CHECK_INT(do_register("c5", 1, "Contact: <sip:1001@192.0.2.1:7003>;" INST ";reg-id=1\r\n", 1042), 0);
	CHECK_INT(count(), 3);
	CHECK_INT(res.added, 1);
	CHECK_INT(res.removed, 1);
	/* flow 2 unregisters under a contact of its own: only it goes */
	CHECK_INT(do_register("c5", 2, "Contact: <sip:1001@192.0.2.1:1>;" INST ";reg-id=2;expires=0\r\n", 1043), 0);
	CHECK_INT(res.removed, 1);
	CHECK_INT(count(), 2);
	CHECK_INT(do_register("c6", 1, "Contact: <sip:1001@192.0.2.1:7004>;reg-id=1\r\n", 1043), 0);
	CHECK_INT(res.added, 1);
	CHECK_INT(res.removed, 0);
	CHECK_INT(count(), 3);
	CHECK(!res.outbound_reg);
	/* bad reg-ids */
	CHECK_INT(do_register("c7", 1, "Contact: <sip:1001@192.0.2.1:7005>;" INST ";reg-id=0\r\n", 1044), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c7", 2, "Contact: <sip:1001@192.0.2.1:7005>;" INST ";reg-id=x\r\n", 1044), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(do_register("c7", 3, "Contact: <sip:1001@192.0.2.1:7005>;" INST ";reg-id=4294967296\r\n", 1044), 0);
	CHECK_INT(res.status, 400);
	CHECK_INT(count(), 3);
	/* a replacing REGISTER still obeys Call-ID/CSeq order */
	CHECK_INT(do_register("c5", 1, "Contact: <sip:1001@192.0.2.1:7009>;" INST ";reg-id=1\r\n", 1045), 0);
	CHECK_INT(res.status, 500);
}

/* A TCP binding whose connection is gone is removed after flow_grace. */
static void dead_flow_grace(void)
{
	struct registrar_conf c = conf;

	setup();
	c.flow_grace = 30;
	registrar_set_conf(r, &c);
	src.tp = NET_TCP; /* no live connection behind it: as after a close */
	CHECK_INT(do_register("c1", 1, "Contact: <sip:1001@192.0.2.1:5070;transport=tcp>\r\n", 1000), 0);
	src.tp = NET_UDP;
	CHECK_INT(do_register("c2", 1, "Contact: <sip:1001@192.0.2.1:5080>\r\n", 1000), 0);
	CHECK_INT(count(), 2);
	CHECK_INT(registrar_expire(r, 1001), 0); /* first seen dead */
	CHECK_INT(registrar_expire(r, 1030), 0);
	CHECK_INT(registrar_expire(r, 1031), 1); /* 30 s later: gone */
	CHECK_INT(count(), 1);                 /* the UDP one stays */
	c.flow_grace = 0;
	registrar_set_conf(r, &c);
	src.tp = NET_TLS;
	CHECK_INT(do_register("c3", 1, "Contact: <sip:1001@192.0.2.1:5090;transport=tls>\r\n", 1040), 0);
	CHECK_INT(registrar_expire(r, 1040), 1);
	src.tp = NET_UDP;
}

/* A dialog's side found again (registrar_flow_find): by the way it
 * registered over, then by the key that gives back ("i:" instance, else
 * "c:" contact), the instance's new flow found under the old key; no such
 * phone, an unknown key or another AOR: not found. */
static void flow_found_again(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&src.src.ss;
	struct reg_flow f;
	char key[sizeof(f.key)];

	setup();
	src.tp = NET_TCP; /* no connection behind it: not alive */
	CHECK_INT(do_register("f1", 1, "Contact: <sip:1001@192.0.2.1:5070;transport=tcp>;" INST "\r\n", 1000), 0);
	src.tp = NET_UDP;
	sin->sin_port = htons(5080);
	CHECK_INT(do_register("f2", 1, "Contact: <sip:1001@192.0.2.1:5080>\r\n", 1000), 0);
	CHECK_INT(count(), 2);
	/* by the way the dialog used */
	CHECK(registrar_flow_find(r, SLICE_LIT(AOR), NULL, "tcp:192.0.2.1:5060", &f));
	CHECK_INT(f.way.tp, NET_TCP);
	CHECK(!f.alive);
	CHECK(strcmp(f.contact, "sip:1001@192.0.2.1:5070;transport=tcp") == 0);
	CHECK(strncmp(f.key, "i:", 2) == 0 && strstr(f.key, "urn:uuid:") != NULL);
	base_strcpy(key, sizeof(key), f.key);
	CHECK(registrar_flow_find(r, SLICE_LIT(AOR), NULL, "udp:192.0.2.1:5080", &f));
	CHECK(strcmp(f.key, "c:sip:1001@192.0.2.1:5080") == 0);
	/* by its key; "" is no key */
	CHECK(registrar_flow_find(r, SLICE_LIT(AOR), "c:sip:1001@192.0.2.1:5080", "x", &f));
	CHECK_INT(f.way.tp, NET_UDP);
	CHECK(registrar_flow_find(r, SLICE_LIT(AOR), "", "udp:192.0.2.1:5080", &f));
	/* the device registers a new flow with a new contact: its key finds it */
	src.tp = NET_TCP;
	sin->sin_port = htons(6000);
	CHECK_INT(do_register("f3", 1, "Contact: <sip:1001@192.0.2.1:6000;transport=tcp>;" INST "\r\n", 1010), 0);
	src.tp = NET_UDP;
	sin->sin_port = htons(5060);
	CHECK(registrar_flow_find(r, SLICE_LIT(AOR), key, NULL, &f));
	CHECK(strcmp(f.contact, "sip:1001@192.0.2.1:6000;transport=tcp") == 0);
	CHECK(strcmp(f.key, key) == 0);
	/* nothing of that */
	CHECK(!registrar_flow_find(r, SLICE_LIT(AOR), NULL, "tcp:192.0.2.9:5060", &f));
	CHECK(f.contact[0] == '\0');
	CHECK(!registrar_flow_find(r, SLICE_LIT(AOR), "i:urn:uuid:nobody", NULL, &f));
	CHECK(!registrar_flow_find(r, SLICE_LIT(AOR), "x:sip:1001@192.0.2.1:5080", NULL, &f));
	CHECK(!registrar_flow_find(r, SLICE_LIT("sip:1002@example.test"), NULL,
				   "udp:192.0.2.1:5080", &f));
}

/* Under every allocation failure: a registrar made, a binding registered
 * (or refused with ENOMEM), and found again only when it was stored. */
static int flow_life(void *arg)
{
	struct registrar *x = NULL;
	struct registrar_req q = { &m, SLICE_LIT(AOR), 1, &src, 1000 };
	struct registrar_result rr;
	struct reg_flow f;
	int rc;

	(void)arg;
	if ((rc = registrar_new(&x, &conf, NULL)) != 0)
		return rc;
	if (msg("o1", 1, "Contact: <sip:1001@192.0.2.1:5070>\r\n") != 0) {
		rc = EPROTO;
		goto out;
	}
	rc = registrar_register(x, &q, &rr);
	if (rc == 0 && rr.status == 200 &&
	    !registrar_flow_find(x, SLICE_LIT(AOR), NULL, "udp:192.0.2.1:5060", &f))
		rc = EPROTO;
	else if (rc == 0 && rr.status != 200)
		rc = ENOMEM; /* refused for want of memory: fine in a failing run */
out:
	registrar_free(&x);
	return rc;
}

static void flow_allocation_failures(void)
{
	setup();
	CHECK(CHECK_OOM_SWEEP(flow_life, NULL, 500) > 1);
}

static struct net_msg seen_way;

static void keep_way(void *arg, const struct reg_binding_view *v)
{
	(void)arg;
	seen_way = *v->way;
}

static void persist_and_restore(void)
{
	char dir[] = "/tmp/bastion-reg-XXXXXX", path[256], err[256];
	struct store *st = NULL;
	struct store_user u = { 0 };
	int64_t uid;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/b.db", dir);
	CHECK_INT(store_open(&st, path, err, sizeof(err)), 0);
	strcpy(u.name, "1001");
	strcpy(u.domain, "example.test");
	strcpy(u.cred.realm, "example.test");
	memset(u.cred.ha1_md5, 'a', 32);
	u.enabled = true;
	CHECK_INT(store_users_add(st, &uid, &u), 0);
	setup();
	registrar_free(&r);
	CHECK_INT(registrar_new(&r, &conf, st), 0);
	struct registrar_req q = { &m, SLICE_LIT(AOR), uid, &src, 1000 };
	CHECK_INT(msg("c1", 1, "Contact: <sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.1>;expires=600\r\n"), 0);
	CHECK_INT(registrar_register(r, &q, &res), 0);
	CHECK_INT(res.status, 200);
	registrar_free(&r);
	CHECK_INT(registrar_new(&r, &conf, st), 0);
	/* at t=1100 the first binding has expired: one comes back */
	CHECK_INT(registrar_restore(r, 1100, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(registrar_lookup(r, SLICE_LIT(AOR), keep_way, NULL), 1);
	/* the way back is rebuilt from the stored source: address, no socket */
	CHECK_INT(seen_way.tp, NET_UDP);
	CHECK_INT(seen_way.udp_fd, -1);
	CHECK(seen_way.conn == NULL);
	CHECK_INT(net_addr_port(&seen_way.src), 5060);
	registrar_free(&r);
	store_close(&st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(add_refresh_remove), CASE(default_and_clamped_expiry), CASE(too_brief_423),
		CASE(wildcard),		  CASE(cseq_order),		    CASE(per_aor_cap),
		CASE(total_cap),	  CASE(bad_contacts),		    CASE(no_contact_lists),
		CASE(expiry_sweep),	  CASE(persist_and_restore),
		CASE(instance_replaces_and_unregisters), CASE(dead_flow_grace),
		CASE(flow_found_again),
		CASE(flow_allocation_failures),
	};
	int rc = check_main("registrar", cases, ARRAY_SIZE(cases), argc, argv);

	registrar_free(&r);
	return rc;
}
