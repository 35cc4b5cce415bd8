/*
 * verify: checks the hash chain and keyed checkpoints of a log (log.h,
 * "Tamper-evident logs") and names the first line that was altered,
 * removed or inserted.
 *
 * How a fault is told apart, at line i whose "prev" does not match the hash
 * of line i-1:
 * - its "prev" matches line i-2 and its seq follows line i-2's: line i-1
 *   was inserted;
 * - its seq jumps past line i-1's + 1: lines were removed before line i;
 * - otherwise line i-1 was altered after line i was written.
 * A line whose "prev" matches but whose seq does not follow was altered
 * itself. Whoever rewrites every hash from some line on is caught by the
 * next checkpoint, whose MAC needs the key.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_LINE_MAX 65536

void log_verify_init(struct log_verify *v, const uint8_t *key, size_t keylen)
{
	memset(v, 0, sizeof(*v));
	v->key = key;
	v->keylen = keylen;
}

void log_verify_next_file(struct log_verify *v)
{
	v->line = 0;
	v->last_checkpoint_line = 0;
}

static int problem(struct log_verify *v, enum log_verify_problem p, uint64_t line,
		   const char *what)
{
	v->problem = p;
	v->bad_line = line;
	snprintf(v->what, sizeof(v->what), "%s", what);
	return EBADMSG;
}

static bool is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int log_verify_line(struct log_verify *v, const char *line, size_t len)
{
	char h1[65], h2[65], why[200], mac[65];
	const char *prev = NULL, *kind = NULL, *got_mac = NULL;
	uint8_t h[32];
	json_int_t seq = 0;
	json_t *obj;
	int rc = 0;

	if (v->problem)
		return EBADMSG;
	v->line++;
	v->lines++;
	if (len && line[len - 1] == '\n')
		len--;
	obj = json_loadb(line, len, 0, NULL);
	if (obj && json_is_object(obj)) {
		json_t *js = json_object_get(obj, "seq");
		if (json_is_integer(js))
			seq = json_integer_value(js);
		prev = json_string_value(json_object_get(obj, "prev"));
		kind = json_string_value(json_object_get(obj, "kind"));
		got_mac = json_string_value(json_object_get(obj, "mac"));
	}
	if (seq <= 0 || !is_hex64(prev)) {
		if (!v->started) {
			v->legacy++;
			goto out;
		}
		rc = problem(v, LOG_VERIFY_ALTERED, v->line,
			     obj ? "altered: not a chained line (no seq or prev)"
				 : "altered: not a JSON line");
		goto out;
	}
	log_line_hash(h, line, len);
	hex_encode(h1, v->h1, 32);
	hex_encode(h2, v->h2, 32);
	if (!v->started) {
		static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";

		v->started = true;
		v->first_seq = (uint64_t)seq;
		v->first_is_genesis = seq == 1 && strcmp(prev, zeros) == 0;
	} else if (strcmp(prev, h1) == 0) {
		if ((uint64_t)seq != v->seq + 1) {
			snprintf(why, sizeof(why), "altered: its seq is %lld where %llu follows",
				 (long long)seq, (unsigned long long)(v->seq + 1));
			rc = problem(v, LOG_VERIFY_ALTERED, v->line, why);
			goto out;
		}
	} else if (v->have_h2 && strcmp(prev, h2) == 0 && (uint64_t)seq == v->seq2 + 1) {
		rc = problem(v, LOG_VERIFY_INSERTED, v->line - 1,
			     "inserted: the line after it links to the line before it");
		goto out;
	} else if ((uint64_t)seq > v->seq + 1) {
		v->missing = (uint64_t)seq - v->seq - 1;
		snprintf(why, sizeof(why), "removed: %llu line(s) (seq %llu to %llu) missing before it",
			 (unsigned long long)v->missing, (unsigned long long)(v->seq + 1),
			 (unsigned long long)(seq - 1));
		rc = problem(v, LOG_VERIFY_REMOVED, v->line, why);
		goto out;
	} else if (v->line == 1) {
		rc = problem(v, LOG_VERIFY_BROKEN, 1,
			     "the first line does not continue the previous file");
		goto out;
	} else {
		rc = problem(v, LOG_VERIFY_ALTERED, v->line - 1,
			     "altered: its hash differs from the one the next line recorded");
		goto out;
	}
	if (kind && strcmp(kind, LOG_CHECKPOINT_KIND) == 0 && got_mac) {
		v->checkpoints++;
		if (v->keylen) {
			if (log_checkpoint_mac(mac, v->key, v->keylen, (uint64_t)seq, prev) != 0 ||
			    strcmp(mac, got_mac) != 0) {
				if (v->last_checkpoint_line)
					snprintf(why, sizeof(why),
						 "checkpoint fails the key: a line after the checkpoint "
						 "at line %llu was rewritten (or the key is wrong)",
						 (unsigned long long)v->last_checkpoint_line);
				else
					snprintf(why, sizeof(why),
						 "checkpoint fails the key: a line before it was "
						 "rewritten (or the key is wrong)");
				rc = problem(v, LOG_VERIFY_BAD_MAC, v->line, why);
				goto out;
			}
		}
		v->last_checkpoint_line = v->line;
		v->since_checkpoint = 0;
	} else {
		v->since_checkpoint++;
	}
	memcpy(v->h2, v->h1, 32);
	v->have_h2 = v->lines - v->legacy >= 2;
	v->seq2 = v->seq;
	memcpy(v->h1, h, 32);
	v->seq = (uint64_t)seq;
out:
	json_decref(obj);
	return rc;
}

int log_verify_file(struct log_verify *v, const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t len = 0;
	int c, rc = 0;
	bool too_long = false;

	if (!f)
		return errno;
	buf = malloc(VERIFY_LINE_MAX);
	if (!buf) {
		fclose(f);
		return ENOMEM;
	}
	while ((c = getc(f)) != EOF) {
		if (c != '\n') {
			if (len < VERIFY_LINE_MAX)
				buf[len++] = (char)c;
			else
				too_long = true;
			continue;
		}
		if (too_long) {
			v->line++;
			v->lines++;
			rc = problem(v, LOG_VERIFY_ALTERED, v->line, "altered: line over 64 KiB");
			break;
		}
		if ((rc = log_verify_line(v, buf, len)) != 0)
			break;
		len = 0;
	}
	if (rc == 0 && ferror(f))
		rc = EIO;
	if (rc == 0 && (len || too_long)) /* a last line without its newline */
		rc = log_verify_line(v, buf, len) ? EBADMSG : 0;
	free(buf);
	fclose(f);
	return rc;
}
