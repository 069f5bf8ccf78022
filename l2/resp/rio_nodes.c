/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/rio_nodes.c - the resp I/O actor's servers: nodes and their
 * hiredis connections (backoff, AUTH/SELECT, health) and, in cluster
 * mode, the slot map from CLUSTER SLOTS.  I/O actor only.
 */
#define _GNU_SOURCE
#include "l2/resp/rio_internal.h"

/* ---- nodes and connections ----------------------------------------------- */

/* The index of node host:port, added when new.  Return: index or -errno. */
int rio_node_get(struct respio *rio, const char *host, int port)
{
	struct rio_node **nodes, *nd;

	for (size_t i = 0; i < rio->nnodes; i++)
		if (rio->nodes[i]->port == port && !strcmp(rio->nodes[i]->host, host))
			return (int)i;
	if (rio->nnodes == RIO_MAX_NODES || strlen(host) >= RESP_HOST_MAX)
		return -E2BIG;
	nodes = realloc(rio->nodes, (rio->nnodes + 1) * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	rio->nodes = nodes;
	nd = mem_zalloc(sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	strcpy(nd->host, host);
	nd->port = port;
	nodes[rio->nnodes] = nd;
	bump(&rio->st_nodes, 1);
	return (int)rio->nnodes++;
}

static void node_backoff(struct rio_node *nd)
{
	uint32_t b = nd->backoff_ms ? nd->backoff_ms * 2 : RIO_BACKOFF_MIN_MS;

	nd->backoff_ms = b > RIO_BACKOFF_MAX_MS ? RIO_BACKOFF_MAX_MS : b;
	nd->retry_at = clock_now_ms() + nd->backoff_ms;
	nd->down = true;
}

/* The code of a failed hiredis call on @c. */
int rio_io_code(const redisContext *c)
{
	if (!c)
		return -ENOMEM;
	if (c->err == REDIS_ERR_EOF)
		return -ECONNRESET;
	if (c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily unavailable"))
		return -ETIMEDOUT;
	if (c->err == REDIS_ERR_PROTOCOL)
		return -EPROTO;
	if (c->err == REDIS_ERR_OOM)
		return -ENOMEM;
	return -EIO;
}

/* Drop @nd's connection after an I/O failure (@what names the step). */
void rio_node_fail(struct respio *rio, struct rio_node *nd, const char *what, int code)
{
	rio_set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what,
		  nd->c && nd->c->errstr[0] ? nd->c->errstr : strerror(-code));
	log_warn("resp: %s", rio->last_error);
	nd->rpos = nd->rlen = 0;
	if (nd->c) {
		redisFree(nd->c);
		nd->c = NULL;
		atomic_fetch_sub_explicit(&rio->st_nodes_up, 1, memory_order_relaxed);
	}
	node_backoff(nd);
	sigpipe_drain();
	if (rio->conf.cluster)
		rio->map_stale = true;
}

/* The code of a server error reply that refuses a command. */
int rio_refusal_code(const char *err)
{
	if (!strncmp(err, "OOM", 3))
		return -ENOSPC;
	if (!strncmp(err, "READONLY", 8))
		return -EROFS;
	if (!strncmp(err, "NOAUTH", 6) || !strncmp(err, "NOPERM", 6) ||
	    !strncmp(err, "WRONGPASS", 9))
		return -EACCES;
	if (!strncmp(err, "CLUSTERDOWN", 11) || !strncmp(err, "TRYAGAIN", 8) ||
	    !strncmp(err, "LOADING", 7) || !strncmp(err, "MASTERDOWN", 10) ||
	    !strncmp(err, "BUSY", 4))
		return -EAGAIN;
	return -EIO;
}

/* Run one command on a fresh connection; a server error fails with @code. */
static int setup_cmd(struct respio *rio, struct rio_node *nd, int code, const char *what,
		     int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(nd->c, argc, argv, NULL);
	int ret = 0;

	if (!r) {
		ret = rio_io_code(nd->c);
		rio_set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what, nd->c->errstr);
		return ret;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		rio_set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what, r->str);
		ret = code ? code : rio_refusal_code(r->str);
	}
	freeReplyObject(r);
	return ret;
}

/*
 * Connect @nd: TCP with timeout_ms, AUTH, SELECT, then PING (which also
 * tells a server that wants AUTH we lack).  Return: 0; -EACCES refused
 * AUTH; -EINVAL refused SELECT; else an I/O code (the node backs off).
 */
int rio_node_connect(struct respio *rio, struct rio_node *nd)
{
	const struct resp_conf *cf = &rio->conf;
	struct timeval tv = { cf->timeout_ms / 1000, (cf->timeout_ms % 1000) * 1000 };
	char db[16];
	int ret;

	nd->c = redisConnectWithTimeout(nd->host, nd->port, tv);
	if (!nd->c || nd->c->err) {
		rio_set_error(rio, "%s:%d: connect: %s", nd->host, nd->port,
			  nd->c ? nd->c->errstr : "out of memory");
		ret = nd->c && strstr(nd->c->errstr, "refused") ? -ECONNREFUSED : -EHOSTUNREACH;
		goto err_free;
	}
	if (redisSetTimeout(nd->c, tv) != REDIS_OK || redisEnableKeepAlive(nd->c) != REDIS_OK) {
		rio_set_error(rio, "%s:%d: socket options: %s", nd->host, nd->port, nd->c->errstr);
		ret = -EIO;
		goto err_free;
	}
	/* keep the reader's buffer between replies: values are large */
	nd->c->reader->maxbuf = 0;
	if (cf->password[0]) {
		const char *argv[3] = { "AUTH", cf->username[0] ? cf->username : cf->password,
					cf->password };

		ret = setup_cmd(rio, nd, -EACCES, "AUTH", cf->username[0] ? 3 : 2, argv);
		if (ret)
			goto err_free;
	}
	if (!cf->cluster && cf->db) {
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%d", cf->db);
		ret = setup_cmd(rio, nd, -EINVAL, "SELECT", 2, argv);
		if (ret)
			goto err_free;
	}
	{
		const char *argv[1] = { "PING" };

		ret = setup_cmd(rio, nd, 0, "PING", 1, argv);
		if (ret == -EIO)
			ret = -EPROTO;
		if (ret)
			goto err_free;
	}
	if (nd->ever_up)
		bump(&rio->st_reconnects, 1);
	nd->ever_up = true;
	nd->down = false;
	nd->backoff_ms = 0;
	bump(&rio->st_nodes_up, 1);
	return 0;
err_free:
	if (nd->c)
		redisFree(nd->c);
	nd->c = NULL;
	node_backoff(nd);
	return ret;
}

/* Connected, or connected now if its backoff allows.  Return: 0 or -errno. */
int rio_node_ready(struct respio *rio, struct rio_node *nd)
{
	if (nd->c)
		return 0;
	if (clock_now_ms() < nd->retry_at)
		return -EHOSTDOWN;
	return rio_node_connect(rio, nd);
}

/* ---- the slot map -------------------------------------------------------- */

struct map_fill {
	struct respio *rio;
	uint16_t *slots;
};

static int map_range(void *arg, unsigned int start, unsigned int end, const char *host,
		     int port)
{
	struct map_fill *f = arg;
	int idx = rio_node_get(f->rio, host, port);

	if (idx < 0)
		return idx;
	for (unsigned int s = start; s <= end; s++)
		f->slots[s] = (uint16_t)idx;
	return 0;
}

/* Reload the slot map from CLUSTER SLOTS of the first node that answers.
 * @refusal: receives the error reply of a node that refused (may be NULL).
 * Return: 0, -EPROTO when a node refused or answered garbage, else -EIO. */
int rio_map_refresh(struct respio *rio, char *refusal, size_t rlen)
{
	struct map_fill f = { rio, NULL };
	int ret = -EHOSTUNREACH;

	rio->map_next = clock_now_ms() + RIO_MAP_RETRY_MS;
	f.slots = mem_alloc(RESP_SLOTS * sizeof(*f.slots));
	if (!f.slots)
		return -ENOMEM;
	/* the nodes that serve slots first, then the seed and the rest */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < rio->nnodes; i++) {
			struct rio_node *nd = rio->nodes[i];
			redisReply *r;
			int n;

			if ((pass == 0) != nd->owns || rio_node_ready(rio, nd))
				continue;
			r = redisCommand(nd->c, "CLUSTER SLOTS");
			if (!r) {
				rio_node_fail(rio, nd, "CLUSTER SLOTS", rio_io_code(nd->c));
				continue;
			}
			if (r->type == REDIS_REPLY_ERROR) {
				rio_set_error(rio, "%s:%d: CLUSTER SLOTS: %s", nd->host, nd->port,
					  r->str);
				if (refusal)
					snprintf(refusal, rlen, "%s", r->str);
				freeReplyObject(r);
				ret = -EPROTO;
				continue;
			}
			for (unsigned int s = 0; s < RESP_SLOTS; s++)
				f.slots[s] = RIO_NO_NODE;
			n = resp_slots_parse(r, nd->host, map_range, &f);
			freeReplyObject(r);
			if (n < 0) {
				rio_set_error(rio, "%s:%d: CLUSTER SLOTS: malformed reply", nd->host,
					  nd->port);
				ret = -EPROTO;
				continue;
			}
			memcpy(rio->slot_node, f.slots, RESP_SLOTS * sizeof(*f.slots));
			for (size_t k = 0; k < rio->nnodes; k++)
				rio->nodes[k]->owns = false;
			for (unsigned int s = 0; s < RESP_SLOTS; s++)
				if (f.slots[s] != RIO_NO_NODE)
					rio->nodes[f.slots[s]]->owns = true;
			rio->map_loaded = true;
			rio->map_stale = false;
			bump(&rio->st_map_refreshes, 1);
			mem_free(f.slots);
			return 0;
		}
	}
	mem_free(f.slots);
	return ret;
}

void rio_publish_health(struct respio *rio)
{
	bool ok;

	if (!rio->conf.cluster) {
		ok = rio->nodes[0]->c && !rio->nodes[0]->down;
	} else {
		ok = rio->map_loaded;
		for (size_t i = 0; i < rio->nnodes && ok; i++)
			if (rio->nodes[i]->owns && rio->nodes[i]->down)
				ok = false;
	}
	atomic_store_explicit(&rio->healthy, ok, memory_order_relaxed);
}
