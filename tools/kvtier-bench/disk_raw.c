/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk_raw.c - the raw side of `kvtier-bench disk`, the
 * limit the fs adapter is measured against: one O_DIRECT file per chunk,
 * opened, written or read by io_uring, closed, --depth in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/kvtier-bench/disk_bench.h"

int raw_phase(struct rig *r, bool write)
{
	size_t next = 0, done = 0;
	unsigned int inflight = 0;
	int ret = 0;

	while (inflight || (!ret && next < r->n)) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int rc;

		while (!ret && inflight < r->o->depth && next < r->n) {
			struct io_uring_sqe *sqe;
			char name[32];
			int fd;

			snprintf(name, sizeof(name), "c%08zu", next);
			fd = openat(r->raw_dirfd, name,
				    write ? O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC
					  : O_RDONLY | O_DIRECT | O_CLOEXEC, 0600);
			if (fd < 0) {
				ret = -errno;
				fprintf(stderr, "kvtier-bench: raw: open %s: %s\n", name,
					strerror(errno));
				break;
			}
			/* never NULL: the ring has room for depth entries */
			sqe = io_uring_get_sqe(&r->ring);
			if (write)
				io_uring_prep_write(sqe, fd, r->bufs[next],
						    (unsigned int)r->chunk_bytes, 0);
			else
				io_uring_prep_read(sqe, fd, r->bufs[next],
						   (unsigned int)r->chunk_bytes, 0);
			io_uring_sqe_set_data64(sqe, next);
			r->fds[next++] = fd;
			inflight++;
		}
		if (!inflight)
			break;
		do
			rc = io_uring_submit_and_wait(&r->ring, 1);
		while (rc == -EINTR);
		if (rc < 0) {
			/* the caller tears the ring down, which waits for what is in
			 * flight, before the buffers go */
			fprintf(stderr, "kvtier-bench: raw: io_uring_submit: %s\n", strerror(-rc));
			return rc;
		}
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			size_t i = (size_t)io_uring_cqe_get_data64(cqe);

			close(r->fds[i]);
			if (cqe->res != (int)r->chunk_bytes && !ret) {
				ret = cqe->res < 0 ? cqe->res : -EIO;
				fprintf(stderr, "kvtier-bench: raw: %s c%08zu: %s\n",
					write ? "write" : "read", i,
					cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
			}
			seen++;
		}
		io_uring_cq_advance(&r->ring, seen);
		inflight -= seen;
		done += seen;
		progress_update(r->prog, r->prog_base + done);
	}
	if (!ret && write && syncfs(r->raw_dirfd)) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench: raw: syncfs: %s\n", strerror(errno));
	}
	return ret;
}

int raw_unlink_all(struct rig *r)
{
	for (size_t i = 0; i < r->n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "c%08zu", i);
		if (unlinkat(r->raw_dirfd, name, 0)) {
			fprintf(stderr, "kvtier-bench: raw: unlink %s: %s\n", name,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}
