/*-------------------------------------------------------------------------
 *
 * vendor.c
 *	  Authenticating requests to Fivetran and Airbyte accounts.
 *
 * Airbyte's access tokens live a few minutes; both the collector and the
 * executor need one per account, so they share a small per-process cache
 * keyed by account and by a hash of what the token was issued for (base
 * URL and credentials), so that new credentials never reuse an old token.
 * Tokens are wiped from memory when dropped.
 *
 * Vendors sometimes quote the request in an error (Authorization header,
 * request body): every answer is scrubbed of the account's credentials
 * here, before anything stores, parses or logs it (vendor_scrub_response).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "json_try.h"
#include "pg_compat.h"
#include "vendor.h"

/* Tokens are renewed this long before they expire (at most). */
#define TOKEN_MARGIN_S 60

/*
 * Credentials shorter than this are not cut out of answers: such short
 * strings occur in ordinary text, and cutting them would corrupt answers.
 */
#define SCRUB_MIN_LEN 6

/* What replaces a credential in an answer. */
#define SCRUB_MARK "[redacted]"

/*
 * The shortest value after "Basic " or "Bearer " taken for a credential:
 * tokens and base64 pairs are long, words in names and messages are not.
 */
#define SCRUB_MIN_TOKEN_LEN 16

/* Cached Airbyte access tokens, by account. */
#define TOKEN_CACHE_SIZE 32

typedef struct CachedToken
{
	int64		account_id;
	uint32		credentials_hash;	/* base URL and credentials it was issued for */
	TimestampTz renew_at;
	char	   *token;			/* in TopMemoryContext */
}			CachedToken;

static CachedToken token_cache[TOKEN_CACHE_SIZE];

/* Prepare a request to the account's API, authenticated as its vendor wants. */
void
vendor_request_init(const VendorAccount *acct, HttpRequest *req, const char *method, char *url)
{
	memset(req, 0, sizeof(HttpRequest));
	req->method = method;
	req->url = url;
	if (strcmp(acct->vendor, "fivetran") == 0)
	{
		req->auth = HTTP_AUTH_BASIC;
		req->user = acct->api_key;
		req->password = acct->api_secret;
		req->accept = "application/json;version=2";
	}
	else
	{
		req->auth = HTTP_AUTH_BEARER;
		req->token = acct->token;
	}
}

/* Hash of what a token was issued for: base URL and credentials. */
static uint32
credentials_hash(const VendorAccount *acct)
{
	StringInfoData buf;
	uint32		hash;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\n%s\n%s", acct->base_url, acct->api_key, acct->api_secret);
	hash = hash_bytes((unsigned char *) buf.data, buf.len);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
	return hash;
}

/* The cache slot of an account's token (a free or the oldest slot if none). */
static CachedToken *
token_slot(int64 account_id)
{
	CachedToken *oldest = &token_cache[0];

	for (int i = 0; i < TOKEN_CACHE_SIZE; i++)
	{
		if (token_cache[i].account_id == account_id)
			return &token_cache[i];
		if (token_cache[i].renew_at < oldest->renew_at)
			oldest = &token_cache[i];
	}
	return oldest;
}

/* Forget an account's cached token (rejected, or the slot is reused). */
static void
token_forget(CachedToken *slot)
{
	if (slot->token != NULL)
	{
		explicit_bzero(slot->token, strlen(slot->token));
		pfree(slot->token);
	}
	memset(slot, 0, sizeof(CachedToken));
}

/* A string member of a JSON object, or NULL. */
static char *
jsonb_string_member(Jsonb *jb, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Airbyte: set acct->token, from the cache while it has at least
 * TOKEN_MARGIN_S (or a fifth of its life) left, else from
 * POST /applications/token with the client credentials (renew forces
 * that, after a 401).  When a request was made, *req describes it.
 */
VendorTokenResult
vendor_airbyte_token(VendorAccount *acct, bool renew, HttpRequest *req)
{
	CachedToken *slot = token_slot(acct->account_id);
	uint32		hash = credentials_hash(acct);
	StringInfoData body;
	Jsonb	   *reply;
	JsonbValue *expires;
	char	   *token;
	int64		lifetime;

	if (!renew && slot->account_id == acct->account_id && slot->credentials_hash == hash &&
		slot->token != NULL && GetCurrentTimestamp() < slot->renew_at)
	{
		acct->token = slot->token;
		return VENDOR_TOKEN_CACHED;
	}
	token_forget(slot);
	acct->token = NULL;

	initStringInfo(&body);
	appendStringInfoString(&body, "{\"client_id\": ");
	escape_json(&body, acct->api_key);
	appendStringInfoString(&body, ", \"client_secret\": ");
	escape_json(&body, acct->api_secret);
	appendStringInfoString(&body, ", \"grant-type\": \"client_credentials\"}");

	memset(req, 0, sizeof(HttpRequest));
	req->method = "POST";
	req->url = psprintf("%s/applications/token", acct->base_url);
	req->body = body.data;
	req->auth = HTTP_AUTH_NONE;
	http_execute(req, 1);
	explicit_bzero(body.data, body.len);
	req->body = NULL;
	if (req->failure != HTTP_OK || req->status < 200 || req->status > 299)
	{
		vendor_scrub_response(acct, req);
		return VENDOR_TOKEN_HTTP_FAILED;
	}

	reply = json_try_parse(req->response);
	token = reply ? jsonb_string_member(reply, "access_token") : NULL;
	expires = reply ? getKeyJsonValueFromContainer(&reply->root, "expires_in", 10, NULL) : NULL;
	if (token == NULL || token[0] == '\0' || expires == NULL || expires->type != jbvNumeric)
		return VENDOR_TOKEN_BAD_REPLY;
	lifetime = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(expires->val.numeric)));
	slot->account_id = acct->account_id;
	slot->credentials_hash = hash;
	slot->token = MemoryContextStrdup(TopMemoryContext, token);
	slot->renew_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 (lifetime - Min(TOKEN_MARGIN_S, lifetime / 5)) * 1000L);
	explicit_bzero(token, strlen(token));
	/* The reply held the token too; wipe it before the buffer is freed. */
	explicit_bzero(req->response, req->response_len);
	acct->token = slot->token;
	return VENDOR_TOKEN_ISSUED;
}

/* Wipe the account's credentials from memory once they are no longer needed. */
void
vendor_forget_secrets(VendorAccount *acct)
{
	if (acct->api_key)
		explicit_bzero(acct->api_key, strlen(acct->api_key));
	if (acct->api_secret)
		explicit_bzero(acct->api_secret, strlen(acct->api_secret));
	acct->token = NULL;
}

/* Add a credential, and its JSON-escaped form if that differs, to the needles. */
static int
add_needle(char **needles, int n, const char *secret)
{
	StringInfoData escaped;

	if (secret == NULL || strlen(secret) < SCRUB_MIN_LEN)
		return n;
	needles[n++] = pstrdup(secret);
	initStringInfo(&escaped);
	escape_json(&escaped, secret);
	/* escape_json quotes the string: compare what is between the quotes. */
	escaped.data[escaped.len - 1] = '\0';
	if (strcmp(escaped.data + 1, secret) != 0)
		needles[n++] = pstrdup(escaped.data + 1);
	explicit_bzero(escaped.data, escaped.len);
	pfree(escaped.data);
	return n;
}

/* The Basic value of the account: base64 of key:secret. */
static char *
basic_value(const VendorAccount *acct)
{
	char	   *pair = psprintf("%s:%s", acct->api_key, acct->api_secret);
	int			len = strlen(pair);
	int			enc_len = pg_b64_enc_len(len);
	char	   *value = palloc(enc_len + 1);
	int			written = pg_b64_encode(PG_B64_SOURCE(pair), len, value, enc_len);

	explicit_bzero(pair, len);
	pfree(pair);
	value[Max(written, 0)] = '\0';
	return value;
}

/* Whether c may be part of a token or a base64 value. */
static bool
is_token_char(char c)
{
	return isalnum((unsigned char) c) || strchr("-._~+/=", c) != NULL;
}

/*
 * The length of an authorization scheme ("Basic" or "Bearer", any case, as
 * a word) and the spaces after it at p, or 0.
 */
static size_t
auth_scheme_at(const char *start, const char *p, const char *end)
{
	static const char *const schemes[] = {"basic", "bearer"};

	if (p > start && isalnum((unsigned char) p[-1]))
		return 0;
	for (int i = 0; i < lengthof(schemes); i++)
	{
		size_t		len = strlen(schemes[i]);
		size_t		spaces = 0;

		if ((size_t) (end - p) <= len || pg_strncasecmp(p, schemes[i], len) != 0)
			continue;
		while (p + len + spaces < end && p[len + spaces] == ' ')
			spaces++;
		if (spaces > 0)
			return len + spaces;
	}
	return 0;
}

/*
 * Whether a credential starts at p: *keep is set to what stays before it
 * (an authorization scheme and its spaces) and the credential's length
 * returned, or 0.
 */
static size_t
credential_at(const char *start, const char *p, const char *end,
			  char **needles, int nneedles, size_t *keep)
{
	size_t		scheme = auth_scheme_at(start, p, end);

	*keep = 0;
	if (scheme > 0)
	{
		size_t		len = 0;

		while (p + scheme + len < end && is_token_char(p[scheme + len]))
			len++;
		if (len >= SCRUB_MIN_TOKEN_LEN)
		{
			*keep = scheme;
			return len;
		}
	}
	for (int i = 0; i < nneedles; i++)
	{
		size_t		len = strlen(needles[i]);

		if ((size_t) (end - p) >= len && memcmp(p, needles[i], len) == 0)
			return len;
	}
	return 0;
}

/*
 * Cut the account's credentials out of a vendor's answer, in place: its
 * key, secret, Basic value and bearer token (raw or JSON-escaped), and the
 * value after any "Basic " or "Bearer " (a token the vendor saw earlier).
 * Call it before the answer is stored, parsed or logged; the original
 * buffer is wiped.  Only bytes that can start a credential are looked at
 * closely, so a large answer costs one pass.
 */
void
vendor_scrub_response(const VendorAccount *acct, HttpRequest *req)
{
	char	   *needles[8];
	int			nneedles = 0;
	bool		may_start[256] = {false};
	const char *p;
	const char *copied;
	const char *end;
	StringInfoData out = {0};

	if (req->response == NULL)
		return;
	/* Wiped credentials (a forgotten account) are empty: nothing to look for. */
	if (acct->api_key != NULL && acct->api_secret != NULL &&
		acct->api_key[0] != '\0' && acct->api_secret[0] != '\0' &&
		strlen(acct->api_key) + 1 + strlen(acct->api_secret) >= SCRUB_MIN_LEN)
		needles[nneedles++] = basic_value(acct);
	nneedles = add_needle(needles, nneedles, acct->api_key);
	nneedles = add_needle(needles, nneedles, acct->api_secret);
	nneedles = add_needle(needles, nneedles, acct->token);
	for (int i = 0; i < nneedles; i++)
		may_start[(unsigned char) needles[i][0]] = true;
	may_start['b'] = may_start['B'] = true;

	p = copied = req->response;
	end = req->response + req->response_len;
	while (p < end)
	{
		size_t		keep;
		size_t		cut;

		if (!may_start[(unsigned char) *p] ||
			(cut = credential_at(req->response, p, end, needles, nneedles, &keep)) == 0)
		{
			p++;
			continue;
		}
		if (out.data == NULL)
		{
			/* The scrubbed copy lives as long as the answer it replaces. */
			MemoryContext oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(req->response));

			initStringInfo(&out);
			MemoryContextSwitchTo(oldcxt);
		}
		appendBinaryStringInfo(&out, copied, p + keep - copied);
		appendStringInfoString(&out, SCRUB_MARK);
		p += keep + cut;
		copied = p;
	}
	for (int i = 0; i < nneedles; i++)
	{
		explicit_bzero(needles[i], strlen(needles[i]));
		pfree(needles[i]);
	}
	if (out.data == NULL)
		return;
	appendBinaryStringInfo(&out, copied, end - copied);
	explicit_bzero(req->response, req->response_len);
	pfree(req->response);
	req->response = out.data;
	req->response_len = out.len;
}
