/* SPDX-License-Identifier: Apache-2.0 */
/* l2/resp/resp_value.c - see resp_value.h. */
#include "l2/resp/resp_value.h"

#include <errno.h>
#include <string.h>

size_t resp_key_name(const struct resp_conf *conf, const struct kvt_key *key,
		     char out[RESP_KEY_MAX])
{
	char name[FSCHUNK_NAME_LEN + 1];

	fschunk_name(key, name);
	memcpy(out, conf->keyhead, conf->keyhead_len);
	memcpy(out + conf->keyhead_len, name, 32);
	out[conf->keyhead_len + 32] = 0;
	return conf->keyhead_len + 32;
}

void resp_value_header(void *hdr, const struct kvt_key *key, const void *payload, size_t len)
{
	fschunk_hdr_encode(hdr, key, len, fschunk_sum(payload, len));
}

int resp_value_check(const void *val, size_t len, const struct kvt_key *key, uint64_t max_len,
		     struct fschunk_info *info)
{
	int ret = fschunk_hdr_check(val, len, key, max_len, info);

	if (ret)
		return ret;
	if (len - FSCHUNK_HDR != info->len)
		return -EBADMSG;
	if (!fschunk_payload_ok(info, (const uint8_t *)val + FSCHUNK_HDR, len - FSCHUNK_HDR))
		return -EBADMSG;
	return 0;
}
