"""Django settings for Colloquy, driven by the environment.

No DATABASE_URL / REDIS_URL: the embedded profile (SQLite, in-process bus,
SQLite journal, in-process persister) so a laptop runs it with nothing else.
Both set: the services profile (Postgres, Redis pub/sub, Redis Streams journal,
`manage.py persister` processes).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
PROFILE = "services" if (DATABASE_URL and REDIS_URL) else "embedded"
if bool(DATABASE_URL) != bool(REDIS_URL):
    raise RuntimeError("set both DATABASE_URL and REDIS_URL (services profile) or neither")

# Where the embedded profile keeps its files (database and journal).
DATA_DIR = Path(os.environ.get("COLLOQUY_DATA_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "realtime",
    "core",
    "rooms",
    "feed",
    "presence",
    "notifications",
    "roundtables",
    # Apps added by the deployment (comma-separated): each brings its own stream
    # kinds, events, ops and tables through its AppConfig.ready, with no edit here.
    *[a for a in os.environ.get("COLLOQUY_EXTRA_APPS", "").split(",") if a],
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "realtime.urls"
ASGI_APPLICATION = "asgi.application"
AUTH_USER_MODEL = "core.Employee"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if PROFILE == "services":
    # Health checks: after a database outage, pooled connections that were cut are
    # replaced instead of failing the next request (or socket handshake).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60,
                                                  conn_health_checks=True)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "colloquy.sqlite3",
            "OPTIONS": {
                # WAL lets the persister write while requests read.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"  # only for `collectstatic` behind a CDN
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
# The browser client (plain ES modules, no build step) lives in static/.
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the source folders: `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Browser origins whose pages may open a socket with the session cookie.
# Anything else presenting only a cookie is refused (cross-site socket hijacking).
ALLOWED_ORIGINS = [
    o
    for o in os.environ.get(
        "COLLOQUY_ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"
    ).split(",")
    if o
]
CSRF_TRUSTED_ORIGINS = ALLOWED_ORIGINS

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("COLLOQUY_LOG_LEVEL", "INFO")},
    # daphne's access log prints request paths; ticket query strings are secrets.
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# ---------------------------------------------------------------------------
# Limits. Each is a setting because the right value depends on the deployment;
# the comment says why the default is what it is. The ones a client must
# respect are announced in the hello frame's `limits`.
# ---------------------------------------------------------------------------

# Largest inbound frame. A chat op is well under 1 KiB; 64 KiB leaves room for
# long messages while keeping a single socket from pinning megabytes.
MAX_FRAME_BYTES = _int("COLLOQUY_MAX_FRAME_BYTES", 65536)
# Pending connections the kernel queues for the server (listen backlog). A
# reconnect storm after a deploy brings thousands at once; the usual 50-128
# would refuse most of them before the server sees them.
LISTEN_BACKLOG = _int("COLLOQUY_LISTEN_BACKLOG", 4096)
# Time a connection has to send a complete request line and headers (a socket's
# upgrade request included), from its connect or a request's first byte. A real
# client sends them in one packet; 10 s covers a slow mobile link, and a silent
# or slowloris connection is dropped before thousands of them pile up.
HANDSHAKE_TIMEOUT_SECONDS = _float("COLLOQUY_HANDSHAKE_TIMEOUT_SECONDS", 10.0)
# Socket handshakes authenticated at once per process; more wait their turn (a
# reconnect storm queues, it does not fail), and the database is not asked for
# more credentials at once than its connection pool holds.
HANDSHAKE_CONCURRENCY = _int("COLLOQUY_HANDSHAKE_CONCURRENCY", 16)
# Longest message body in characters: a long post fits; a pasted log file does not.
MAX_BODY_CHARS = _int("COLLOQUY_MAX_BODY_CHARS", 10000)
# Distinct emoji on one message: a row of chips stays readable, and one member
# cannot bury a message under a hundred reactions (Slack stops at 23).
MAX_REACTION_EMOJI = _int("COLLOQUY_MAX_REACTION_EMOJI", 20)
# Newest events of a room searched for a message not yet in the database (an
# edit or reaction right after the send). Unpersisted entries are the newest, and
# the persister keeps the backlog far below this; past it the answer is not_found.
MESSAGE_LOOKUP_EVENTS = _int("COLLOQUY_MESSAGE_LOOKUP_EVENTS", 2000)
# Messages (as sent, which never changes) each process remembers after looking
# one up for an edit, a reaction or a reply: a few MB, and a burst of reactions
# to one message costs one read.
SENT_CACHE_MESSAGES = _int("COLLOQUY_SENT_CACHE_MESSAGES", 10000)
# Rooms up to this size take @room from anyone; above it only moderators,
# executives and admins: one everyone-ping in a room of thousands is a
# thousand interruptions (Slack and Mattermost ask first from a handful).
MENTION_ROOM_MAX_MEMBERS = _int("COLLOQUY_MENTION_ROOM_MAX_MEMBERS", 50)
# Ops per second per connection (token bucket rate) and burst. People type at
# a few ops per second; a client replaying a queue after reconnect needs a burst.
RATE_PER_SECOND = _float("COLLOQUY_RATE_PER_SECOND", 20.0)
RATE_BURST = _int("COLLOQUY_RATE_BURST", 60)
# Ops per second per employee across all their sockets and processes
# (realtime.quota), besides each socket's own bucket: a few sockets (laptop, phone,
# tabs) each at full rate is fine, a script spreading a flood over many is not.
EMPLOYEE_RATE_PER_SECOND = _float("COLLOQUY_EMPLOYEE_RATE_PER_SECOND", 50.0)
EMPLOYEE_RATE_BURST = _int("COLLOQUY_EMPLOYEE_RATE_BURST", 150)
# How often each process adds the ops it admitted to the shared per-employee
# counters (services): the overshoot across processes is at most this long.
RATE_SYNC_SECONDS = _float("COLLOQUY_RATE_SYNC_SECONDS", 0.25)
# Sockets one employee may hold open at once, on all processes: laptop, phone,
# a few tabs and a bot or two; the next is refused with 4030.
MAX_SOCKETS_PER_EMPLOYEE = _int("COLLOQUY_MAX_SOCKETS_PER_EMPLOYEE", 16)
# Ops refused for rate in a row before the socket is closed as a flood (4029):
# a well-behaved client backs off after the first rate_limited error.
FLOOD_STRIKES = _int("COLLOQUY_FLOOD_STRIKES", 50)
# Frames waiting for one slow socket before it is closed with 4009. Big enough to
# absorb a burst into a busy room; small enough that 10,000 sockets stay bounded.
OUTBOUND_QUEUE_FRAMES = _int("COLLOQUY_OUTBOUND_QUEUE_FRAMES", 2000)
# Seconds between client pings the server asks for; after 3 missed, it closes 4008.
HEARTBEAT_SECONDS = _int("COLLOQUY_HEARTBEAT_SECONDS", 25)
# Seconds a close frame may wait behind unread data before the connection is
# dropped: a client that stopped reading never lets it out.
CLOSE_TIMEOUT_SECONDS = _float("COLLOQUY_CLOSE_TIMEOUT_SECONDS", 5.0)
# Deliveries the hub makes per turn of the event loop before it lets other work
# (acks, requests, other rooms) run. A frame into a room of 1,000 costs ~9 ms
# of writes; slices of 64 (~0.6 ms) keep an ack from waiting behind all of it
# (measured: ack p99 22 ms with 256, 13 ms with 64, at 68-100 msgs/s into 1,000).
FANOUT_SLICE_SOCKETS = _int("COLLOQUY_FANOUT_SLICE_SOCKETS", 64)
# When the fan-out falls behind, later frames of a stream join the one waiting
# (one write per socket for all of them) up to this many: enough to turn a
# burst into few writes, small enough to bound one socket's single write.
FANOUT_MERGE_FRAMES = _int("COLLOQUY_FANOUT_MERGE_FRAMES", 64)
# Most events one history call returns (the client pages with seq cursors).
HISTORY_MAX_LIMIT = _int("COLLOQUY_HISTORY_MAX_LIMIT", 200)
# The notification centre: a preview is a line, not the message (the message
# is one click away); a page is a panel's worth; a read names at most this many
# ids (a client marking everything read sends `up_to`).
NOTIFICATION_PREVIEW_CHARS = _int("COLLOQUY_NOTIFICATION_PREVIEW_CHARS", 140)
NOTIFICATIONS_MAX_LIMIT = _int("COLLOQUY_NOTIFICATIONS_MAX_LIMIT", 100)
NOTIFICATIONS_READ_MAX_IDS = _int("COLLOQUY_NOTIFICATIONS_READ_MAX_IDS", 500)
# Read receipts ("seen by") are kept for rooms up to this size: each read then
# costs a count of the room's members and, once per RECEIPT_COALESCE_MS, one
# event to all of them. Slack and Mattermost offer none, because past a few
# dozen people a list of who read what is O(members) per read and says little.
RECEIPTS_MAX_MEMBERS = _int("COLLOQUY_RECEIPTS_MAX_MEMBERS", 50)
# How long a process gathers moved read markers of one room into one
# receipt.updated: a burst of reads in a 50-member room is a few events, not 50.
RECEIPT_COALESCE_MS = _int("COLLOQUY_RECEIPT_COALESCE_MS", 1000)
# Search: results per call (pages go on with `before`), and the query's length
# (a sentence, not a document: a long OR-list costs the index a scan per term).
SEARCH_MAX_LIMIT = _int("COLLOQUY_SEARCH_MAX_LIMIT", 50)
SEARCH_MAX_QUERY_CHARS = _int("COLLOQUY_SEARCH_MAX_QUERY_CHARS", 200)
# Postgres search: a query with fewer matches in the searcher's rooms than this
# is answered by sorting its matches; one with more by walking back from the
# newest message (rooms.search). Measured over 1,000,000 messages: 500 gave
# p99 82 ms against 115 ms at 2,000 (counting and sorting more costs more).
SEARCH_SORT_MATCHES = _int("COLLOQUY_SEARCH_SORT_MATCHES", 500)
# Most events one resume call replays per stream; past that the reply says
# where to continue, so a long-offline client cannot pin the server.
RESUME_MAX_EVENTS = _int("COLLOQUY_RESUME_MAX_EVENTS", 2000)
# Events per stream kept in the journal's replay window after they are persisted.
# Resume inside the window never touches the database.
JOURNAL_WINDOW = _int("COLLOQUY_JOURNAL_WINDOW", 1000)
# After Redis loses its data, each stream's seq restarts this far above the
# highest seq in the database: acked events that were lost with Redis may have
# been seen by clients, and their seqs must never be reused. It must exceed the
# most events one stream can have waiting for the persister.
JOURNAL_RESEED_GAP = _int("COLLOQUY_JOURNAL_RESEED_GAP", 100000)
# How long a client_id is remembered for idempotent retries. Clients retry for
# minutes at most; a day covers a laptop that slept through the ack.
DEDUPE_TTL_SECONDS = _int("COLLOQUY_DEDUPE_TTL_SECONDS", 86400)
# Longest client_id accepted (it is a key in Redis and Postgres).
MAX_CLIENT_ID_CHARS = _int("COLLOQUY_MAX_CLIENT_ID_CHARS", 64)  # at most 64: column size
# Members in one room create/invite call, and members of a room. Rooms of
# thousands are expected (company-wide announcements).
MAX_ROOM_MEMBERS = _int("COLLOQUY_MAX_ROOM_MEMBERS", 20000)
MAX_INVITE_BATCH = _int("COLLOQUY_MAX_INVITE_BATCH", 500)
MAX_ROOM_NAME_CHARS = _int("COLLOQUY_MAX_ROOM_NAME_CHARS", 200)  # at most 200: column size
# Seconds a one-time socket ticket is valid: long enough for a page to open a
# socket, short enough that a leaked URL is useless.
TICKET_TTL_SECONDS = _int("COLLOQUY_TICKET_TTL_SECONDS", 30)
# Password hashing: Django's default (PBKDF2, a million iterations, about half a
# second of CPU per log-in here) unless this names others. The test suite names
# the MD5 hasher, as Django's testing docs advise, because it logs in hundreds of
# times; a deployment never sets it.
if os.environ.get("COLLOQUY_PASSWORD_HASHERS"):
    PASSWORD_HASHERS = os.environ["COLLOQUY_PASSWORD_HASHERS"].split(",")
# Log-in throttling (core.throttle), checked before the password is hashed, so
# guessing neither succeeds nor takes the CPU. Failed log-ins are counted per
# username and per client address; past the free ones each further failure locks
# that key for base * 2^k seconds (k = 0, 1, …), up to the maximum.
# Five: someone who mistypes gets several tries before any wait.
LOGIN_FREE_FAILURES = _int("COLLOQUY_LOGIN_FREE_FAILURES", 5)
# Thirty: one office behind one NAT address holds many people who mistype.
LOGIN_IP_FREE_FAILURES = _int("COLLOQUY_LOGIN_IP_FREE_FAILURES", 30)
LOGIN_BACKOFF_BASE_SECONDS = _float("COLLOQUY_LOGIN_BACKOFF_BASE_SECONDS", 1.0)
# Fifteen minutes at most: a guesser who locks a colleague's username out cannot
# keep them out long (their open sockets and tokens keep working meanwhile).
LOGIN_BACKOFF_MAX_SECONDS = _float("COLLOQUY_LOGIN_BACKOFF_MAX_SECONDS", 900.0)
# Failures are forgotten this long after the last one.
LOGIN_FORGET_SECONDS = _float("COLLOQUY_LOGIN_FORGET_SECONDS", 3600.0)
# Longest password accepted for hashing: long enough for any passphrase, short
# enough that nobody makes the server hash megabytes.
MAX_PASSWORD_CHARS = _int("COLLOQUY_MAX_PASSWORD_CHARS", 1024)
# Persister: entries per batch (one COPY per table, one transaction) and how long an entry may
# sit unacknowledged with a dead persister before another claims it.
PERSIST_BATCH = _int("COLLOQUY_PERSIST_BATCH", 2000)
PERSIST_CLAIM_IDLE_MS = _int("COLLOQUY_PERSIST_CLAIM_IDLE_MS", 15000)
# /readyz fails when this many journal entries wait for the database, or the
# oldest has waited this long: the journal is the buffer, not the archive.
READY_MAX_LAG_ENTRIES = _int("COLLOQUY_READY_MAX_LAG_ENTRIES", 100000)
READY_MAX_LAG_SECONDS = _float("COLLOQUY_READY_MAX_LAG_SECONDS", 30.0)
# Redis connection pool per server process. Bursts of thousands of connects
# must wait for a connection, not fail, so the pool blocks up to this long.
REDIS_POOL_SIZE = _int("COLLOQUY_REDIS_POOL_SIZE", 64)
REDIS_POOL_TIMEOUT = _float("COLLOQUY_REDIS_POOL_TIMEOUT", 10.0)
# Key prefix, so several deployments (or test runs) can share one Redis.
REDIS_PREFIX = os.environ.get("COLLOQUY_REDIS_PREFIX", "cq")

# --- presence and typing (docs/protocol.md, "Presence" and "Typing") ----------
# A process's liveness entry lives this long unless the process refreshes it; its
# connections count only while it lives. A process killed without closing its
# sockets stops refreshing, so its users go offline within TTL + one sweep.
PRESENCE_TTL_SECONDS = _float("COLLOQUY_PRESENCE_TTL_SECONDS", 30.0)
# How often each process refreshes its liveness (one script call, whatever its
# socket count) and sweeps dead processes. A third of the TTL survives one miss.
PRESENCE_REFRESH_SECONDS = _float("COLLOQUY_PRESENCE_REFRESH_SECONDS", 10.0)
# Offline is announced only after the last connection has been gone this long,
# so a reload or a flapping network makes no offline/online pair.
PRESENCE_OFFLINE_DELAY_SECONDS = _float("COLLOQUY_PRESENCE_OFFLINE_DELAY_SECONDS", 5.0)
# A connected employee with no request but pings for this long shows as away.
PRESENCE_AWAY_AFTER_SECONDS = _float("COLLOQUY_PRESENCE_AWAY_AFTER_SECONDS", 300.0)
# Users one presence.subscribe / presence.query may name (a directory page).
PRESENCE_MAX_USERS = _int("COLLOQUY_PRESENCE_MAX_USERS", 200)
# Presence changes are pushed only into rooms with at most this many members.
# In a room of n members a connect storm would otherwise be n² frames (1,000
# members: ~500,000); members of bigger rooms presence.subscribe to the people
# they look at. 0: never push presence into rooms, only to subscribers.
PRESENCE_MAX_ROOM_MEMBERS = _int("COLLOQUY_PRESENCE_MAX_ROOM_MEMBERS", 200)
# Typing: at most one relayed per sender per room per window; receivers drop an
# indicator after expires_in, so a lost "stop" never leaves one stuck.
TYPING_RELAY_SECONDS = _float("COLLOQUY_TYPING_RELAY_SECONDS", 3.0)
TYPING_EXPIRES_SECONDS = _float("COLLOQUY_TYPING_EXPIRES_SECONDS", 6.0)

# Check every event against its type's schema before it is stored or sent
# (realtime.schema). The test suite turns it on, so a malformed event fails the
# run; in production the schemas are checked by the tests, not per event.
CHECK_EVENT_SCHEMAS = os.environ.get("COLLOQUY_CHECK_EVENT_SCHEMAS", "0") == "1"

# --- offline digest e-mails (notifications.digest; docs/operations.md, "Digest e-mails")
# How often each persister sends digests, and the least time between two digests
# to one employee: an hour turns a busy afternoon into one e-mail, not one per
# mention. 0: no periodic run (cron runs `manage.py send_digests`, and then each
# run may send anyone a digest of what is new since their last).
DIGEST_INTERVAL_SECONDS = _int("COLLOQUY_DIGEST_INTERVAL_SECONDS", 3600)
# Notifications listed in one digest, newest first; the rest are counted. An
# e-mail is a nudge to come back; the notification centre is the full list.
DIGEST_MAX_ITEMS = _int("COLLOQUY_DIGEST_MAX_ITEMS", 20)
# Where employees reach the browser client; links in e-mails are built on it.
PUBLIC_BASE_URL = os.environ.get("COLLOQUY_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Django's e-mail settings, read from variables of Django's own names. Embedded
# prints e-mails to the console (a laptop has no mail server); services sends
# them through SMTP at EMAIL_HOST.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", (
    "django.core.mail.backends.smtp.EmailBackend" if PROFILE == "services"
    else "django.core.mail.backends.console.EmailBackend"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "0") == "1"  # STARTTLS, usually port 587
EMAIL_USE_SSL = os.environ.get("EMAIL_USE_SSL", "0") == "1"  # TLS from the start, port 465
# Django waits for ever by default; a mail server that stops answering must only
# cost the digest run this long per attempt.
EMAIL_TIMEOUT = _float("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Colloquy <colloquy@localhost>")
# The file backend's folder (django.core.mail.backends.filebased; the tests use it).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))

# --- round tables (roundtables/)
# Vote-count events per round table per second (all processes): a thousand votes in
# a burst reach each viewer as a few rankings, each with the counts as they are
# then, and the last one exact once the burst ends.
ROUNDTABLE_RANKING_PER_SECOND = _float("COLLOQUY_ROUNDTABLE_RANKING_PER_SECOND", 4.0)
# Questions one employee may ask in one round table per minute: enough to ask
# and rephrase, not to flood the queue the moderators read.
ROUNDTABLE_QUESTIONS_PER_MINUTE = _int("COLLOQUY_ROUNDTABLE_QUESTIONS_PER_MINUTE", 5)
# Round tables whose unchanging facts (pre-moderation, staff) each process keeps
# for question.ask's one-statement path: far more than run at once, and a few
# hundred bytes each.
ROUNDTABLE_FACTS_CACHED = _int("COLLOQUY_ROUNDTABLE_FACTS_CACHED", 1024)
# A question is a question, not an essay (the moderators read every one).
ROUNDTABLE_MAX_QUESTION_CHARS = _int("COLLOQUY_ROUNDTABLE_MAX_QUESTION_CHARS", 1000)
# How long after a round table ends its viewers' sockets still hold its streams: a
# client away when it ended resumes through the last answers and the end (a long
# weekend and more); after that its stream leaves the hello, and each socket of a
# frequent viewer holds only the round tables of about a month.
ROUNDTABLE_HELD_AFTER_END_DAYS = _float("COLLOQUY_ROUNDTABLE_HELD_AFTER_END_DAYS", 30.0)
