/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Verification of Fivetran webhook signatures.
 *
 * Fivetran signs each webhook POST with X-Fivetran-Signature-256: the hex
 * HMAC-SHA256 of the raw body keyed with the webhook's secret.  Receivers in
 * the wild send it in either case, so hex digits are compared without
 * regard to case, and in constant time so that the comparison does not
 * tell an attacker how many leading characters were right.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "pg_compat.h"

PG_FUNCTION_INFO_V1(syncopt_verify_signature);

/* Value of one hex digit, or -1; branch-free over the digit's value. */
static int
hex_value(unsigned char c)
{
	int			digit = (int) c - '0';
	int			lower = ((int) c | 0x20) - 'a' + 10;
	int			is_digit = ((unsigned) digit <= 9);
	int			is_alpha = ((unsigned) (lower - 10) <= 5);

	return is_digit ? digit : (is_alpha ? lower : -1);
}

/* Compute HMAC-SHA256(key, data) into mac; raises on a library failure. */
static void
hmac_sha256(const char *key, size_t key_len, const char *data, size_t data_len,
			uint8 mac[PG_SHA256_DIGEST_LENGTH])
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) key, key_len) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, data_len) < 0 ||
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *reason = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s", reason)));
	}
	pg_hmac_free(ctx);
}

/*
 * syncopt.verify_signature(secret, body, signature): true when signature is
 * the hex HMAC-SHA256 of body under secret.
 */
Datum
syncopt_verify_signature(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	text	   *body = PG_GETARG_TEXT_PP(1);
	text	   *signature = PG_GETARG_TEXT_PP(2);
	const unsigned char *given = (const unsigned char *) VARDATA_ANY(signature);
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	int			diff = 0;

	if (VARSIZE_ANY_EXHDR(signature) != 2 * PG_SHA256_DIGEST_LENGTH)
		PG_RETURN_BOOL(false);

	hmac_sha256(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
				VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), mac);

	/* Look at every digit whatever the earlier ones were. */
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		int			high = hex_value(given[2 * i]);
		int			low = hex_value(given[2 * i + 1]);

		diff |= (high < 0) | (low < 0);
		diff |= ((high << 4) | low) ^ mac[i];
	}
	explicit_bzero(mac, sizeof(mac));
	PG_RETURN_BOOL(diff == 0);
}
