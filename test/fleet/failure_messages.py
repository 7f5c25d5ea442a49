"""Failure messages by cause, in the shapes real syncs report them.

Each entry is (message, where a message of this shape was seen).  Names,
hosts, numbers and tables are changed; the wording of the part that says
what went wrong is kept, because that is what a classifier has to read.
Sources: public Airbyte and connector issue threads, the vendors' docs
(../shared/vendor-apis.md) and the error texts of the databases named.

The generator draws an injected failure's message from its cause's list in
MESSAGES.  The decision benchmark measures classify_failure() message by
message on MESSAGES and MORE (wordings the built-in failure_pattern rules
have been tuned on) and on HELD_OUT (wordings never used to change them:
what to expect of wording the rules have not met).  Each MESSAGES list was
split in two by position when the rules were first tuned on it, the even
positions (dev) first; both halves are in-sample now.
"""

# The categories of classify_failure() that are right for each cause.
CATEGORIES = {"transient": {"source_outage", "transient", "timeout"}, "rate_limit": {"rate_limit"},
              "credentials": {"credentials"}, "schema_change": {"schema_change"},
              "permission": {"permission"}, "destination_outage": {"destination_outage"},
              "configuration": {"configuration"}}

MESSAGES = {
    "credentials": [
        ("Failure in source: Unauthorized. Please ensure you are authenticated correctly.",
         "https://github.com/airbytehq/airbyte/issues/48740"),
        ("Refresh token is invalid or expired. Please re-authenticate from Sources/HubSpot/Settings.",
         "https://github.com/airbytehq/airbyte/pull/69279"),
        ('FATAL: password authentication failed for user "fivetran_reader"',
         "PostgreSQL server message 28P01"),
        ("Access denied for user 'airbyte'@'10.0.3.17' (using password: YES)",
         "MySQL server error 1045"),
        ("Error while refreshing access token: 400 Client Error: Bad Request for url: "
         "https://oauth2.googleapis.com/token (invalid_grant)",
         "https://github.com/airbytehq/airbyte/issues/22995"),
        ("INVALID_SESSION_ID: Session expired or invalid",
         "Salesforce REST API error code"),
        ("Incorrect username or password was specified.",
         "Snowflake JDBC error 390100"),
        ("The API key provided is invalid or has been revoked.",
         "SaaS API 401 bodies"),
        ("401 Client Error: Unauthorized for url: https://api.stripe.com/v1/charges?limit=100",
         "https://github.com/airbytehq/airbyte/issues/28662"),
        ("Login failed for user 'etl_user'.",
         "SQL Server error 18456"),
        ("ExpiredTokenException: The security token included in the request is expired",
         "AWS API error"),
        ("Refresh token is invalid/expired. Please re-authenticate to restore access to Airtable.",
         "https://github.com/airbytehq/airbyte/pull/31119"),
    ],
    "rate_limit": [
        ("Exception while syncing stream tickets: Rate limits hit",
         "https://github.com/airbytehq/airbyte/issues/52151"),
        ('Response Code: 429, Response Text: {"detail":"Rate limited by edge protection","status":"429"}',
         "https://github.com/airbytehq/airbyte/issues/14253"),
        ("Number of allowed API requests per minute exceeded: 0",
         "https://github.com/airbytehq/airbyte/issues/11035"),
        ("Failure Origin: destination, Message: Exceeded rate limits: too many api requests per user "
         "per method for this user_method.",
         "https://github.com/airbytehq/airbyte/issues/22384"),
        ("Query rate limit exceeded for project_id: 2604117. 2/5 queries running concurrently and "
         "61/60 queries running in the last hour.",
         "https://github.com/airbytehq/airbyte/issues/9410"),
        ("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
         "Salesforce REST API error code"),
        ("You have exceeded your daily API quota; it resets at 00:00 UTC.",
         "SaaS API quota bodies"),
        ("You are being rate limited.",
         "../shared/vendor-apis.md (Airbyte load shedding, 429)"),
        ("Too many requests, please slow down and retry after 120 seconds.",
         "SaaS API 429 bodies"),
        ("403 Forbidden: userRateLimitExceeded: User Rate Limit Exceeded",
         "Google APIs error reason"),
        ("API calls quota exceeded! Maximum admitted 100 per second.",
         "SaaS API quota bodies"),
        ("Concurrent request limit reached for this account; try again later.",
         "SaaS API 429 bodies"),
    ],
    "schema_change": [
        ("SQL compilation error: cannot change column ID from type FLOAT to NUMBER(38,0)",
         "https://github.com/airbytehq/airbyte/issues/22096"),
        ("Database Error in model orders: Bad int64 value: 1.0",
         "https://github.com/airbytehq/airbyte/issues/21413"),
        ('ERROR: column "discount_code" does not exist',
         "PostgreSQL server message 42703"),
        ('ERROR: column "amount" is of type integer but expression is of type numeric',
         "PostgreSQL server message 42804"),
        ("Schema change detected: column status changed type from VARCHAR to INTEGER",
         "Fivetran schema change alerts"),
        ("Provided Schema does not match Table analytics.orders. Field amount has changed type "
         "from INTEGER to FLOAT",
         "BigQuery load job error"),
        ("Invalid column name 'legacy_id'.",
         "SQL Server error 207"),
        ("Breaking schema change on orders: column customer_ref was dropped at the source",
         "Airbyte schema change detection"),
        ("Unknown column 'region_code' in 'field list'",
         "MySQL server error 1054"),
        ("SQL compilation error: cannot change column CREATED_AT from type VARCHAR(16777216) to "
         "TIMESTAMP_NTZ(9)",
         "https://github.com/airbytehq/airbyte/issues/14042"),
        ("Column `_airbyte_unique_key` cannot be dropped in table `reservations`. Columns used in "
         "table partitioning or clustering cannot be dropped.",
         "https://github.com/airbytehq/airbyte/issues/20988"),
        ("The source table orders no longer has the primary key column id; refresh the schema.",
         "Airbyte refresh_schema failures"),
    ],
    "transient": [
        ("HikariPool-1 - Connection is not available, request timed out after 60001ms.",
         "https://github.com/airbytehq/airbyte/issues/30399"),
        ("State code: 08S01; Message: Communications link failure The last packet sent successfully "
         "to the server was 0 milliseconds ago.",
         "https://github.com/airbytehq/airbyte/issues/30393"),
        ("java.net.ConnectException: Connection refused",
         "https://github.com/airbytehq/airbyte/issues/4538"),
        ("FATAL: terminating connection due to conflict with recovery",
         "https://github.com/airbytehq/airbyte/issues/12644"),
        ("org.postgresql.util.PSQLException: An I/O error occurred while sending to the backend.",
         "https://github.com/airbytehq/airbyte/issues/13906"),
        ("502 Bad Gateway",
         "HTTP gateway errors"),
        ("java.net.SocketTimeoutException: Read timed out",
         "JDBC and HTTP client errors"),
        ("requests.exceptions.ChunkedEncodingError: Connection broken: IncompleteRead(0 bytes read)",
         "Python HTTP client errors"),
        ("message='activity timeout', timeoutType=TIMEOUT_TYPE_HEARTBEAT",
         "https://github.com/airbytehq/airbyte/issues/13906"),
        ("SSL SYSCALL error: EOF detected",
         "libpq client errors"),
        ("could not receive data from server: Connection reset by peer",
         "libpq client errors"),
        ("Temporary failure in name resolution",
         "DNS resolver errors"),
    ],
}


# Wordings of the four injected causes and of causes the generator does not
# inject (permissions, destination outages, configuration), so that
# precision also counts other causes' failures taken for one of the four.
# The first 18 were written in session 13 as the held-out set and tuned on
# in session 14 (10 of 18 right before); the other 20 were session 14's
# held-out set but for one that repeated a MESSAGES wording, tuned on in
# session 15 (10 of 20 right before); after them in each list, session 15's
# held-out set (8 of 20 right before) and 27 wordings written in session 18
# (6 of 27 right before), both tuned on in session 18.  All are in-sample
# now, like MESSAGES.
MORE = {
    "credentials": [
        ("Error code: 401, error message: The access token provided is expired, revoked, malformed, "
         "or invalid for other reasons.", "OAuth provider 401 bodies"),
        ("invalid_client: client authentication failed", "OAuth token endpoint errors"),
        ("ORA-01017: invalid username/password; logon denied", "Oracle error ORA-01017"),
        ("JWT token is invalid. [a1b2c3d4-0000-4e5f-8a9b-001122334455]", "Snowflake key-pair error 390144"),
        ('401 Unauthorized: {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}',
         "GitHub REST API 401 body"),
        ("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
         "client secret value, not the client secret ID", "Azure AD sign-in error"),
        ("Authentication failed: the API key provided has been revoked", "SaaS API 401 bodies"),
        ("403 Forbidden: The provided access token has expired (code: TOKEN_EXPIRED)", "SaaS API 403 bodies"),
        ("ORA-28001: the password has expired", "Oracle error ORA-28001"),
        ("Incorrect username or password was specified.", "Snowflake error 390100"),
        ("MongoServerError: Authentication failed.", "MongoDB driver errors"),
        ("Couldn't authenticate you", "Zendesk API 401 body"),
    ],
    "rate_limit": [
        ("HTTP 429: Rate limit exceeded. Reset in 37 seconds.", "SaaS API 429 bodies"),
        ("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'",
         "Google APIs quota errors"),
        ("Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
         "Shopify REST API throttling body"),
        ("You have reached your ten_secondly_rolling limit.", "HubSpot API 429 body"),
        ("Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
         "Stripe API 429 body"),
        ("ThrottlingException: Rate exceeded", "AWS API throttling"),
        ("Daily API request limit of 10000 reached for this account", "SaaS API daily quotas"),
        ("You've made too many API calls in a short period. Please slow down.", "SaaS API 429 bodies"),
        ("API rate limit exceeded for installation ID 4242.", "GitHub API 403 body"),
        ("RESOURCE_EXHAUSTED: Too many requests", "Google Ads API errors"),
        ("(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
         "Facebook Marketing API errors"),
        ("Exhausted property tokens for a project per hour.", "Google Analytics Data API quota errors"),
    ],
    "schema_change": [
        ('ERROR: relation "public.orders_v2" does not exist', "PostgreSQL server message 42P01"),
        ("Table analytics.events has a column payload of type STRING, but the incoming data has type JSON",
         "warehouse load errors"),
        ('ERROR: column "updated_at" of relation "accounts" does not exist', "PostgreSQL server message 42703"),
        ("Numeric value 'n/a' is not recognized", "Snowflake error 100038"),
        ("Field discount_code not found in the destination schema of stream orders", "connector load errors"),
        ("SQL compilation error: error line 1 at position 42 invalid identifier 'CUSTOMER_TIER'",
         "Snowflake error 000904"),
        ("Schema evolution detected: column 'plan_tier' was removed from source table 'subscriptions'",
         "connector schema checks"),
        ("Value of type STRING cannot be assigned to amount, which has type INT64", "BigQuery load errors"),
        ("Invalid digit, Value 'N', Pos 0, Type: Integer", "Redshift stl_load_errors"),
        ("Schema validation errors found for stream orders. Error messages: [$.amount: string found, number "
         "expected]", "Airbyte record validation"),
        ("Column type changed from INTEGER to VARCHAR for column 'zip' in table 'customers'", "connector schema checks"),
        ("Number of columns in file (12) does not match that of the corresponding table (11)", "Snowflake COPY errors"),
    ],
    "transient": [
        ("Connection timed out (Read failed)", "JDBC client errors"),
        ("503 Service Unavailable", "HTTP gateway errors"),
        ("Broken pipe (Write failed)", "JDBC client errors"),
        ("java.net.SocketException: Connection reset", "JDBC client errors"),
        ("Deadlock found when trying to get lock; try restarting transaction", "MySQL server error 1213"),
        ("java.net.SocketTimeoutException: connect timed out", "JDBC client errors"),
        ("ECONNRESET: socket hang up", "Node.js HTTP client errors"),
        ("The server encountered a temporary error and could not complete your request. Please try again in "
         "30 seconds.", "Google API 500 body"),
        ("Lock wait timeout exceeded; try restarting transaction", "MySQL server error 1205"),
        ("upstream connect error or disconnect/reset before headers. reset reason: connection failure",
         "Envoy proxy 503 body"),
        ("SSL connection has been closed unexpectedly", "PostgreSQL client errors"),
        ("504 Gateway Time-out", "HTTP proxies"),
        ("Remote end closed connection without response", "Python HTTP client errors"),
    ],
    "permission": [
        ("SQL compilation error: Schema 'RAW' already exists, but current role has no privileges on it.",
         "https://github.com/airbytehq/airbyte/issues/1772"),
        ("SQL access control error: Insufficient privileges to operate on database 'RAW'",
         "https://github.com/airbytehq/airbyte/issues/6005"),
        ("ERROR: permission denied for schema grafana", "https://github.com/metabase/metabase/issues/1988"),
        ("Current role does not have permissions on the target schema",
         "https://github.com/airbytehq/airbyte/pull/21764"),
        ("ORA-01031: insufficient privileges", "Oracle error ORA-01031"),
        ("Access Denied: Dataset acme:analytics: Permission bigquery.tables.create denied on dataset "
         "acme:analytics (or it may not exist).", "BigQuery access errors"),
        ("User does not have bigquery.jobs.create permission in project acme-prod.", "BigQuery access errors"),
        ("AccessDeniedException: User: arn:aws:iam::123456789012:user/etl is not authorized to perform: "
         "glue:GetTable", "AWS IAM errors"),
        ("The SELECT permission was denied on the object 'orders', database 'erp', schema 'dbo'.", "SQL Server error 229"),
        ("INSUFFICIENT_ACCESS: insufficient access rights on object id", "Salesforce API errors"),
        ("SELECT command denied to user 'etl'@'10.0.0.5' for table 'orders'", "MySQL error 1142"),
        ("Resource not accessible by integration", "GitHub API 403 body"),
    ],
    "destination_outage": [
        ("Failure Origin: destination, Message: [Amazon](500150) Error setting/closing connection: "
         "Connection refused.", "https://github.com/airbytehq/airbyte/issues/26821"),
        ("BigQuery error in load operation: Error processing job: Backend error. Job aborted.",
         "BigQuery load job errors"),
        ("Failure Origin: destination, Message: Could not connect with provided configuration. "
         "java.net.ConnectException: Connection refused", "Airbyte destination check failures"),
        ("google.api_core.exceptions.ServiceUnavailable: 503 POST "
         "https://bigquery.googleapis.com/upload/bigquery/v2/projects/acme/jobs: Service Unavailable",
         "BigQuery client errors"),
        ("Failure Origin: destination, Message: java.net.SocketTimeoutException: connect timed out",
         "Airbyte destination failures"),
        ("Redshift cluster 'analytics' is not available: ClusterUnavailableFault", "Redshift API errors"),
        ("JDBC driver encountered communication error. Message: Exception encountered for HTTP request: Connect to "
         "acme.snowflakecomputing.com:443 failed: connect timed out.", "Snowflake JDBC errors"),
        ("Error 503: The service is currently unavailable., backendError", "BigQuery API errors"),
        ('could not connect to server: Connection timed out. Is the server running on host '
         '"acme.abc123.us-east-1.redshift.amazonaws.com" and accepting TCP/IP connections on port 5439?',
         "Redshift (libpq) errors"),
    ],
    "configuration": [
        # Third round (issue 30): statement_timeout is a limit somebody configured; the same
        # statement stops the same way until it is raised (45_failure_patterns.sql).
        ("ERROR: canceling statement due to statement timeout", "PostgreSQL server message 57014"),
        # Third round (issue 30): a resource monitor's quota holds the warehouse until the quota
        # resets or is raised, so a retry as is fails the same way: configuration, not an outage.
        ("Warehouse 'LOADING_WH' cannot be resumed because resource monitor 'MONTHLY' has exceeded its quota.",
         "Snowflake error 000606"),
        ("No active warehouse selected in the current session. Select an active warehouse with the "
         "'use warehouse' command.", "https://github.com/airbytehq/airbyte/issues/40615"),
        ("Stage 'AIRBYTE.PUBLIC.MY_STAGE' does not exist or not authorized.",
         "https://github.com/airbytehq/airbyte/issues/26373"),
        ("Failure Origin: source, Message: Configuration check failed: 'start_date' does not match the "
         "format YYYY-MM-DDTHH:mm:ssZ", "Airbyte source check failures"),
        ("Database 'ANALYTICS_DB' does not exist or not authorized.", "Snowflake error 002003"),
        ('Failure Origin: source, Message: replication slot "airbyte_slot" does not exist',
         "PostgreSQL CDC sources"),
        ("Failure Origin: source, Message: Invalid JSON in 'replication_method' configuration",
         "Airbyte source check failures"),
        ("The specified bucket does not exist (NoSuchBucket): acme-landing-zone", "S3 errors"),
        ('publication "airbyte_publication" does not exist', "PostgreSQL CDC sources"),
        ('database "erp_prod" does not exist', "PostgreSQL FATAL at connect"),
        ("Unknown database 'erp'", "MySQL error 1049"),
        ("Not found: Dataset acme-prod:analytics_raw was not found in location US", "BigQuery API errors"),
        ("logical decoding requires wal_level >= logical", "PostgreSQL CDC sources"),
    ],
}


def split(kind):
    """The dev and test halves of one cause's messages."""
    entries = MESSAGES[kind]
    return entries[0::2], entries[1::2]


# Written in session 18, before the rules were changed that session, and
# never used to change them: the held-out set now that MORE above has been
# used for tuning.  Three wordings first written here were dropped before
# the change was measured because MORE already held the same text in
# another shape (an OAuth bearer-token error, a Google quota metric,
# GitHub's "Bad credentials").  Tune the rules on these and they stop being
# held out: move them into MORE and write new ones.
HELD_OUT = {
    "credentials": [
        ("Authentication token has expired.  The user must authenticate again.", "Snowflake error 390114"),
    ],
    "rate_limit": [
        ("Calls to this endpoint are being throttled. Retry after 30 seconds.", "SaaS API throttling bodies"),
        ("(#4) Application request limit reached", "Facebook Graph API error 4"),
    ],
    "schema_change": [
        ('ERROR: invalid input syntax for type integer: "N/A"', "PostgreSQL error 22P02"),
        ('Unrecognized field "loyalty_tier" (class Order), not marked as ignorable', "Jackson JSON mapping errors"),
        ("Table 'erp.orders' has a new column 'tax_region' that is not in the destination table",
         "connector schema checks"),
    ],
    "transient": [
        ("Network is unreachable", "socket errors"),
        ("server closed the connection unexpectedly. This probably means the server terminated abnormally before "
         "or while processing the request.", "PostgreSQL libpq errors"),
        ("EOF occurred in violation of protocol (_ssl.c:2396)", "Python SSL errors"),
    ],
    "permission": [
        ("ERROR: must be owner of table orders", "PostgreSQL error 42501"),
        ("The user does not have sufficient permissions to perform this operation.", "SaaS API 403 bodies"),
        ("ORA-01031: insufficient privileges", "Oracle error ORA-01031"),
    ],
    "destination_outage": [
        ("BigQuery error in query operation: Error processing job 'acme:bqjob_r1': Backend error. Job aborted.",
         "BigQuery backendError"),
        ("Databricks SQL warehouse 'etl-wh' is starting; the request timed out waiting for it",
         "Databricks SQL warehouses"),
        ("Failure Origin: destination, Message: Connection refused", "Airbyte destination failures"),
    ],
    "configuration": [
        ("The specified container does not exist.", "Azure Blob Storage ContainerNotFound"),
        ("Invalid connection string: missing required parameter 'warehouse'", "connector setup checks"),
        ("ERROR: all replication slots are in use", "PostgreSQL max_replication_slots"),
    ],
}


# Written in session 30 (issue 30) for the learned triage's starting corpus,
# after failure_heldout.REAL_HELD_OUT was written and measured: the wording
# families the issue names as facts to learn from, each in wordings of our
# own in the shapes their sources print (Fivetran's troubleshooting pages,
# PostgreSQL, JDBC and Temporal errors), with the exact category the corpus
# gives them.  In-sample: they are in src/sql/46_failure_corpus.sql.
FAMILIES = {
    "configuration": [
        ("Replication slot fivetran_pgoutput_slot does not exist. Create the slot with pg_create_logical_replication_slot.",
         "configuration", "Fivetran PostgreSQL troubleshooting: missing replication slot"),
        ("The replication slot fivetran_slot has been invalidated: the WAL it needs was removed "
         "(max_slot_wal_keep_size). Drop and recreate the slot, then re-sync.",
         "configuration", "Fivetran PostgreSQL troubleshooting: invalidated replication slot"),
        ("Replication slot fivetran_slot uses the test_decoding plugin, but the connection is configured for pgoutput.",
         "configuration", "Fivetran PostgreSQL troubleshooting: slot with the wrong plugin"),
        ("The saved LSN 0/3A0001C8 is ahead of the server's current LSN 0/1F000060; the database was restored "
         "or failed over.", "configuration", "Fivetran PostgreSQL troubleshooting: LSN ahead of the server"),
        ("The transaction id (xmin) moved backwards since the last sync: the server was restored from a backup.",
         "configuration", "Fivetran PostgreSQL troubleshooting: transaction id moved backwards"),
        ("The buffer pool size (8 MB) is below the minimum of 64 MB needed to read the transaction log.",
         "configuration", "Fivetran database prerequisites: buffer pool below the minimum"),
        ("Saved offset is no longer present on the server. Please reset the connection, and then increase binlog "
         "retention and/or increase sync frequency.", "configuration", "Airbyte MySQL CDC config error"),
        ("You must upgrade the connector to a newer version: this version is no longer supported.",
         "configuration", "connector version checks"),
    ],
    "permission": [
        ("Insufficient user permissions - REPLICATION CLIENT privilege needed.",
         "permission", "https://fivetran.com/docs/connectors/databases/mysql/troubleshooting/replication-client-privilege"),
        ("Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation",
         "permission", "MySQL error 1227"),
        ("must be superuser or replication role to start walsender", "permission", "PostgreSQL error 42501"),
    ],
    "credentials": [
        ("400 Client Error: Bad Request for url: https://login.salesforce.com/services/oauth2/token",
         "credentials", "OAuth refresh failures reported as an HTTP 400 from a token URL"),
        ("HTTP 400 from token endpoint https://accounts.zoho.com/oauth/v2/token: {\"error\":\"invalid_code\"}",
         "credentials", "OAuth refresh failures reported as an HTTP 400 from a token URL"),
        ("Unable to load the SSH private key: invalid privatekey: [B@6d06d69c",
         "credentials", "JSch: an SSH private key that cannot be loaded"),
        ("Could not load the SSH private key for the tunnel: the key is in an unsupported format or needs a "
         "passphrase", "credentials", "SSH tunnel key errors"),
    ],
    "schema_change": [
        ("BigQuery rejected 12 rows of the load into analytics.orders: invalid value for column amount",
         "schema_change", "BigQuery rejected rows"),
        ("Error while reading data, error message: CSV table references column position 14, but line starting at "
         "position:0 contains only 13 columns.", "schema_change", "BigQuery load errors"),
        ("Data too long for column 'notes' at row 1", "schema_change", "MySQL error 1406"),
        ("value out of range for type integer", "schema_change", "PostgreSQL error 22003"),
    ],
    "transient": [
        ("Connection to db.internal:5432 refused. Check that the hostname and port are correct and that the "
         "postmaster is accepting TCP/IP connections.", "source_outage", "PostgreSQL JDBC: connection refused"),
        ("java.net.SocketException: Socket closed", "source_outage", "Java socket errors"),
        ("java.net.NoRouteToHostException: No route to host (Host unreachable)", "source_outage", "Java socket errors"),
        ("java.net.UnknownHostException: db.internal: Temporary failure in name resolution", "source_outage",
         "Java socket errors"),
        ("io.temporal.failure.TimeoutFailure: message='activity StartToClose timeout', "
         "timeoutType=TIMEOUT_TYPE_START_TO_CLOSE", "timeout", "Temporal activity timeouts"),
        ("Workflow task failed after exhausting its retries: retryState=RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED",
         "transient", "workflow-engine retry exhaustion"),
        ("HubspotApiException: GET /crm/v3/objects/deals failed with 502 Bad Gateway", "transient",
         "per-endpoint Java exceptions in SaaS connectors"),
        ("java.lang.RuntimeException: Error fetching endpoint /v2/invoices: 503 Service Unavailable", "transient",
         "per-endpoint Java exceptions in SaaS connectors"),
    ],
}
