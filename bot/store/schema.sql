-- The tables of the SQLite store (bot/store/sqlite.py); applied with CREATE ... IF NOT
-- EXISTS at every start, then the columns added since version 1 (sqlite.py's _ADDED_COLUMNS).
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    project TEXT NOT NULL,
    region TEXT NOT NULL,
    approval TEXT NOT NULL,
    start_time_ms INTEGER,
    reason TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    message_ts TEXT,
    outcome_ts TEXT,
    decided_by TEXT,
    decided_at REAL,
    decision_comment TEXT,
    followup_done INTEGER NOT NULL DEFAULT 0,
    followup_next_at REAL,
    followup_deadline REAL,
    followup_changed_at REAL,
    settled_notified INTEGER NOT NULL DEFAULT 0,
    message_stale INTEGER NOT NULL DEFAULT 0,
    channel_problem TEXT,
    message_posting_at REAL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS requests_channel ON requests (channel_id, created_at);
CREATE INDEX IF NOT EXISTS requests_state ON requests (state);
CREATE INDEX IF NOT EXISTS requests_followup ON requests (followup_done, followup_next_at);
CREATE INDEX IF NOT EXISTS requests_requester ON requests (requester_id, created_at);

CREATE TABLE IF NOT EXISTS request_jobs (
    request_id TEXT NOT NULL REFERENCES requests (id),
    seq INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    name TEXT,
    status_at_request TEXT,
    prepaid INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    error_code TEXT,
    error_msg TEXT,
    order_id TEXT,
    drs_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (request_id, seq)
);
CREATE INDEX IF NOT EXISTS request_jobs_job ON request_jobs (job_id);

CREATE TABLE IF NOT EXISTS starts (
    request_id TEXT NOT NULL REFERENCES requests (id),
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    job_ids TEXT NOT NULL,
    actor TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    outcome_ts TEXT,
    lease_owner TEXT,
    lease_until REAL,
    outcome_posting_at REAL,
    PRIMARY KEY (request_id, attempt)
);
CREATE INDEX IF NOT EXISTS starts_state ON starts (state);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at REAL NOT NULL,
    actor TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_request ON audit (request_id, id);

CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);

-- Each running process (replica) and until when it is known alive: it renews its row every
-- third of STARTJOBS_LEASE_SECONDS. Work a process began (requests.owner, starts.lease_owner)
-- is taken over by another as soon as its owner's row has lapsed.
CREATE TABLE IF NOT EXISTS replicas (
    owner TEXT PRIMARY KEY,
    alive_until REAL NOT NULL
);

-- Each job's DRS precheck as last read (bot/store/prechecks.py); a newer read replaces an
-- older one, never the reverse.
CREATE TABLE IF NOT EXISTS request_prechecks (
    request_id TEXT NOT NULL REFERENCES requests (id),
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    passed_rate TEXT,
    failed_items TEXT NOT NULL DEFAULT '[]',
    precheck_id TEXT,
    read_at REAL NOT NULL,
    reason TEXT,
    PRIMARY KEY (request_id, job_id)
);
-- The running ones, which maintenance looks through every round (unwatched_prechecks).
CREATE INDEX IF NOT EXISTS request_prechecks_running ON request_prechecks (request_id)
    WHERE state = 'running';

-- Who took up the poll of a request's running prechecks that nobody was reading, until when
-- (claim_precheck_poll): one process at a time. A lease, not history: never copied.
CREATE TABLE IF NOT EXISTS precheck_polls (
    request_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);

-- Where each person's App Home is paged to (bot/store/home.py), so that whichever replica
-- publishes their Home next shows the page they turned to; kept a day. Not history: never
-- copied.
CREATE TABLE IF NOT EXISTS home_pages (
    user_id TEXT PRIMARY KEY,
    page TEXT NOT NULL,
    until REAL NOT NULL
);
