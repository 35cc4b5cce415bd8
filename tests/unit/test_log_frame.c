/*
 * RFC 5425 octet-counting framing (log/frame.c): what the remote sender
 * puts on the wire for the queued lines, and the parser of the same bytes.
 * A batch is framed whole lines only, in order, as many as fit; every batch
 * parses back into exactly its lines; the parser refuses what is not octet
 * counting (RFC 5425 4.3: NONZERO-DIGIT *DIGIT SP) with the offset, bounds
 * the length, and asks for more bytes rather than reading beyond its range.
 */
#include "check.h"
#include "log/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void frames_whole_lines(void)
{
	const char in[] = "<38>1 a\nsecond message\npartial";
	char out[128];
	size_t olen, used, n;

	CHECK_INT(log_frame_lines(out, sizeof(out), &olen, &used, &n, in, strlen(in)), 0);
	CHECK_INT(n, 2);
	CHECK_INT(used, strlen("<38>1 a\nsecond message\n")); /* not the partial line */
	CHECK_INT(olen, strlen("7 <38>1 a14 second message"));
	CHECK(memcmp(out, "7 <38>1 a14 second message", olen) == 0);
	/* as many as fit: the second does not */
	CHECK_INT(log_frame_lines(out, 12, &olen, &used, &n, in, strlen(in)), 0);
	CHECK_INT(n, 1);
	CHECK_INT(used, 8);
	CHECK_INT(olen, 9);
	/* nothing fits: nothing framed, no error */
	CHECK_INT(log_frame_lines(out, 3, &olen, &used, &n, in, strlen(in)), 0);
	CHECK_INT(n, 0);
	CHECK_INT(used, 0);
	/* an empty first line cannot be framed (MSG-LEN is not 0) */
	CHECK_INT(log_frame_lines(out, sizeof(out), &olen, &used, &n, "\nx\n", 3), EBADMSG);
	CHECK_INT(used, 0);
	/* ... after another, the batch stops before it */
	CHECK_INT(log_frame_lines(out, sizeof(out), &olen, &used, &n, "x\n\ny\n", 5), 0);
	CHECK_INT(n, 1);
	CHECK_INT(used, 2);
	CHECK_INT(log_frame_lines(NULL, 1, &olen, &used, &n, "x\n", 2), EINVAL);
}

static void parses_frames(void)
{
	struct log_frame f;
	const char two[] = "5 hello3 abc";

	CHECK_INT(log_frame_parse(&f, two, strlen(two)), 0);
	CHECK_INT(f.consumed, 7);
	CHECK(slice_eq(f.msg, SLICE_LIT("hello")));
	CHECK_INT(log_frame_parse(&f, two + 7, strlen(two) - 7), 0);
	CHECK(slice_eq(f.msg, SLICE_LIT("abc")));
	/* more bytes needed: never read beyond the range */
	CHECK_INT(log_frame_parse(&f, "", 0), ENODATA);
	CHECK_INT(log_frame_parse(&f, "12", 2), ENODATA);
	CHECK_INT(log_frame_parse(&f, "5 hell", 6), ENODATA);
	/* not octet counting */
	CHECK_INT(log_frame_parse(&f, "<38>1 x", 7), EBADMSG);
	CHECK_INT(f.error_at, 0);
	CHECK_INT(log_frame_parse(&f, "05 hello", 8), EBADMSG); /* leading zero */
	CHECK_INT(log_frame_parse(&f, "0 ", 2), EBADMSG);
	CHECK_INT(log_frame_parse(&f, "5x hello", 8), EBADMSG);
	CHECK_INT(f.error_at, 1);
	CHECK_INT(log_frame_parse(&f, "5\thello", 7), EBADMSG);
	/* the length is bounded before anything is read */
	CHECK_INT(log_frame_parse(&f, "65537 x", 7), EOVERFLOW);
	CHECK_INT(log_frame_parse(&f, "99999999999999999999999999 x", 28), EOVERFLOW);
	CHECK_INT(log_frame_parse(&f, "65536 ", 6), ENODATA);
	CHECK_INT(log_frame_parse(&f, NULL, 3), EINVAL);
}

/* Every batch parses back into exactly its lines, whatever the cap. */
static void round_trip(void)
{
	char in[4096], out[8192];
	size_t len = 0;
	unsigned seed = 7;

	for (int i = 0; i < 200 && len < sizeof(in) - 64; i++) {
		size_t l = 1 + (seed = seed * 1103515245u + 12345u) % 40;
		for (size_t k = 0; k < l; k++)
			in[len++] = (char)(' ' + (seed >> (k % 16)) % 90);
		in[len++] = '\n';
	}
	for (size_t cap = 2; cap < 300; cap += 37) {
		size_t i = 0, lines = 0;
		while (i < len) {
			size_t olen, used, n, o = 0, k = 0;
			CHECK_INT(log_frame_lines(out, cap, &olen, &used, &n, in + i, len - i), 0);
			if (used == 0)
				break; /* the next line is longer than cap */
			while (o < olen) {
				struct log_frame f;
				const char *nl = memchr(in + i + k, '\n', used - k);
				CHECK_INT(log_frame_parse(&f, out + o, olen - o), 0);
				CHECK(nl != NULL);
				CHECK_INT(f.msg.len, (size_t)(nl - (in + i + k)));
				CHECK(memcmp(f.msg.p, in + i + k, f.msg.len) == 0);
				o += f.consumed;
				k += f.msg.len + 1;
				lines++;
			}
			CHECK_INT(k, used);
			i += used;
		}
		if (cap >= 43) { /* the longest frame, "40 " and 40 bytes, fits: all framed */
			CHECK_INT(i, len);
			CHECK(lines > 0);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(frames_whole_lines),
		CASE(parses_frames),
		CASE(round_trip),
	};

	return check_main("log_frame", cases, ARRAY_SIZE(cases), argc, argv);
}
