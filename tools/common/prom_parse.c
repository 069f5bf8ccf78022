/* SPDX-License-Identifier: Apache-2.0 */
/* tools/common/prom_parse.c - see prom_parse.h. */
#include "tools/common/prom_parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad_line(char *err, size_t errlen, const char *line, size_t len, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "metrics line '%.*s': %s", (int)(len > 120 ? 120 : len),
			 line, why);
	return -EINVAL;
}

static int parse_line(const char *line, size_t len, struct prom_sample *s, char *err,
		      size_t errlen)
{
	size_t i = 0, n;
	char num[64], *end;

	while (i < len && (line[i] == '_' || line[i] == ':' || (line[i] >= 'a' && line[i] <= 'z') ||
			   (line[i] >= 'A' && line[i] <= 'Z') || (i && line[i] >= '0' && line[i] <= '9')))
		i++;
	if (!i || i >= sizeof(s->name))
		return bad_line(err, errlen, line, len, "no metric name");
	memcpy(s->name, line, i);
	s->name[i] = '\0';
	s->labels[0] = '\0';
	if (i < len && line[i] == '{') {
		size_t start = ++i;
		bool quoted = false;

		for (; i < len && (quoted || line[i] != '}'); i++) {
			if (line[i] == '\\' && quoted)
				i++;
			else if (line[i] == '"')
				quoted = !quoted;
		}
		if (i >= len || i - start >= sizeof(s->labels))
			return bad_line(err, errlen, line, len, "labels not closed or too long");
		memcpy(s->labels, line + start, i - start);
		s->labels[i - start] = '\0';
		i++;
	}
	if (i >= len || line[i] != ' ')
		return bad_line(err, errlen, line, len, "no space before the value");
	while (i < len && line[i] == ' ')
		i++;
	n = strcspn(line + i, " \n");
	if (n > len - i)
		n = len - i;
	if (!n || n >= sizeof(num))
		return bad_line(err, errlen, line, len, "no value");
	memcpy(num, line + i, n);
	num[n] = '\0';
	if (strcmp(num, "+Inf") == 0)
		s->value = INFINITY;
	else if (strcmp(num, "-Inf") == 0)
		s->value = -INFINITY;
	else {
		s->value = strtod(num, &end);
		if (*end)
			return bad_line(err, errlen, line, len, "the value is not a number");
	}
	return 0;
}

int prom_parse(const char *text, struct prom_samples *out, char *err, size_t errlen)
{
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	while (*text) {
		size_t len = strcspn(text, "\n");
		int ret;

		if (len && text[0] != '#') {
			if (out->n == cap) {
				struct prom_sample *v;

				cap = cap ? cap * 2 : 256;
				v = realloc(out->v, cap * sizeof(*v));
				if (!v) {
					prom_samples_free(out);
					return -ENOMEM;
				}
				out->v = v;
			}
			ret = parse_line(text, len, &out->v[out->n], err, errlen);
			if (ret) {
				prom_samples_free(out);
				return ret;
			}
			out->n++;
		}
		text += len + (text[len] == '\n');
	}
	return 0;
}

void prom_samples_free(struct prom_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

double prom_value(const struct prom_samples *s, const char *name, const char *labels,
		  bool *found)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].name, name) == 0 && strcmp(s->v[i].labels, labels) == 0) {
			if (found)
				*found = true;
			return s->v[i].value;
		}
	}
	if (found)
		*found = false;
	return 0;
}

void prom_label(const char *labels, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = labels;

	buf[0] = '\0';
	while (*p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=' && p[kl + 1] == '"') {
			size_t n = strcspn(p + kl + 2, "\"");

			snprintf(buf, len, "%.*s", (int)n, p + kl + 2);
			return;
		}
		p += strcspn(p, ",");
		p += *p == ',';
	}
}
