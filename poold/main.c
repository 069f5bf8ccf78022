/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/main.c - kvtier-poold, the shared CXL pool daemon.
 *
 * Owns pool memory (Device-DAX devices, or files under /dev/shm for
 * development), hands regions to engine processes and keeps the shared key
 * registry, speaking Maru's metadata RPC (ZeroMQ) and resource-manager
 * protocol (Unix socket) so Maru's clients work unchanged.  Runs in the
 * foreground (systemd, or --daemon to detach); logs to stderr; SIGTERM or
 * SIGINT stops it cleanly: front ends first, then the pin-monitor, the
 * index and the allocation manager, then the pool files are removed.
 *
 * Signals are blocked before any actor starts, so only this thread takes
 * them, in sigwaitinfo().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"
#include "core/metrics_http.h"
#include "poold/metrics.h"
#include "poold/poold.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-poold [options]\n"
		"\n"
		"Shared CXL pool daemon: Maru-compatible metadata RPC and resource manager.\n"
		"\n"
		"  --rpc ADDR            ZeroMQ endpoint, repeatable (default tcp://127.0.0.1:5555;\n"
		"                        ipc:///path works too)\n"
		"  --rm-socket PATH      resource-manager Unix socket (default /run/kvtier-poold.sock)\n"
		"  --rm-tcp HOST:PORT    the resource manager over TCP too (Maru's current clients:\n"
		"                        GET_ACCESS answers a path they open and map themselves;\n"
		"                        HANDSHAKE then names this address as rm_address)\n"
		"  --pool PATH[:SIZE]    a pool: /dev/daxN.M (size from sysfs unless SIZE), or a file\n"
		"                        created 0600 of SIZE bytes (K, M, G suffixes); repeatable\n"
		"  --shm-pool SIZE       a pool file /dev/shm/kvtier-poold.PID.N, unlinked once open\n"
		"  --max-pins-per-key N  pins one key may hold, all clients together (default 64; 0: no cap)\n"
		"  --pin-ttl-ms MS       the pin-monitor releases pins older than this (default 60000; 0: never)\n"
		"  --client-lease-ms MS  a client silent this long is gone: its pins go and its regions\n"
		"                        are released (default 60000; 0: only a closed socket counts)\n"
		"  --max-payload BYTES   largest RPC payload (default 16M)\n"
		"  --metrics ADDR        serve Prometheus /metrics on HOST:PORT (e.g. 127.0.0.1:9465):\n"
		"                        RPC latency by type, requests, errors, pool occupancy\n"
		"  --register-any-region any connection may register keys into any existing region,\n"
		"                        not only a live one of its own (Maru's rule; its benchmark\n"
		"                        registers into regions another, closed connection allocated)\n"
		"  --shared-index SLOTS  publish the key registry in shared memory with this many\n"
		"                        slots (a power of two, default 1048576; 0: none), so the\n"
		"                        pool adapter looks keys up without an RPC\n"
		"  --shared-index-flush  write each changed index line back (clflush): readers on\n"
		"                        hosts without hardware coherence\n"
		"  --daemon              detach from the terminal (stderr stays open)\n"
		"  --help                this text\n"
		"\n"
		"Logging: KVT_LOG=error|warn|info|debug (default warn).\n"
		"Prints \"kvtier-poold: ready\" on stderr once every socket listens, and tells\n"
		"systemd READY=1 (sd_notify, when $NOTIFY_SOCKET is set); STOPPING=1 on SIGTERM.\n"
		"Exit status: 0 clean stop, 1 failure, 2 usage error.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i') + (end[1] == 'B');
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_size(s, &v) || v > UINT32_MAX) {
		fprintf(stderr, "kvtier-poold: %s: \"%s\": must be an integer between 0 and %u\n",
			opt, s, UINT32_MAX);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int add_pool(struct pool *p, const char *spec, uint64_t size)
{
	char path[PATH_MAX], err[PATH_MAX + 128];
	const char *colon = strrchr(spec, ':');
	int ret;

	if (p->ndevs == POOL_MAX_DEVS) {
		fprintf(stderr, "kvtier-poold: at most %d pools\n", POOL_MAX_DEVS);
		return -E2BIG;
	}
	snprintf(path, sizeof(path), "%s", spec);
	if (colon && !size) {
		path[colon - spec] = 0;
		if (parse_size(colon + 1, &size)) {
			fprintf(stderr, "kvtier-poold: --pool: \"%s\": bad size\n", spec);
			return -EINVAL;
		}
	}
	ret = pool_dev_open(&p->devs[p->ndevs], path, size, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-poold: %s\n", err);
		return ret;
	}
	log_info("pool %u: \"%s\", %llu bytes, align %llu", p->ndevs, path,
		 (unsigned long long)p->devs[p->ndevs].size,
		 (unsigned long long)p->devs[p->ndevs].align);
	p->ndevs++;
	return 0;
}

enum { OPT_RPC = 256, OPT_RM, OPT_POOL, OPT_SHM, OPT_PINS, OPT_TTL, OPT_LEASE, OPT_PAYLOAD,
       OPT_DAEMON, OPT_METRICS, OPT_HELP, OPT_ANY_REGION, OPT_RM_TCP, OPT_SHIDX,
       OPT_SHIDX_FLUSH };

static const struct option longopts[] = {
	{ "rpc", required_argument, NULL, OPT_RPC },
	{ "rm-socket", required_argument, NULL, OPT_RM },
	{ "rm-tcp", required_argument, NULL, OPT_RM_TCP },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "shm-pool", required_argument, NULL, OPT_SHM },
	{ "max-pins-per-key", required_argument, NULL, OPT_PINS },
	{ "pin-ttl-ms", required_argument, NULL, OPT_TTL },
	{ "client-lease-ms", required_argument, NULL, OPT_LEASE },
	{ "max-payload", required_argument, NULL, OPT_PAYLOAD },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "register-any-region", no_argument, NULL, OPT_ANY_REGION },
	{ "shared-index", required_argument, NULL, OPT_SHIDX },
	{ "shared-index-flush", no_argument, NULL, OPT_SHIDX_FLUSH },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static struct pool P;

int main(int argc, char **argv)
{
	struct pool *p = &P;
	struct rpc_fe *rpc = NULL;
	struct rm_fe *rm = NULL;
	char err[PATH_MAX + 128], shm[PATH_MAX];
	const char *metrics_addr = NULL;
	bool detach = false;
	int status = 1, opt, ret, nshm = 0;
	sigset_t sigs;
	siginfo_t si;
	uint64_t v;

	memset(p, 0, sizeof(*p));
	p->opts.rm_socket = "/run/kvtier-poold.sock";
	p->opts.max_pins_per_key = 64;
	p->opts.pin_ttl_ms = 60000;
	p->opts.client_lease_ms = 60000;
	p->opts.max_payload = 16u << 20;
	p->opts.shidx_slots = SHIDX_DEFAULT_SLOTS;
	p->uid = getuid();
	/* pools are opened while parsing: a bad one fails before anything listens */
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_RPC:
			if (p->opts.nrpc == 4) {
				fprintf(stderr, "kvtier-poold: --rpc: at most 4 endpoints\n");
				goto out_usage;
			}
			p->opts.rpc_addr[p->opts.nrpc++] = optarg;
			break;
		case OPT_RM: p->opts.rm_socket = optarg; break;
		case OPT_RM_TCP: p->opts.rm_tcp = optarg; break;
		case OPT_POOL:
			if (add_pool(p, optarg, 0))
				goto out_pools;
			break;
		case OPT_SHM:
			if (parse_size(optarg, &v) || !v) {
				fprintf(stderr, "kvtier-poold: --shm-pool: \"%s\": bad size\n", optarg);
				goto out_usage;
			}
			snprintf(shm, sizeof(shm), "/dev/shm/kvtier-poold.%d.%d", (int)getpid(), nshm++);
			if (add_pool(p, shm, v))
				goto out_pools;
			break;
		case OPT_PINS:
			if (parse_u32("--max-pins-per-key", optarg, &p->opts.max_pins_per_key))
				goto out_usage;
			break;
		case OPT_TTL:
			if (parse_u32("--pin-ttl-ms", optarg, &p->opts.pin_ttl_ms))
				goto out_usage;
			break;
		case OPT_LEASE:
			if (parse_u32("--client-lease-ms", optarg, &p->opts.client_lease_ms))
				goto out_usage;
			break;
		case OPT_PAYLOAD:
			if (parse_u32("--max-payload", optarg, &p->opts.max_payload) ||
			    p->opts.max_payload < 64)
				goto out_usage;
			break;
		case OPT_DAEMON: detach = true; break;
		case OPT_METRICS:
			if (metrics_addr_parse(optarg, NULL, NULL, err, sizeof(err))) {
				fprintf(stderr, "kvtier-poold: --metrics \"%s\": %s\n", optarg, err);
				goto out_usage;
			}
			metrics_addr = optarg;
			break;
		case OPT_ANY_REGION:
			p->opts.register_any_region = true;
			log_warn("--register-any-region: any connection may register keys into "
				 "any existing region (Maru's rule), not only into a live one of its own");
			break;
		case OPT_SHIDX:
			if (parse_size(optarg, &v) || (v && (v < SHIDX_MIN_SLOTS ||
			    v > SHIDX_MAX_SLOTS || (v & (v - 1))))) {
				fprintf(stderr, "kvtier-poold: --shared-index: \"%s\": must be 0 or a "
					"power of two from %u to %llu\n", optarg, SHIDX_MIN_SLOTS,
					(unsigned long long)SHIDX_MAX_SLOTS);
				goto out_usage;
			}
			p->opts.shidx_slots = v;
			break;
		case OPT_SHIDX_FLUSH: p->opts.shidx_flush = true; break;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			status = 0;
			goto out_pools;
		default:
			goto out_usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvtier-poold: unexpected argument \"%s\"\n", argv[optind]);
		goto out_usage;
	}
	if (!p->opts.nrpc)
		p->opts.rpc_addr[p->opts.nrpc++] = "tcp://127.0.0.1:5555";
	if (!p->ndevs) {
		fprintf(stderr, "kvtier-poold: no pool: give --pool or --shm-pool\n");
		goto out_usage;
	}
	if (detach && daemon(0, 1)) {
		fprintf(stderr, "kvtier-poold: daemon: %s\n", strerror(errno));
		goto out_pools;
	}
	ret = maru_token_init(&p->tkey);
	if (ret) {
		fprintf(stderr, "kvtier-poold: getrandom: %s\n", strerror(-ret));
		goto out_pools;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ret = pool_index_create(p);
	if (ret) {
		fprintf(stderr, "kvtier-poold: index: %s\n", strerror(-ret));
		goto out_pools;
	}
	ret = rpc_fe_create(p, &rpc, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-poold: %s\n", err);
		goto out_index;
	}
	ret = rm_fe_create(p, &rm, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-poold: %s\n", err);
		goto out_rpc;
	}
	ret = metrics_addr ? poold_metrics_start(p, metrics_addr, err, sizeof(err)) : 0;
	if (ret) {
		fprintf(stderr, "kvtier-poold: %s\n", err);
		rm_fe_destroy(rm);
		goto out_rpc;
	}
	if ((ret = actor_start(&p->alloc, "pool-alloc", &pool_alloc_ops, p, 256, 1000, -1)))
		goto out_actors;
	if ((ret = actor_start(&p->index, "pool-index", &pool_index_ops, p, 1024, 1000, -1)))
		goto out_actors;
	if ((ret = actor_start(&p->pinmon, "pool-pinmon", &pool_pinmon_ops, p, 16, 1000, -1)))
		goto out_actors;
	if ((ret = actor_start(rm_fe_actor(rm), "pool-rm", &rm_fe_ops, rm, 16, 1000, -1)))
		goto out_actors;
	if ((ret = actor_start(rpc_fe_actor(rpc), "pool-rpc", &rpc_fe_ops, rpc, 16, 1000, -1)))
		goto out_actors;
	fprintf(stderr, "kvtier-poold: ready: rpc %s, rm %s, %u pool(s)\n", p->opts.rpc_addr[0],
		p->opts.rm_socket, p->ndevs);
	/* Both front ends bound and listened in their _create(), so clients can connect now */
	sd_notifyf(0, "READY=1\nSTATUS=rpc %s, rm %s, %u pool(s)\nMAINPID=%d",
		   p->opts.rpc_addr[0], p->opts.rm_socket, p->ndevs, (int)getpid());
	for (;;) {
		int sig = sigwaitinfo(&sigs, &si);

		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	log_info("stopping");
	status = 0;

out_actors:
	if (ret)
		fprintf(stderr, "kvtier-poold: cannot start actors: %s\n", strerror(-ret));
	actor_stop(rpc_fe_actor(rpc));
	actor_stop(rm_fe_actor(rm));
	actor_stop(&p->pinmon);
	actor_stop(&p->index);
	actor_stop(&p->alloc);
	poold_metrics_stop(p);
	rm_fe_destroy(rm);
out_rpc:
	rpc_fe_destroy(rpc);
out_index:
	pool_index_destroy(p);
out_pools:
	for (uint32_t i = 0; i < p->ndevs; i++)
		pool_dev_close(&p->devs[i]);
	if (status == 0 && p->opts.nrpc)
		fprintf(stderr, "kvtier-poold: stopped\n");
	return status;

out_usage:
	usage(stderr);
	status = 2;
	goto out_pools;
}
