-- effective_policy(): connector policy beats tag policies (combined most
-- carefully), which beat the default row, which beats the built-in default.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id, tags) VALUES
    (1, 'plain', '{}'), (1, 'finance', '{finance}'), (1, 'both', '{finance,critical}'), (1, 'own', '{finance}');

-- Nothing configured: the built-in shadow default.
SELECT * FROM syncopt.effective_policy(1);

INSERT INTO syncopt.policy (policy_id, mode, max_actions_per_hour) VALUES (1, 'copilot', 6);
INSERT INTO syncopt.policy (policy_id, tag, mode, max_actions_per_hour, allowed_actions, min_schedule_minutes, max_schedule_minutes, proposal_ttl)
VALUES (2, 'finance', 'auto', 10, '{trigger_sync,set_schedule,notify}', 60, 1440, '2 hours');
INSERT INTO syncopt.policy (policy_id, tag, mode, max_actions_per_hour, allowed_actions, min_schedule_minutes, max_schedule_minutes, protect, proposal_ttl)
VALUES (3, 'critical', 'copilot', 3, '{trigger_sync,notify,pause}', 15, 720, true, '6 hours');
INSERT INTO syncopt.policy (policy_id, connector_id, mode, max_actions_per_hour)
VALUES (4, 4, 'shadow', 1);

-- No tag policy matches: the default row.
SELECT * FROM syncopt.effective_policy(1);
-- One tag policy.
SELECT * FROM syncopt.effective_policy(2);
-- Two tag policies: lower mode, fewer actions, the common allowed actions,
-- the tighter schedule bounds, protect if either protects, the shorter TTL.
SELECT * FROM syncopt.effective_policy(3);
-- A connector policy wins outright over its tag policy.
SELECT * FROM syncopt.effective_policy(4);
SELECT * FROM syncopt.effective_policy(99);

DROP EXTENSION syncopt;
