/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/log.h - messages to stderr, filtered by KVT_LOG (error, warn, info,
 * debug; default warn).  Threads: any; one write(2) per message.
 */
#ifndef KVT_CORE_LOG_H
#define KVT_CORE_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* KVT_CORE_LOG_H */
