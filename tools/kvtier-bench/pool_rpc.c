/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_rpc.c - one bench client of Maru's protocol: its
 * socket, requests, the keys it registers, and the checked reading of
 * replies (every lookup entry compared with what was registered).
 */
#define _GNU_SOURCE
#include "tools/kvtier-bench/pool_bench.h"

/* ---- one client: requests and replies ----------------------------------- */

int fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->why[0]) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

int client_open(struct client *c, void *zctx, const char *addr, int timeout_ms)
{
	int zero = 0;

	memset(c, 0, sizeof(*c));
	msgpack_sbuffer_init(&c->sb);
	zmq_msg_init(&c->reply);
	c->sock = zmq_socket(zctx, ZMQ_DEALER);
	if (!c->sock)
		return fail(c, "zmq_socket: %s", zmq_strerror(zmq_errno()));
	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(c->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	if (zmq_connect(c->sock, addr))
		return fail(c, "connect %s: %s", addr, zmq_strerror(zmq_errno()));
	return 0;
}

void client_close(struct client *c)
{
	if (c->sock)
		zmq_close(c->sock);
	c->sock = NULL;
	zmq_msg_close(&c->reply);
	msgpack_sbuffer_destroy(&c->sb);
}

/* Starts a request: the header is filled in by rpc(). */
void req_begin(struct client *c)
{
	static const char hdr[MARU_HDR_SIZE];

	msgpack_sbuffer_clear(&c->sb);
	msgpack_sbuffer_write(&c->sb, hdr, sizeof(hdr));
	msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
}

/*
 * Sends the request packed since req_begin() and waits for its reply.
 * Return: 0 with @payload over the reply's payload (valid until the next
 * call), or -EPROTO with c->why set: a timeout or a bad frame.
 */
int rpc(struct client *c, uint8_t type, struct mp_cur *payload)
{
	struct maru_hdr h = { MARU_MAGIC, MARU_VERSION, type, 0, ++c->seq,
			      (uint32_t)(c->sb.size - MARU_HDR_SIZE) };
	const uint8_t *p;
	size_t len;

	c->type = type;
	maru_hdr_encode((uint8_t *)c->sb.data, &h);
	if (zmq_send(c->sock, "", 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(c->sock, c->sb.data, c->sb.size, 0) < 0)
		return fail(c, "send type %#x: %s", type, zmq_strerror(zmq_errno()));
	do {
		zmq_msg_close(&c->reply);
		zmq_msg_init(&c->reply);
		if (zmq_msg_recv(&c->reply, c->sock, 0) < 0)
			return fail(c, "type %#x: no reply: %s", type, zmq_strerror(zmq_errno()));
	} while (zmq_msg_more(&c->reply));
	p = zmq_msg_data(&c->reply);
	len = zmq_msg_size(&c->reply);
	if (maru_hdr_decode(p, len, &h) || h.type != maru_resp_type(type) || h.seq != c->seq ||
	    h.flags || h.len != len - MARU_HDR_SIZE)
		return fail(c, "type %#x seq %u: bad reply header", type, c->seq);
	mp_init(payload, p + MARU_HDR_SIZE, h.len);
	return 0;
}

/* ---- what a key is registered with ------------------------------------- */

/* Key i's slot and length in its region: every key differs from its
 * neighbours, so a reply carrying another key's entry is caught. */
static uint64_t key_off(uint64_t i)
{
	return (i % PAGES) * PAGE;
}

static uint64_t key_len(uint64_t i)
{
	return 1 + prng_mix64(i) % PAGE;
}

/* LMCache-shaped string keys ("...@...@hash"): @kind 'p' populated, 'c'
 * client @client's fresh keys, 'm' never registered. */
void key_name(char *out, const char *tag, char kind, unsigned client, uint64_t i)
{
	snprintf(out, KEY_MAX, "kvtier-bench@%s@%c%u@%016llx", tag, kind, client,
		 (unsigned long long)prng_mix64(i));
}

void pack_key(struct client *c, const char *key)
{
	maru_pack_cstr(&c->pk, key);
}

/* Writes populated key @i, as key_name(out, r->tag, 'p', 0, i) would, into
 * @out (KEY_MAX bytes, not terminated).  Built per use rather than kept in
 * a table: the clients share the machine with the server they measure, and
 * a random key from a 6 MiB table cost a cache miss per key.
 * Return: its length. */
static uint32_t populated_key(const struct run *r, uint64_t i, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = prng_mix64(i);

	memcpy(out, r->pfx, r->pfx_len);
	for (int d = 15; d >= 0; d--, h >>= 4)
		out[r->pfx_len + (uint32_t)d] = hex[h & 15];
	return r->pfx_len + 16;
}

void pack_populated(struct client *c, const struct run *r, uint64_t i)
{
	char key[KEY_MAX];

	msgpack_pack_str_with_body(&c->pk, key, populated_key(r, i, key));
}

static void pack_entry(struct client *c, const struct run *r, const char *key, uint64_t rid,
		       uint64_t i)
{
	msgpack_pack_map(&c->pk, 4);
	maru_pack_cstr(&c->pk, "key");
	if (key)
		pack_key(c, key);
	else
		pack_populated(c, r, i);
	maru_pack_cstr(&c->pk, "region_id");
	msgpack_pack_uint64(&c->pk, rid);
	maru_pack_cstr(&c->pk, "kv_offset");
	msgpack_pack_uint64(&c->pk, key_off(i));
	maru_pack_cstr(&c->pk, "kv_length");
	msgpack_pack_uint64(&c->pk, key_len(i));
}

/* ---- replies ------------------------------------------------------------ */


/*
 * Splits the map at *@map by field name in one pass: @vals[k] is left at
 * the value of field @names[k] (at most MAX_FIELDS + 1 names).  Unknown
 * fields are skipped, as Maru's clients skip them.  @past: leave *@map past
 * the map; else the last value is not walked (a batch reply's one field is
 * its whole array).  The clients share the machine with the server they
 * measure, so each byte of a reply is read once where it can be.
 * Return: a bit mask of the fields found, or -1 when malformed.
 */
static int fields(struct mp_cur *map, const struct field *names, int n, struct mp_cur *vals,
		  bool past)
{
	uint32_t cnt;
	int seen = 0;

	if (mp_read_map(map, &cnt))
		return -1;
	for (uint32_t i = 0; i < cnt; i++) {
		const char *s = NULL;
		uint32_t sl = 0;

		/* a key that is not a string matches no name */
		if (mp_read_str(map, &s, &sl) && mp_skip(map))
			return -1;
		for (int k = 0; k < n && s; k++)
			if (sl == names[k].len && !memcmp(names[k].s, s, sl)) {
				vals[k] = *map;
				seen |= 1 << k;
			}
		if ((past || i + 1 < cnt) && mp_skip(map))
			return -1;
	}
	return seen;
}

/* fields() of a reply's payload; a reply with an "error" field (the server
 * refused the request) fails the call.  Return: the mask, or -EPROTO. */
int reply_fields(struct client *c, struct mp_cur m, const struct field *names, int n,
			struct mp_cur *vals)
{
	struct field all[MAX_FIELDS + 1];
	const char *e;
	struct mp_cur v[MAX_FIELDS + 1];
	uint32_t el;
	int seen;

	for (int k = 0; k < n; k++)
		all[k] = names[k];
	all[n] = (struct field)FIELD("error");
	seen = fields(&m, all, n + 1, v, false);
	if (seen < 0)
		return fail(c, "type %#x: malformed reply", c->type);
	if (seen >> n & 1) {
		if (mp_read_str(&v[n], &e, &el)) {
			e = "?";
			el = 1;
		}
		return fail(c, "type %#x: server error \"%.*s\"", c->type, (int)(el > 120 ? 120 : el),
			    e);
	}
	for (int k = 0; k < n; k++)
		vals[k] = v[k];
	return seen;
}

bool read_true(struct mp_cur v)
{
	bool b;

	return !mp_read_bool(&v, &b) && b;
}

static const struct field entry_names[] = {
	FIELD("found"), FIELD("handle"), FIELD("kv_offset"), FIELD("kv_length"),
};
static const struct field handle_names[] = {
	FIELD("region_id"), FIELD("offset"), FIELD("length"), FIELD("auth_token"),
};

/* Reads the next field name of a map at @cur and finds it among @names
 * (@n of them); the value of a field not among them is skipped.
 * Return: the name's index, -1 (skipped), or -2 (malformed). */
static int next_field(struct mp_cur *cur, const struct field *names, int n)
{
	const char *s;
	uint32_t len;

	if (mp_read_str(cur, &s, &len))
		return -2;
	for (int k = 0; k < n; k++)
		if (len == names[k].len && !memcmp(names[k].s, s, len))
			return k;
	return mp_skip(cur) ? -2 : -1;
}

const char entry_malformed[] = "malformed entry";

/*
 * Walks the lookup entry at @cur once, leaving @cur past it, and checks it
 * against populated key @i; fields it does not know are skipped.
 * Return: NULL, entry_malformed (@cur is then lost), or why it is wrong.
 */
const char *check_entry(struct mp_cur *cur, const struct run *r, uint64_t i)
{
	/* entry_names[2..3], then handle_names[0..3] */
	const uint64_t want[6] = { key_off(i), key_len(i), r->h.rid, r->h.off, r->h.len, r->h.tok };
	const char *why = NULL;
	bool found = false;
	unsigned seen = 0;
	uint32_t n, hn;
	uint64_t x;

	if (mp_read_map(cur, &n))
		return entry_malformed;
	while (n--) {
		int k = next_field(cur, entry_names, 4);

		if (k == -2 || (k == 0 && mp_read_bool(cur, &found)) ||
		    (k >= 2 && mp_read_u64(cur, &x)) || (k == 1 && mp_read_map(cur, &hn)))
			return entry_malformed;
		if (k >= 2 && x != want[k - 2])
			why = k == 2 ? "wrong kv_offset" : "wrong kv_length";
		while (k == 1 && hn--) {
			int h = next_field(cur, handle_names, 4);

			if (h == -2 || (h >= 0 && mp_read_u64(cur, &x)))
				return entry_malformed;
			if (h >= 0 && x != want[2 + h])
				why = "wrong handle";
			if (h >= 0)
				seen |= 1u << (4 + h);
		}
		if (k >= 0)
			seen |= 1u << k;
	}
	if (!found)
		return "not found";
	if (seen != 0xff)
		return "a field is missing";
	return why;
}

/* Leaves @arr inside field @name of reply @m, an array of @n items. */
int reply_array(struct client *c, struct mp_cur m, const char *name, uint32_t n,
		       struct mp_cur *arr)
{
	struct field f = { name, (uint32_t)strlen(name) };
	int seen = reply_fields(c, m, &f, 1, arr);
	uint32_t got;

	if (seen < 0)
		return seen;
	if (seen != 1 || mp_read_array(arr, &got))
		return fail(c, "type %#x: no \"%s\" array", c->type, name);
	if (got != n)
		return fail(c, "type %#x: \"%s\" has %u items for %u keys", c->type, name, got, n);
	return 0;
}

int do_heartbeat(struct client *c)
{
	struct mp_cur m;
	int ret;

	req_begin(c);
	msgpack_pack_map(&c->pk, 0);
	ret = rpc(c, MARU_HEARTBEAT, &m);
	return ret ? ret : (reply_fields(c, m, NULL, 0, NULL) < 0 ? -EPROTO : 0);
}

/* REQUEST_ALLOC (@alloc) or RETURN_ALLOC c's region for instance @inst. */
int do_alloc(struct client *c, const char *inst, bool alloc)
{
	static const struct field top[] = { FIELD("success"), FIELD("handle") };
	uint64_t *out[4] = { &c->h.rid, &c->h.off, &c->h.len, &c->h.tok };
	struct mp_cur m, v[2], hv[4];
	int ret, seen;

	req_begin(c);
	msgpack_pack_map(&c->pk, 2);
	maru_pack_cstr(&c->pk, "instance_id");
	maru_pack_cstr(&c->pk, inst);
	maru_pack_cstr(&c->pk, alloc ? "size" : "region_id");
	msgpack_pack_uint64(&c->pk, alloc ? REGION_BYTES : c->h.rid);
	ret = rpc(c, alloc ? MARU_REQUEST_ALLOC : MARU_RETURN_ALLOC, &m);
	if (ret)
		return ret;
	seen = reply_fields(c, m, top, alloc ? 2 : 1, v);
	if (seen < 0)
		return seen;
	if (!alloc)
		return seen & 1 && read_true(v[0]) ? 0 : fail(c, "RETURN_ALLOC refused");
	if (seen != 3 || !read_true(v[0]) || fields(&v[1], handle_names, 4, hv, false) != 15)
		return fail(c, "REQUEST_ALLOC of %u bytes refused", REGION_BYTES);
	for (int k = 0; k < 4; k++)
		if (mp_read_u64(&hv[k], out[k]))
			return fail(c, "REQUEST_ALLOC: a malformed handle");
	if (c->h.len < REGION_BYTES)
		return fail(c, "REQUEST_ALLOC: %llu bytes", (unsigned long long)c->h.len);
	return 0;
}

/* Registers keys [@from, @from + @n) into c's region: the populated keys
 * (@kind 'p') or client @idx's fresh ones ('c').  Every one must be new.
 * Return: 0, -EPROTO (the RPC failed), or 1 (a key was not new). */
int do_register(struct client *c, const struct run *r, char kind, unsigned idx,
		       uint64_t from, uint32_t n)
{
	char key[KEY_MAX];
	struct mp_cur m, arr;
	int ret;

	req_begin(c);
	msgpack_pack_map(&c->pk, 1);
	maru_pack_cstr(&c->pk, "entries");
	msgpack_pack_array(&c->pk, n);
	for (uint64_t i = from; i < from + n; i++) {
		if (kind != 'p')
			key_name(key, r->tag, kind, idx, i);
		pack_entry(c, r, kind == 'p' ? NULL : key, c->h.rid, i);
	}
	ret = rpc(c, MARU_BATCH_REGISTER_KV, &m);
	if (!ret)
		ret = reply_array(c, m, "results", n, &arr);
	for (uint32_t i = 0; !ret && i < n; i++) {
		if (!read_true(arr))
			return 1;
		if (mp_skip(&arr))
			ret = fail(c, "batch register: malformed results");
	}
	return ret;
}
