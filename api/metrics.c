/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/metrics.c - the instance's Prometheus endpoint (metrics.listen):
 * histograms allocated and the server started last at open, stopped first
 * at close, so a scrape only ever reads a fully opened instance.
 */
#include <errno.h>
#include <stdio.h>

#include "core/instance.h"
#include "core/mem.h"
#include "core/metrics_http.h"

static void render(void *arg, struct prom_text *t)
{
	stats_render(arg, t);
}

int metrics_open(struct kvt *kvt, char *err, size_t errlen)
{
	struct kvt_metrics *m;
	int ret;

	if (!kvt->cfg.metrics_listen[0])
		return 0;
	m = mem_aligned_zalloc(64, sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* recording starts with the first call after kvt_open() returns; the
	 * pointer is published to other threads by whatever hands them kvt */
	kvt->metrics = m;
	ret = metrics_http_start(kvt->cfg.metrics_listen, render, kvt, &m->http, err, errlen);
	if (ret) {
		kvt->metrics = NULL;
		mem_free(m);
	}
	return ret;
}

void metrics_close(struct kvt *kvt)
{
	if (kvt->metrics)
		metrics_http_stop(kvt->metrics->http);
}

void metrics_free(struct kvt *kvt)
{
	mem_free(kvt->metrics);
	kvt->metrics = NULL;
}
