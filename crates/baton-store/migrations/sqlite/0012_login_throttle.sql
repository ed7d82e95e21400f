-- Failed logins per key (`account:<email>` or `addr:<client address>`), shared by every
-- instance: `failures` within the window that started at `window_start`; once a key reaches its
-- limit, logins for it are refused until `locked_until` (ms; 0: not locked).
CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY NOT NULL,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL
);
