"""Real failure wordings quoted from public sources, held out from triage.

Written in session 30 (issue 30) BEFORE classify.c, the failure patterns or
the labelled corpus were changed, and measured first with the rules as they
stood.  Every wording is quoted as its source prints it (ids, hosts and
stack frames cut); the source is given beside it.  Each is labelled by hand
with the cause (a key of failure_messages.CATEGORIES) and whether an
automatic retry is safe.

HELD OUT: never add these wordings to src/sql/46_failure_corpus.sql, to
syncopt.failure_pattern or to MORE, and never tune the classifier on them;
test/bench/bench_triage.py measures the old rules and the new classifier on
them side by side.  Wording families that the issue names as facts to learn
from (replication slots, REPLICATION CLIENT, OAuth token URLs, SSH keys,
BigQuery rejected rows, Temporal retry exhaustion) appear here only in
wordings the corpus does not contain.

Three wordings first written here were dropped before any change because
MESSAGES already holds the same text in another shape (Airbyte issues
30393 and 30399, PostgreSQL's "conflict with recovery"): 41 remain.

Rows that the destination rejects for their values (too long, malformed
JSON, too many bad rows) are labelled schema_change: the category of data
that no longer fits the table, never retried.
"""

# Causes whose failures an automatic retry may fix; every other cause needs a person.
RETRY_SAFE = {"transient", "rate_limit", "destination_outage"}

REAL_HELD_OUT = {
    "configuration": [
        # https://beta.fivetran.com/docs/connectors/databases/postgresql/troubleshooting/replication-slot-invalidated-idle-timeout
        ("We could not sync your data because the replication slot has become invalid. This slot was invalidated "
         "because it was idle for too long (idle_replication_slot_timeout on your PostgreSQL server).",
         "https://beta.fivetran.com/docs/connectors/databases/postgresql/troubleshooting/"
         "replication-slot-invalidated-idle-timeout"),
        ('pg source: cannot read from logical replication slot "laredo_01", it has been invalidated',
         "https://zrz.io/laredo/operations/slot-invalidation"),
        ("resume cursor mismatch: resume LSN is greater than server flush LSN",
         "https://docs.estuary.dev/guides/troubleshooting/postgres-replication-slot-recovery"),
        ('runTransactions: readMessage: error starting replication: ERROR: replication slot "flow_slot" does not '
         "exist (SQLSTATE 42704)",
         "https://docs.estuary.dev/guides/troubleshooting/postgres-replication-slot-recovery"),
        ("Failure in source: Saved offset is before replication slot's confirmed lsn.",
         "https://github.com/airbytehq/airbyte/issues/55846"),
        ("Failure in source: Replication slot 'airbyte_slot' is not valid: wal_status = 'lost', "
         "invalidation_reason = 'null'.",
         "https://github.com/airbytehq/airbyte/issues/80295"),
        ("Failure in destination: You must upgrade your platform version to use this connector version. Either "
         "downgrade your connector or upgrade platform to 0.63.7",
         "https://github.com/airbytehq/airbyte/issues/59702"),
        ("The connector is trying to read binlog starting at Struct [file=mysql-bin.000412, pos=1534] but this is "
         "no longer available on the server",
         "https://support.huaweicloud.com/intl/en-us/dataartsstudio_faq/dataartsstudio_03_7609.html"),
        ("Error: DELTA_UNSUPPORTED_TIME_TRAVEL_BEYOND_DELETED_FILE_RETENTION_DURATION",
         "https://fivetran.com/docs/connectors/databases/databricks/troubleshooting"),
        ("Error: SSL Certificate Verification Failed",
         "https://fivetran.com/docs/connector-sdk/troubleshooting"),
    ],
    "credentials": [
        ("Configuration check failed Could not connect with provided SSH configuration. Error: "
         "javax.security.auth.login.CredentialException: Missing password provider for encrypted resource=null",
         "https://github.com/airbytehq/airbyte/issues/33576"),
        ("Caused by: java.io.IOException: unrecognised object: OPENSSH PRIVATE KEY",
         "https://github.com/airbytehq/airbyte/issues/6467"),
        ("requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: "
         "https://www.googleapis.com/oauth2/v4/token",
         "https://github.com/airbytehq/airbyte/pull/69279"),
        ("Error initializing QuickbooksClient during token refresh, please reauthenticate.",
         "https://github.com/airbytehq/airbyte/issues/7296"),
        ("Invalid client id or token",
         "https://github.com/airbytehq/airbyte/issues/65592"),
    ],
    "permission": [
        ("Unable to read data for stream tickets due to permission issue. Please ensure that your account has right "
         "access to the data and/or try re-auth on the Set Up Connector page. Or disable this stream on the Schema Tab.",
         "https://github.com/airbytehq/airbyte/pull/42519"),
        ("Invalid permissions. Please ensure the all scopes are authorized for.",
         "https://github.com/airbytehq/airbyte/pull/12515"),
        ("com.amazon.support.exceptions.ErrorException: [Amazon](500310) Invalid operation: permission denied for "
         "relation hello;",
         "https://github.com/airbytehq/airbyte/issues/2526"),
        ("Error: Unable to access existing tables",
         "https://fivetran.com/docs/destinations/snowflake/troubleshooting/unable-to-access-existing-tables"),
        ("Allow Fivetran to create schemas.",
         "https://fivetran.com/docs/destinations/snowflake/troubleshooting/create-schemas-error"),
        ("Error: User Does Not Have Permission to Access Policy Tag",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
        ("Error: Failed to Check Create Dataset Permission",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
    ],
    "schema_change": [
        ("java.lang.RuntimeException: com.google.cloud.bigquery.BigQueryException: Error while reading data, error "
         "message: JSON table encountered too many errors, giving up. Rows: 45; errors: 1. Please look into the "
         "errors[] collection for more details.",
         "https://github.com/airbytehq/airbyte/issues/7938"),
        ("Caused by: com.amazon.support.exceptions.ErrorException: [Amazon](500310) Invalid operation: Value too "
         "long for character type",
         "https://github.com/airbytehq/airbyte/pull/2988"),
        ("JSON_PARSE() error: String value exceeds the max size of 65535 bytes",
         "https://github.com/airbytehq/airbyte/issues/14441"),
        ("java.lang.RuntimeException: com.mysql.cj.jdbc.exceptions.MysqlDataTruncation: Data truncation: Invalid "
         "JSON text: \"Missing a comma or '}' after an object member.\" at position 92 in value for column "
         "'_airbyte_tmp_pgf_metabase_test._airbyte_data'.",
         "https://github.com/airbytehq/airbyte/issues/4583"),
        ("ERROR: value too long for type character varying(255)",
         "https://github.com/metabase/metabase/issues/11002"),
        ("Error: Use JsonReader.setLenient(true) to Accept Malformed JSON",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
        ("Sync FAILED: This could be caused due to schema definition changes in your code which are not supported "
         "by testers, please try again after running fivetran reset",
         "https://fivetran.com/docs/connector-sdk/troubleshooting/sync-failed-error"),
    ],
    "transient": [
        ("Something went wrong within the Airbyte platform.",
         "https://github.com/airbytehq/airbyte/issues/40666"),
        ("io.temporal.failure.ActivityFailure: Activity with activityType='RunWithJobOutput' failed: 'Activity task "
         "failed'. scheduledEventId=12, startedEventId=13, retryState=RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED",
         "https://github.com/airbytehq/airbyte/issues/36710"),
        ("exceptionCaught(MinaSession[local=/127.0.0.1:37121, remote=/127.0.0.1:46620]) WriteTimeoutException: null",
         "https://github.com/airbytehq/airbyte/issues/17346"),
        ("Max retry limit reached. Request: <PreparedRequest [GET]>, Response: <Response [502]>",
         "https://github.com/airbytehq/airbyte/issues/5963"),
        ("Caused by: java.io.EOFException: Can not read response from server. Expected to read 4 bytes, read 0 bytes "
         "before connection was unexpectedly lost.",
         "https://github.com/airbytehq/airbyte/issues/9784"),
        ("Airbyte could not start the process within time limit. The workload was claimed but never started.",
         "https://github.com/airbytehq/airbyte/issues/62485"),
        ("Error: Transaction Is Aborted Due to Concurrent Update Against Table",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
        ("Error: Connection Error - Connection Reset by Peer",
         "https://fivetran.com/docs/connector-sdk/troubleshooting"),
        ("Request failed with status code 500",
         "https://fivetran.com/docs/developer-resources/rest-api/troubleshooting/pause-connector-500-error"),
    ],
    "rate_limit": [
        ('airbyte_cdk.sources.streams.http.exceptions.DefaultBackoffException: Response Code: 429, Response Text: '
         '{"status": "429", "title":"Automated response"',
         "https://github.com/airbytehq/airbyte/issues/11899"),
        ("Error: Exceeded Rate Limits: Too Many Concurrent Queries for This Project and Region",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
        ("Error: BigQuery Quota Exceeded",
         "https://fivetran.com/docs/destinations/bigquery/troubleshooting"),
    ],
}
