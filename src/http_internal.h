/*-------------------------------------------------------------------------
 *
 * http_internal.h
 *	  The transport's rules (http_rules.c) as the transfer machinery
 *	  (http.c) uses them; nothing outside the transport includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_HTTP_INTERNAL_H
#define SYNCOPT_HTTP_INTERNAL_H

#include "http.h"

extern bool http_url_permitted(HttpRequest *req);
extern int	http_header_int(const char *value, size_t len);
extern long http_backoff_ms(int attempt);
extern char *http_body_sanitize(const char *buf, size_t len, size_t *out_len);

#endif							/* SYNCOPT_HTTP_INTERNAL_H */
