/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/rio_runs.c - one task as a "run" of the resp I/O actor: keys
 * routed to their nodes, pipelined windows written and read, replies
 * applied, redirections and failures retried in rounds.  I/O actor only.
 */
#define _GNU_SOURCE
#include "l2/resp/rio_internal.h"

/* ---- runs ------------------------------------------------------------------ */

void rio_run_free(struct rio_run *run)
{
	mem_free(run->res);
	mem_free(run->hdrs);
}

/* Allocates the per-key state.  Return: 0 or -ENOMEM. */
int rio_run_init(struct respio *rio, struct rio_run *run, struct l2_job *job,
		    enum rio_cmd cmd)
{
	size_t n = job->n;
	size_t per = RESP_KEY_MAX + sizeof(uint16_t) * 2 + 2 + sizeof(int) + sizeof(uint32_t);
	uint8_t *p;

	memset(run, 0, sizeof(*run));
	run->job = job;
	run->cmd = cmd;
	p = mem_alloc(n * per);
	if (!p)
		return -ENOMEM;
	/* widest first, so every array is aligned */
	run->res = (int *)p;
	p += n * sizeof(int);
	run->corrupt = (uint32_t *)p;
	p += n * sizeof(uint32_t);
	run->namelen = (uint16_t *)p;
	p += n * sizeof(uint16_t);
	run->node = (uint16_t *)p;
	p += n * sizeof(uint16_t);
	run->names = (char (*)[RESP_KEY_MAX])p;
	p += n * RESP_KEY_MAX;
	run->ask = p;
	p += n;
	run->state = p;
	if (cmd == CMD_SET && n) {
		run->hdrs = mem_alloc(n * (FSCHUNK_HDR + 1));
		if (!run->hdrs) {
			mem_free(run->res);
			return -ENOMEM;
		}
		run->sealed = run->hdrs + n * FSCHUNK_HDR;
		memset(run->sealed, 0, n);
	}
	for (size_t i = 0; i < n; i++) {
		run->namelen[i] = (uint16_t)resp_key_name(&rio->conf, &job->keys[i], run->names[i]);
		run->node[i] = RIO_NO_NODE;
		run->ask[i] = 0;
		run->state[i] = K_NEW;
		run->res[i] = 0;
	}
	return 0;
}

void rio_key_fail(struct respio *rio, struct rio_run *run, size_t i, int code)
{
	run->state[i] = K_FAILED;
	run->res[i] = code;
	if (!run->first_err)
		run->first_err = code;
	bump(&rio->st_errors, 1);
}

static void set_bit(struct kvt_l2_task *task, size_t i)
{
	task->bitmap[i / 64] |= 1ull << (i % 64);
}

/* The node of key @i by its slot.  Return: index or -errno. */
static int route(struct respio *rio, struct rio_run *run, size_t i)
{
	unsigned int slot;

	if (!rio->conf.cluster)
		return 0;
	if ((!rio->map_loaded || rio->map_stale) && clock_now_ms() >= rio->map_next)
		rio_map_refresh(rio, NULL, 0);
	if (!rio->map_loaded)
		return -ENXIO;
	slot = resp_key_slot(run->names[i], run->namelen[i]);
	return rio->slot_node[slot] == RIO_NO_NODE ? -ENXIO : rio->slot_node[slot];
}

static int enqueue(struct rio_node *nd, uint32_t i)
{
	if (nd->nq == nd->qcap) {
		size_t cap = nd->qcap ? nd->qcap * 2 : 256;
		uint32_t *q = realloc(nd->q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		nd->q = q;
		nd->qcap = cap;
	}
	nd->q[nd->nq++] = i;
	return 0;
}

/* Queue the text (and segments) of key @i's command. */
static int add_cmd(struct respio *rio, struct rio_run *run, size_t i)
{
	struct resp_sendq *q = &rio->sq;
	const char *name = run->names[i];
	unsigned int nlen = run->namelen[i];
	int ret = 0;

	if (run->ask[i])
		ret = resp_sendq_text(q, "*1\r\n$6\r\nASKING\r\n");
	if (ret)
		return ret;
	switch (run->cmd) {
	case CMD_SET: {
		size_t len = run->job->lens[i];

		/* hashed here, not when the task came: the server parses the
		 * value written before this one meanwhile (a redirect resends it) */
		if (!run->sealed[i]) {
			resp_value_header(run->hdrs + i * FSCHUNK_HDR, &run->job->keys[i],
					  run->job->bufs[i], len);
			run->sealed[i] = 1;
		}
		ret = resp_sendq_text(q, "*%d\r\n$3\r\nSET\r\n$%u\r\n%s\r\n$%zu\r\n",
			      rio->conf.ttl_s ? 6 : 4, nlen, name, (size_t)FSCHUNK_HDR + len);
		if (!ret)
			ret = resp_sendq_ptr(q, run->hdrs + i * FSCHUNK_HDR, FSCHUNK_HDR);
		if (!ret)
			ret = resp_sendq_ptr(q, run->job->bufs[i], len);
		if (!ret)
			ret = resp_sendq_text(q, "\r\n$2\r\nNX\r\n");
		if (!ret && rio->conf.ttl_s) {
			char ttl[24];
			int tl = snprintf(ttl, sizeof(ttl), "%llu",
					  (unsigned long long)rio->conf.ttl_s);

			ret = resp_sendq_text(q, "$2\r\nEX\r\n$%d\r\n%s\r\n", tl, ttl);
		}
		return ret;
	}
	case CMD_STRLEN:
		return resp_sendq_text(q, "*2\r\n$6\r\nSTRLEN\r\n$%u\r\n%s\r\n", nlen, name);
	case CMD_GET:
		return resp_sendq_text(q, "*2\r\n$3\r\nGET\r\n$%u\r\n%s\r\n", nlen, name);
	case CMD_DEL:
		return resp_sendq_text(q, "*2\r\n$3\r\nDEL\r\n$%u\r\n%s\r\n", nlen, name);
	}
	return -EINVAL;
}

/* Fail every key queued on @nd from position @from. */
static void fail_rest(struct respio *rio, struct rio_run *run, struct rio_node *nd, size_t from,
		      int code)
{
	for (size_t k = from; k < nd->nq; k++)
		rio_key_fail(rio, run, nd->q[k], code);
	nd->qpos = nd->nq;
	nd->win_sent = false;
}

/* Write the send queue to @nd and empty it.  Return: 0 or -errno. */
static int sq_write(struct respio *rio, struct rio_node *nd)
{
	int ret = resp_sendq_flush(&rio->sq, nd->c->fd);

	if (!ret)
		bump(&rio->st_bytes_out, rio->sq.bytes);
	resp_sendq_reset(&rio->sq);
	return ret;
}

/*
 * Write @nd's next window of commands, in writes of about RIO_WRITE_BYTES:
 * a SET's value is hashed as it is queued, and while the actor hashes the
 * next one the server is already parsing those written (hashing a whole
 * window first would leave the server idle meanwhile).
 */
static void send_window(struct respio *rio, struct rio_run *run, struct rio_node *nd)
{
	size_t bytes = 0;
	int ret;

	ret = rio_node_ready(rio, nd);
	if (ret) {
		fail_rest(rio, run, nd, nd->qpos, ret);
		return;
	}
	resp_sendq_reset(&rio->sq);
	nd->win_from = nd->qpos;
	while (nd->qpos < nd->nq && nd->qpos - nd->win_from < rio->conf.max_inflight &&
	       bytes < RIO_WINDOW_BYTES) {
		size_t i = nd->q[nd->qpos];

		ret = add_cmd(rio, run, i);
		if (ret) {
			fail_rest(rio, run, nd, nd->win_from, ret);
			return;
		}
		if (run->cmd == CMD_SET || run->cmd == CMD_GET)
			bytes += run->job->lens[i];
		nd->qpos++;
		if (rio->sq.bytes >= RIO_WRITE_BYTES) {
			ret = sq_write(rio, nd);
			if (ret)
				goto err_write;
		}
	}
	ret = sq_write(rio, nd);
	if (ret)
		goto err_write;
	nd->win_sent = true;
	return;
err_write:
	rio_node_fail(rio, nd, "write", ret);
	fail_rest(rio, run, nd, nd->win_from, ret);
}

/* Handle key @i's reply @rr from node @from (a bulk body is read here).
 * Return: 0, or an I/O code (the connection is then unusable). */
static int on_reply(struct respio *rio, struct rio_run *run, size_t i, struct rio_node *from,
		    const struct rd_reply *rr)
{
	struct l2_job *job = run->job;
	struct resp_redirect rd;

	if (rr->type == '-' && resp_redirect_parse(rr->str, rr->len, &rd)) {
		int idx = rio_node_get(rio, rd.host[0] ? rd.host : from->host, rd.port);

		bump(&rio->st_redirections, 1);
		if (idx < 0) {
			rio_key_fail(rio, run, i, idx);
			return 0;
		}
		run->node[i] = (uint16_t)idx;
		run->ask[i] = rd.ask;
		run->state[i] = K_REDIRECT;
		if (!rd.ask && rio->conf.cluster) {
			rio->slot_node[rd.slot] = (uint16_t)idx;
			rio->nodes[idx]->owns = true;
			run->moved = true;
		}
		return 0;
	}
	if (rr->type == '-') {
		rio_set_error(rio, "%s:%d: %s: %s", from->host, from->port, run->names[i], rr->str);
		if (run->cmd == CMD_SET)
			bump(&rio->st_refused, 1);
		rio_key_fail(rio, run, i, rio_refusal_code(rr->str));
		return 0;
	}
	if (rr->type == '$' && rr->integer >= 0 && run->cmd != CMD_GET) {
		int ret = rio_rd_bytes(from, NULL, (size_t)rr->integer + 2);

		if (ret)
			return ret;
		rio_key_fail(rio, run, i, -EPROTO);
		return 0;
	}
	run->state[i] = K_DONE;
	switch (run->cmd) {
	case CMD_SET:
		if (rr->type == '+') {
			run->bytes += job->lens[i];
			bump(&rio->st_stores, 1);
		} else if (rr->type != '$') {   /* $-1: NX found it stored */
			rio_key_fail(rio, run, i, -EPROTO);
			return 0;
		}
		set_bit(job->task, i);
		run->ok++;
		return 0;
	case CMD_STRLEN:
		if (rr->type != ':' || rr->integer < (long long)FSCHUNK_HDR)
			return 0;
		/* a hit we could not lock would be a lie: call it a miss */
		if (!rio_lock_take(rio, &job->keys[i]))
			return 0;
		set_bit(job->task, i);
		if (job->task->lens)
			job->task->lens[i] = (size_t)rr->integer - FSCHUNK_HDR;
		run->ok++;
		return 0;
	case CMD_GET: {
		struct fschunk_info info;
		int res, ret;

		if (rr->type != '$' || rr->integer < 0)
			return 0;
		bump(&rio->st_bytes_in, (uint64_t)rr->integer);
		ret = rio_rd_value(rio, run, i, from, (size_t)rr->integer, &res, &info);
		if (ret)
			return ret;
		if (res == -EBADMSG) {
			bump(&rio->st_corrupt, 1);
			run->corrupt[run->ncorrupt++] = (uint32_t)i;
		}
		if (res)
			return 0;
		if (job->task->lens)
			job->task->lens[i] = info.len;
		set_bit(job->task, i);
		run->bytes += info.len;
		run->ok++;
		bump(&rio->st_loads, 1);
		return 0;
	}
	case CMD_DEL:
		if (rr->type != ':') {
			rio_key_fail(rio, run, i, -EPROTO);
			return 0;
		}
		run->res[i] = rr->integer > 0 ? 0 : -ENOENT;
		if (rr->integer > 0) {
			job->deleted++;
			run->ok++;
		}
		return 0;
	}
	return 0;
}

/* Read the replies of @nd's window. */
static void read_window(struct respio *rio, struct rio_run *run, struct rio_node *nd)
{
	for (size_t k = nd->win_from; k < nd->qpos; k++) {
		size_t i = nd->q[k];
		struct rd_reply rr;
		int ret;

		nd->rd_cap = run->cmd == CMD_GET && run->job->lens[i] >= RD_DIRECT_MIN ?
				     RD_HEAD_READ : RD_BUF;
		/* ASKING's +OK first: it only arms the next command */
		if (run->ask[i]) {
			ret = rio_rd_head(nd, &rr);
			if (ret)
				goto err_io;
		}
		ret = rio_rd_head(nd, &rr);
		if (!ret)
			ret = on_reply(rio, run, i, nd, &rr);
		if (!ret)
			continue;
err_io:
		rio_node_fail(rio, nd, "read", ret);
		fail_rest(rio, run, nd, k, ret);
		return;
	}
	bump(&rio->st_round_trips, 1);
	nd->win_sent = false;
}

/* One round: every queued key's command is sent and answered. */
static void run_round(struct respio *rio, struct rio_run *run)
{
	bool more = true;

	while (more) {
		more = false;
		/* write every node's window before reading any: they work in parallel */
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->qpos < rio->nodes[n]->nq)
				send_window(rio, run, rio->nodes[n]);
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->win_sent)
				read_window(rio, run, rio->nodes[n]);
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->qpos < rio->nodes[n]->nq)
				more = true;
	}
}

void rio_run_exec(struct respio *rio, struct rio_run *run)
{
	for (int round = 0;; round++) {
		size_t queued = 0;

		for (size_t n = 0; n < rio->nnodes; n++)
			rio->nodes[n]->nq = rio->nodes[n]->qpos = 0;
		for (size_t i = 0; i < run->job->n; i++) {
			int idx;

			if (run->state[i] != K_NEW && run->state[i] != K_REDIRECT)
				continue;
			if (round == RIO_MAX_ROUNDS) {
				rio_key_fail(rio, run, i, -ELOOP);
				continue;
			}
			idx = run->state[i] == K_NEW ? route(rio, run, i) : run->node[i];
			if (idx < 0 || enqueue(rio->nodes[idx], (uint32_t)i)) {
				rio_key_fail(rio, run, i, idx < 0 ? idx : -ENOMEM);
				continue;
			}
			run->state[i] = K_QUEUED;
			queued++;
		}
		if (!queued)
			break;
		run_round(rio, run);
		if (run->moved) {
			rio_map_refresh(rio, NULL, 0);
			run->moved = false;
		}
	}
}
