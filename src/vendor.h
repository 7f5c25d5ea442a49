/*-------------------------------------------------------------------------
 *
 * vendor.h
 *	  How a request to a vendor account authenticates: Fivetran Basic auth
 *	  with its versioned Accept header, Airbyte bearer tokens from the
 *	  client-credentials grant, cached per account until shortly before
 *	  they expire.  Shared by the collector and the executor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_VENDOR_H
#define SYNCOPT_VENDOR_H

#include "http.h"

/* An account's API coordinates; the strings belong to the caller. */
typedef struct VendorAccount
{
	int64		account_id;
	char	   *vendor;			/* fivetran or airbyte */
	char	   *base_url;		/* without a trailing slash */
	char	   *api_key;
	char	   *api_secret;
	char	   *token;			/* Airbyte bearer token (the cache's copy) */
}			VendorAccount;

/* What vendor_airbyte_token() did. */
typedef enum VendorTokenResult
{
	VENDOR_TOKEN_CACHED,		/* a cached token is still good; no request */
	VENDOR_TOKEN_ISSUED,		/* a new token was issued; *req holds the call */
	VENDOR_TOKEN_HTTP_FAILED,	/* the call failed or was refused; see *req */
	VENDOR_TOKEN_BAD_REPLY		/* 2xx without access_token and expires_in */
}			VendorTokenResult;

extern void vendor_request_init(const VendorAccount *acct, HttpRequest *req,
								const char *method, char *url);
extern VendorTokenResult vendor_airbyte_token(VendorAccount *acct, bool renew,
											  HttpRequest *req);
extern void vendor_scrub_response(const VendorAccount *acct, HttpRequest *req);
extern void vendor_forget_secrets(VendorAccount *acct);

#endif							/* SYNCOPT_VENDOR_H */
