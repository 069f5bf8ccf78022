/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/gen_seeds.c - writes the seed inputs of fuzz_daxfmt,
 * fuzz_fschunk and fuzz_resp_reader that carry checksums (a device image
 * formatted by daxfmt, chunk files and GET replies with real headers) into
 * tests/fuzz/corpus/.  Not built by configure.py; run by hand after a
 * format change, from the repository root:
 *
 *   cc -Iinclude -I. tests/fuzz/gen_seeds.c core/daxfmt.c l2/fschunk.c \
 *      -lxxhash -o /tmp/gen_seeds && /tmp/gen_seeds
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/daxfmt.h"
#include "core/log.h"
#include "l2/fschunk.h"

void log_msg(enum log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

static void put(const char *path, const void *ctl, size_t nctl, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(ctl, 1, nctl, f) != nctl || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void dax_seeds(void)
{
	static uint8_t img[16384];
	const struct kvt_key ns = { .lo = 0x1111, .hi = 0x2222 };
	struct daxfmt_geometry g;
	struct daxfmt f;
	bool formatted;
	char err[256];
	/* ctl: flags, slot size (1024 = (15 + 1) x 64), align 4096, unused */
	uint8_t ctl[4] = { 0, 15, 1, 0 };

	if (daxfmt_layout(sizeof(img), 1024, 4096, &g) ||
	    daxfmt_attach(&f, img, &g, &ns, false, NULL, NULL, &formatted, err, sizeof(err)))
		exit(1);
	put("tests/fuzz/corpus/daxfmt/formatted", ctl, 4, img, sizeof(img));
	for (uint32_t s = 0; s < g.nslots; s++) {
		struct kvt_key k = { .lo = s + 1, .hi = 7 };

		daxfmt_begin_write(&f, s, s + 1);
		memset(daxfmt_slot(&f, s), 'a' + (int)s, 100 + s);
		if (s != 1)
			daxfmt_commit(&f, s, &k, 100 + s, s + 1);   /* slot 1 stays torn */
	}
	put("tests/fuzz/corpus/daxfmt/slots", ctl, 4, img, sizeof(img));
	ctl[0] = 7;     /* seal everything: mutations of fields get past the sums */
	put("tests/fuzz/corpus/daxfmt/slots_sealed", ctl, 4, img, sizeof(img));
	ctl[1] = 31;    /* another slot size: refused unless reinit */
	ctl[0] = 8;
	put("tests/fuzz/corpus/daxfmt/reinit", ctl, 4, img, sizeof(img));
}

static void fs_seeds(void)
{
	static uint8_t file[FSCHUNK_HDR + 300];
	struct kvt_key key = { .lo = 1, .hi = 2 };
	uint8_t ctl[2] = { 0, 0 };
	char name[FSCHUNK_NAME_LEN + 1];

	for (size_t i = 0; i < 300; i++)
		file[FSCHUNK_HDR + i] = (uint8_t)(i * 7);
	fschunk_hdr_encode(file, &key, 300, fschunk_sum(file + FSCHUNK_HDR, 300));
	put("tests/fuzz/corpus/fschunk/valid", ctl, 2, file, sizeof(file));
	put("tests/fuzz/corpus/fschunk/truncated", ctl, 2, file, sizeof(file) - 100);
	ctl[1] = 8;     /* a 256-byte buffer: -EMSGSIZE */
	put("tests/fuzz/corpus/fschunk/small_buffer", ctl, 2, file, sizeof(file));
	ctl[0] = 7;
	ctl[1] = 0;
	put("tests/fuzz/corpus/fschunk/sealed", ctl, 2, file, sizeof(file));
	ctl[0] = 0;
	fschunk_name(&(struct kvt_key){ .lo = 0xab00000000000001ull, .hi = 2 }, name);
	put("tests/fuzz/corpus/fschunk/name", ctl, 2, name, strlen(name));
}

/* A GET window: key 0's value with a real header, a nil, an error, a
 * MOVED, and a value for the wrong key. */
static void resp_seeds(void)
{
	static uint8_t out[3 * FSCHUNK_HDR];
	static uint8_t val[FSCHUNK_HDR + 64];
	struct kvt_key k0 = { .lo = 1, .hi = 0x4b5654 }, k9 = { .lo = 9, .hi = 0x4b5654 };
	uint8_t ctl[4] = { 2, 0, 0, 1 };    /* GET, no ASK, read_window's splits, 256-byte buffers */
	size_t n = 0;

	for (size_t i = 0; i < 64; i++)
		val[FSCHUNK_HDR + i] = (uint8_t)i;
	fschunk_hdr_encode(val, &k0, 64, fschunk_sum(val + FSCHUNK_HDR, 64));
	n += (size_t)sprintf((char *)out + n, "$%zu\r\n", sizeof(val));
	memcpy(out + n, val, sizeof(val));
	n += sizeof(val);
	n += (size_t)sprintf((char *)out + n, "\r\n$-1\r\n-ERR wrong\r\n-MOVED 3999 127.0.0.1:6381\r\n"
			     "-ASK 12 [::1]:7000\r\n");
	fschunk_hdr_encode(val, &k9, 64, fschunk_sum(val + FSCHUNK_HDR, 64));
	n += (size_t)sprintf((char *)out + n, "$%zu\r\n", sizeof(val));
	memcpy(out + n, val, sizeof(val));
	n += sizeof(val);
	n += (size_t)sprintf((char *)out + n, "\r\n");
	put("tests/fuzz/corpus/resp_reader/get_window", ctl, 4, out, n);
	ctl[2] = 5;     /* the same, read in small pieces */
	put("tests/fuzz/corpus/resp_reader/get_split", ctl, 4, out, n);
}

int main(void)
{
	dax_seeds();
	fs_seeds();
	resp_seeds();
	return 0;
}
