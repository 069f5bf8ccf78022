/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/errors.c - kvt_strerror(): the meaning each code has in kvtier.
 */
#include <errno.h>
#include <string.h>

#include "kvtier.h"

const char *kvt_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EBUSY:
		return "key is pinned";
	case EMSGSIZE:
		return "chunk larger than a slot";
	case ESHUTDOWN:
		return "kvtier is closing";
	case ETIMEDOUT:
		return "bounded wait expired (mailbox full or no slot freed in time)";
	case ENOSPC:
		return "no free slot: every entry is pinned, borrowed or in flight";
	case ENOENT:
		return "no such key";
	case ESTALE:
		return "stale handle: the slot was released or reused";
	case EINVAL:
		return "invalid argument or config value";
	case ENOMEM:
		return "out of memory";
	case EEXIST:
		return "device holds data kvtier will not overwrite: another namespace or chunk shape, or not kvtier's (dax.reinit formats it)";
	case EPROTO:
		return "device format version not supported";
	case EIO:
		return "I/O error (a restore or device copy failed)";
	default:
		return strerror(err);
	}
}
