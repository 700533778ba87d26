"""Table definitions shared by the store and its migrations.

Every table carries `account_id` so PostgreSQL can later be distributed by tenant.
"""

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

# One row per JSON document; `body` holds the whole document with its private `pvt_*` fields.
docs = Table(
    "docs",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("rev", String(48), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("body", Text, nullable=False),
    Index("docs_by_type", "account_id", "type", "deleted", "id"),
)

# Unique keys that documents hold: realms, account names, sip credentials, numbers, callflow numbers...
# The primary key makes uniqueness hold under concurrent writers; the lookups are the hot paths of SIP and routing.
doc_keys = Table(
    "doc_keys",
    metadata,
    Column("kind", String(40), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("doc_id", String(64), nullable=False),
    Index("doc_keys_by_account", "account_id", "kind"),
    Index("doc_keys_by_doc", "account_id", "doc_id"),
)

# The account tree: `path` is the ancestor ids and the account's own id joined with "/",
# so descendants are one indexed prefix query.
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("parent_id", String(40), nullable=True),
    Column("path", String(4000), nullable=False),
    Column("name", String(256), nullable=False),
    Column("realm", String(256), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("superduper", Boolean, nullable=False, default=False),
    Column("reseller", Boolean, nullable=False, default=False),
    Index("accounts_by_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    Index("accounts_by_parent", "parent_id"),
)

# Binary attachments of documents (whitelabel logos, media files), kept apart so document reads stay small.
attachments = Table(
    "attachments",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("doc_id", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("content_type", String(255), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# Call detail records, one row per call leg, partitioned per account and month (`YYYYMM`, which also starts the id)
# as KAZOO keeps them in per-month databases. Listings walk `created`; an interaction's legs are one index lookup.
cdrs = Table(
    "cdrs",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("month", String(6), primary_key=True),
    Column("id", String(255), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Column("interaction_id", String(255), nullable=False),
    Column("call_id", Text, nullable=False),
    Column("owner_id", String(64), nullable=True),
    Column("body", Text, nullable=False),
    Index("cdrs_by_created", "account_id", "created", "id"),
    Index("cdrs_by_interaction", "account_id", "interaction_id"),
    Index("cdrs_by_owner", "account_id", "owner_id", "created", "id"),
)

# Failed logins per (account, client address), and per account with client "*": the login throttle's state, kept in
# the database so every `cloudpbx serve` sharing it enforces the same backoff. `locked_until` and `last_failure` are
# Unix seconds; a row is forgotten once its last failure is old enough (accounts/login_guard.py).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("client", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),
    Column("locked_until", Float, nullable=False),
)

# The audit of failed logins per account (method, client address, when), which the account's admins list.
login_failures = Table(
    "login_failures",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Index("login_failures_by_created", "account_id", "created", "id"),
)

# Trunk leases (limits/): one row per (charged account, call) while a carrier call holds a trunk or counts against a
# hard limit. `account_id` is the account whose limits the row counts against (a call of a sub-account has a row for
# the account and one for its reseller); `kind` is the trunk taken (inbound, outbound, twoway, burst) or the billing
# that took none (per_minute, limits_disabled, soft_limit); `node` the process holding the call.
trunk_leases = Table(
    "trunk_leases",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("call_id", String(255), primary_key=True),
    Column("owner_id", String(40), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("node", String(128), nullable=False),
    # a per-minute call once answered: when (Unix seconds), its rate (units a minute), its share of the usage
    # counter's offset, and what billing it needs if its process dies (JSON)
    Column("answered", Float, nullable=True),
    Column("rate", BigInteger, nullable=False, server_default="0"),
    Column("rate_offset", BigInteger, nullable=False, server_default="0"),
    Column("billing", Text, nullable=True),
    Index("trunk_leases_by_node", "node", "call_id"),
)

# Trunk usage: the leases of each (account, process, kind), counted in the transactions that add and delete them,
# so a decision reads a few rows whatever the number of calls. The process renews `expires` (Unix seconds) while it
# holds calls: the counters of a process that died stop counting once they expire.
trunk_usage = Table(
    "trunk_usage",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("node", String(128), primary_key=True),
    Column("kind", String(24), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("expires", Float, nullable=False),
    # the running cost of the counted answered per-minute calls: (rate * now - rate_offset) / 60 units
    Column("rate", BigInteger, nullable=False, server_default="0"),
    Column("rate_offset", BigInteger, nullable=False, server_default="0"),
    Column("renewed", Float, nullable=False, server_default="0"),  # the process's last renewal: its last known time
    Index("trunk_usage_by_node", "node"),
    Index("trunk_usage_by_expiry", "expires"),
)

# Rate decks (billing/): one row per rate, a deck being every row with its `ratedeck_id` (100,000 rows are usual, so
# not JSON documents). Money columns are integer units (1 dollar = 10000 units), times are seconds. `direction` is
# inbound, outbound or both. Each deck's owner and revision marker is the `ratedeck_<id>` document of the system
# partition, renewed in the transaction that changes the deck's rows.
rates = Table(
    "rates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ratedeck_id", String(64), nullable=False),
    Column("prefix", String(20), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("iso_country_code", String(8), nullable=False),
    Column("description", Text, nullable=False),
    Column("rate_name", Text, nullable=False),
    Column("rate_cost", BigInteger, nullable=False),
    Column("rate_increment", Integer, nullable=False),
    Column("rate_minimum", Integer, nullable=False),
    Column("rate_surcharge", BigInteger, nullable=False),
    Column("rate_nocharge_time", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Index("rates_by_deck", "ratedeck_id", "prefix", "id"),
)

# Ledger entries (billing/ledgers.py): every balance change is one row, written in the transaction that moves the
# account's `ledger_balances` row. `amount` is a positive number of currency units (1 dollar = 10,000) and
# `ledger_type` says credit or debit. `idem_key` (a call id, a payment, a month's rollover) is unique per account so a
# retry never writes twice; `linked_*` names the twin entry a reseller's ledger holds for a sub-account's (each points
# at the other).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("source", String(24), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("ledger_type", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("usage_type", String(64), nullable=False),
    Column("usage_quantity", BigInteger, nullable=False),
    Column("usage_unit", String(32), nullable=False),
    Column("period_start", BigInteger, nullable=True),
    Column("period_end", BigInteger, nullable=True),
    Column("metadata", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("idem_key", String(255), nullable=True),
    Column("linked_account_id", String(40), nullable=True),
    Column("linked_id", String(32), nullable=True),
    Index("ledger_entries_by_source", "account_id", "source", "created", "id"),
    Index("ledger_entries_by_key", "account_id", "idem_key", unique=True),
)

# One row per account with ledger entries: its balance in units, kept by the transactions that add entries (under a
# row lock on PostgreSQL), so reading a balance is one point read whatever the number of entries. `month` (YYYYMM)
# is the last month whose `rollovers` entry the account has.
ledger_balances = Table(
    "ledger_balances",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("month", String(6), nullable=False),
)

# One row per charge of a card asked under an idempotency key (`billing/payments`): claimed while the gateway is asked
# (`claimed_until`, so a process that died mid-charge does not hold the key for ever), then `done` with the gateway's
# transaction id and the ledger entry. Its primary key makes two processes asking the same charge take turns.
payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("idem_key", String(255), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(8), nullable=False),
    Column("claimed_until", BigInteger, nullable=False),
    Column("transaction_id", String(64), nullable=True),
    Column("entry_id", String(32), nullable=True),
)

# Runs of the scheduler's periodic jobs (scheduler/): one row per job and period, whose primary key makes every
# process sharing the database take a period's run at most once. `node` holds the run while `lease_until` (Gregorian
# seconds) is ahead; a run whose holder died is retaken once its lease has expired and resumes from `cursor`.
task_runs = Table(
    "task_runs",
    metadata,
    Column("account_id", String(40), primary_key=True),  # always "system": jobs are platform-wide
    Column("job", String(64), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("node", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("finished", BigInteger, nullable=True),
    Column("lease_until", BigInteger, nullable=False),
    Column("cursor", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index("task_runs_by_start", "started"),
)

# The notification outbox and delivery log (notify/): one row per email, rendered when it was sent, delivered by
# whichever process claims it (`status` sending with a lease), retried with backoff (`next_attempt`) after a failure.
notify_outbox = Table(
    "notify_outbox",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("template_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_attempt", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("receipt", Text, nullable=True),
    Index("notify_outbox_due", "status", "next_attempt"),
    Index("notify_outbox_by_created", "account_id", "created", "id"),
)

# Low-balance alert state per account (billing/low_balance.py): when the last alert went out while the balance
# stayed at or below its threshold. Claimed by a conditional update, so two processes never both send.
low_balance_alerts = Table(
    "low_balance_alerts",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("last_sent", BigInteger, nullable=False),
)

# Service plans (billing/services.py): the last quantities and priced lines of each account, locked by whoever
# records a change so processes sharing the database see each change once; `services_audit` keeps every change
# of quantities or plans with what it cost (`body`: changes, the recurring total, proration and activation units),
# which the monthly bill reads for prorations.
services_state = Table(
    "services_state",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("quantities", Text, nullable=False),
    Column("lines", Text, nullable=False),
    Column("modified", BigInteger, nullable=False),
)
services_audit = Table(
    "services_audit",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("who", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Index("services_audit_by_created", "account_id", "created", "id"),
)

# Auto-recharge state per account (billing/topup.py): when its last top-up was asked, claimed by a conditional
# statement so that several processes charge at most once a day, and the idempotency key of a charge whose outcome
# is not known yet (the gateway did not answer, or the process died) with its amount, which the next check settles.
topup_attempts = Table(
    "topup_attempts",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("last_attempt", BigInteger, nullable=False),
    Column("pending_key", String(255), nullable=True),
    Column("pending_amount", BigInteger, nullable=True),
)
