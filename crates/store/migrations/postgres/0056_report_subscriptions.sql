-- Weekly report mail: each person who asked for it gets last week's report every Monday
-- morning in their time zone, optionally for one organization.
CREATE TABLE report_subscriptions (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    time_zone TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations (id) ON DELETE CASCADE,
    -- The Monday (YYYY-MM-DD, in time_zone) the next mail leaves on. The job that sends it
    -- carries the same day; a job whose day no longer matches is one a change replaced.
    next_send_on TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
