-- What the vendor says a connector needs now (issue 30, structured vendor
-- signals): Fivetran's connection status.tasks (a person must act before
-- it syncs again) and status.warnings (it syncs, with a caveat), each
-- {code, message, details} as the REST API lists them.  A fact about the
-- connector, not about one run: every connection object read replaces its
-- connector's list (syncopt.ingest_fivetran_items).

CREATE TABLE syncopt.connector_task (
    connector_id  bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    kind          text NOT NULL CONSTRAINT connector_task_kind_known CHECK (kind IN ('task', 'warning')),
    code          text NOT NULL CONSTRAINT connector_task_code_length
                  CHECK (syncopt.require_length(code, 200, 'connector_task.code')),
    message       text CONSTRAINT connector_task_message_length
                  CHECK (syncopt.require_length(message, 2000, 'connector_task.message')),
    details       text CONSTRAINT connector_task_details_length
                  CHECK (syncopt.require_length(details, 2000, 'connector_task.details')),
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, kind, code)
);
COMMENT ON TABLE syncopt.connector_task IS
    'The tasks (blocking: a person must act) and warnings the vendor lists for a connector now (Fivetran status.tasks / status.warnings).';
