"""The resource spec: every name and number the seed document fixes, as plain data.

The Pulumi components, the local emulator bootstrap, the service, the worker and the
migration engine all read this module, so AWS and the local rehearsal cannot drift.
No Pulumi, boto3 or Flask import belongs here.
"""

from __future__ import annotations

from dataclasses import dataclass

PRODUCTION = "prod"


def scheduled_redrive(environment: str) -> bool:
    """Whether a schedule redrives the environment's DLQ unattended: everywhere but production
    (the stack's `scheduledRedrive` defaults to it and refuses it in prod; the worker decides
    from it which attempt is a job's last)."""
    return environment != PRODUCTION
"""The production environment's name: redrives and anonymous access are refused there."""

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


# --- DynamoDB -------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    hash_key: str
    range_key: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None
    attributes: dict[str, str]  # attribute name -> DynamoDB scalar type ("S", "N")
    indexes: tuple[GlobalIndex, ...] = ()
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = True


SOUNDBITE_TTL_SECONDS = 30 * DAY
"""Soundbite records expire 30 days after creation (DynamoDB TTL)."""

ENVIRONMENT_CREATED_INDEX = "environment-createdAt-index"
USER_ENVIRONMENT_INDEX = "userId-environment-index"

SOUNDBITES_TABLE = TableSpec(
    name="soundbites",
    hash_key="pk",  # "<environment>:<id>"
    range_key="sk",  # "SOUNDBITE#<id>"
    attributes={
        "pk": "S",
        "sk": "S",
        "environment": "S",
        "createdAt": "S",
        "userId": "S",
        "environmentCreatedAt": "S",
    },
    indexes=(
        GlobalIndex(ENVIRONMENT_CREATED_INDEX, "environment", "createdAt"),
        # The seed's UserId + Environment index, with createdAt appended to the range key
        # ("<environment>#<createdAt>") so one Query returns a user's soundbites newest first.
        GlobalIndex(USER_ENVIRONMENT_INDEX, "userId", "environmentCreatedAt"),
    ),
    ttl_attribute="expiresAt",
)

IDEMPOTENCY_TABLE = TableSpec(
    name="idempotency",
    hash_key="id",
    range_key=None,
    attributes={"id": "S"},
    ttl_attribute="expiration",
)

MIGRATION_LEDGER_TABLE = TableSpec(
    name="migration-ledger",
    hash_key="pk",  # "RUN#<stack>" or "LOCK#<stack>"
    range_key="sk",  # "STATE", "EVENT#<ts>#<seq>"
    attributes={"pk": "S", "sk": "S"},
    # No TTL: the lock item's `expiresAt` is its lease, and a TTL on it would delete a released
    # or lapsed lock, restarting the fencing token at 1 (and, on an emulator that reaps, pull
    # the lock from under a run whose clock lags).
    ttl_attribute=None,
)

TABLES = (SOUNDBITES_TABLE, IDEMPOTENCY_TABLE, MIGRATION_LEDGER_TABLE)

# --- Idempotency, rate limits, caching -----------------------------------------------------

IDEMPOTENCY_TTL_SECONDS = 24 * HOUR
AWS_CONNECT_TIMEOUT_SECONDS = 2
AWS_READ_TIMEOUT_SECONDS = 5
AWS_MAX_ATTEMPTS = 3
"""Every AWS call of the API and the worker: at most this many tries (retries included)."""
AWS_CALL_MAX_SECONDS = AWS_MAX_ATTEMPTS * (AWS_CONNECT_TIMEOUT_SECONDS + AWS_READ_TIMEOUT_SECONDS)
CREATE_AWS_CALLS = 4
"""A create with a new key: take the key, queue the job, write the record, store the answer."""
IDEMPOTENCY_LEASE_SECONDS = CREATE_AWS_CALLS * AWS_CALL_MAX_SECONDS + 6  # 90 s
"""How long an in-progress idempotency record blocks its key before another request may take
it: longer than the slowest create can take, so a client's retry never runs a create twice
(it answers 409 while the first is still at work; a crashed server's key frees after this)."""
IDEMPOTENCY_LOCAL_CACHE_SECONDS = MINUTE
"""How long a process keeps a completed key's answer in memory: a client's retries (seconds
apart) are answered without DynamoDB; a later replay reads the shared record (kept 24 h)."""
REDIS_SOCKET_TIMEOUT_SECONDS = 0.25
"""Every Redis call of the API (cache, rate limit): a slow Redis costs a request a quarter
second, then the request goes on without it."""
READINESS_CACHE_SECONDS = 2.0
"""`/readyz` reuses its answer this long in each process: a burst of checks makes one probe."""

RATE_LIMIT_DEFAULT = "100 per 15 minutes"
CACHE_MAX_ENTRIES = 1024
CACHE_TTL_SECONDS = 5
"""How long a soundbite in a final state (ready, failed: they never change again) is cached."""
CACHE_IN_FLIGHT_TTL_SECONDS = 1
"""How long a pending or processing soundbite is cached: the bound on how long a cache may
hide a status change the worker made from a client polling for it."""
CACHE_COMPRESS_ABOVE_BYTES = 1024

# --- Request limits ------------------------------------------------------------------------

TEXT_MAX_CHARS = 3000
DEFAULT_VOICE = "en-us"
DEFAULT_FORMAT = "mp3"
BODY_MAX_BYTES = 64 * 1024
CSP_REPORT_MAX_BYTES = 16 * 1024
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
PRESIGNED_URL_SECONDS = 15 * MINUTE
LOCAL_ENVIRONMENTS = ("local",)
"""Environments on a developer's machine (`soundbite dev`, compose): the only ones that may run
without authentication (`SOUNDBITE_AUTH=off`), without Redis or with the built-in cursor
secret. `dev` is not one: it names a stack deployed to AWS (`Pulumi.dev.yaml`)."""
USER_ID_MAX_CHARS = 128
AUTH_CLOCK_LEEWAY_SECONDS = 5
AUTH_JWKS_CACHE_SECONDS = 5 * MINUTE
AUTH_JWKS_TIMEOUT_SECONDS = 2
CURSOR_SECRET_MIN_CHARS = 32
TRUSTED_PROXIES_MAX = 3  # X-Forwarded-For hops the API may be told to trust

# --- S3 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketSpec:
    name: str
    transition_to_ia_days: int = 30
    expire_days: int = 90
    versioning: bool = True
    sse_algorithm: str = "AES256"  # S3-managed keys ("AWS managed keys" in the seed)
    block_public_access: bool = True
    audio_prefix: str = "audio/"
    cors_methods: tuple[str, ...] = ("GET", "HEAD")
    cors_max_age_seconds: int = 3000


AUDIO_BUCKET = BucketSpec(name="audio")

# --- SQS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout_seconds: int
    receive_wait_seconds: int
    retention_seconds: int
    max_receive_count: int | None = None
    dead_letter: str | None = None


LAMBDA_TIMEOUT_SECONDS = 120
"""The seed's Lambda timeout; visibility = this + 10 s safety margin."""
VISIBILITY_TIMEOUT_SECONDS = LAMBDA_TIMEOUT_SECONDS + 10  # 130 s, from the seed
LONG_POLL_SECONDS = 20
RECEIVE_BATCH_SIZE = 10
MAX_RECEIVE_COUNT = 3
DLQ_RETENTION_SECONDS = 14 * DAY
QUEUE_RETENTION_SECONDS = 4 * DAY
LAMBDA_CONCURRENCY = 10
LAMBDA_MEMORY_MB = 512

DLQ = QueueSpec(
    name="jobs-dlq",
    visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS,
    receive_wait_seconds=LONG_POLL_SECONDS,
    retention_seconds=DLQ_RETENTION_SECONDS,
)
JOBS_QUEUE = QueueSpec(
    name="jobs",
    visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS,
    receive_wait_seconds=LONG_POLL_SECONDS,
    retention_seconds=QUEUE_RETENTION_SECONDS,
    max_receive_count=MAX_RECEIVE_COUNT,
    dead_letter=DLQ.name,
)
QUEUES = (DLQ, JOBS_QUEUE)

JOB_DELAY_SECONDS = 1
"""A job is queued before its record is written (so no record can exist without a job) and
stays invisible this long, by which time the record has normally landed."""
UNWRITTEN_GRACE_SECONDS = 120
"""A job whose record is not there yet is retried while younger than this; an older one is
an orphan (the create failed after queueing it) and is dropped."""

# --- DLQ redrive -----------------------------------------------------------------------------

REDRIVE_SCHEDULE = "rate(15 minutes)"
REDRIVE_MAX_COUNT = 5
REDRIVE_BASE_DELAY_SECONDS = 30
REDRIVE_MAX_DELAY_SECONDS = 900  # SQS DelaySeconds ceiling

# --- Worker --------------------------------------------------------------------------------

WORKER_CONCURRENCY = 2
WORKER_GRACE_SECONDS = 25
"""In-flight jobs get this long after SIGTERM; ECS's stop timeout must be above it."""
LOCAL_WORKER_GRACE_SECONDS = 3
"""`soundbite dev` and the rehearsal's lanes: they stop within a few seconds of Ctrl-C."""
WORKER_MAX_CONCURRENCY = 64
"""The most jobs one worker process takes at once (`--concurrency`)."""
ECS_STOP_TIMEOUT_SECONDS = 30
SYNTHESIS_P95_SECONDS = 4.2

# --- HTTP serving ------------------------------------------------------------------------

ALB_IDLE_TIMEOUT_SECONDS = 60
GUNICORN_KEEPALIVE_SECONDS = ALB_IDLE_TIMEOUT_SECONDS + 5
GUNICORN_GRACEFUL_TIMEOUT_SECONDS = ECS_STOP_TIMEOUT_SECONDS - 5
GUNICORN_TIMEOUT_SECONDS = 30
GUNICORN_THREADS = 8
HEALTH_CHECK_PATH = "/healthz"
API_PORT = 8080
METRICS_FLUSH_SECONDS = 10
"""The API writes its per-request metrics as one EMF record per this many seconds per process
(well inside CloudWatch's one-minute periods), not one line per request."""

# --- Alarms (seed: Monitoring and Observability) --------------------------------------


@dataclass(frozen=True)
class AlarmThresholds:
    dlq_messages: int = 1
    queue_depth: int = 100
    oldest_message_seconds: int = 5 * MINUTE
    error_rate: float = 0.01
    p95_latency_ms: float = 300.0
    period_seconds: int = 60
    evaluation_periods: int = 3


ALARMS = AlarmThresholds()

# --- Migration -------------------------------------------------------------------------------

STACKS = ("ec2", "fargate")
DEFAULT_SHIFT_STEPS = (5, 25, 50, 100)
DNS_RECORD_TTL_SECONDS = 60
METRIC_LAG_SECONDS = 60
DEFAULT_SOAK_SECONDS = 10 * MINUTE
LEDGER_LEASE_SECONDS = 60
INSYNC_TIMEOUT_SECONDS = 5 * MINUTE
"""How long a Route 53 change may stay PENDING before the move counts as failed."""
INSYNC_POLL_SECONDS = 5
"""The default plan's wait between GetChange polls (a plan may set its own)."""
INSYNC_FIRST_POLL_SECONDS = 1
"""The first GetChange poll's wait; each after it doubles up to the plan's poll interval."""
FARGATE_SCALE_OUT_WAIT_SECONDS = 10 * MINUTE
"""How long a move waits for the Fargate tasks it raised before it holds instead (a task
pulls its image and passes its health check in a few minutes)."""
ROUTE53_MAX_ATTEMPTS = 6
"""A traffic move's tries (retries included): a rollback outlasts a burst of Route 53's
throttling (`PriorRequestNotComplete`) rather than give up after the API's three."""
EC2_MIN_CAPACITY_AFTER_COMPLETE = 1


@dataclass(frozen=True)
class ResourceNames:
    """Physical names for one environment: every provisioner derives names here."""

    environment: str
    prefix: str = "soundbite"

    def _name(self, base: str) -> str:
        return f"{self.prefix}-{self.environment}-{base}"

    def table(self, spec: TableSpec) -> str:
        return self._name(spec.name)

    def queue(self, spec: QueueSpec) -> str:
        return self._name(spec.name)

    def bucket(self, spec: BucketSpec = AUDIO_BUCKET) -> str:
        return self._name(spec.name)


# --- Cloud sizing and scaling (read by the Pulumi components) ---------------------------------

FARGATE_API_CPU = 512  # ECS CPU units (0.5 vCPU)
FARGATE_API_MEMORY_MB = 1024
FARGATE_WORKER_CPU = 1024  # synthesis is CPU-bound; one vCPU per WORKER_CONCURRENCY jobs
FARGATE_WORKER_MEMORY_MB = 2048
EC2_INSTANCE_TYPE = "t3.small"
AUTOSCALE_MAX_FACTOR = 3
"""Autoscaling may grow a service to this many times its full-traffic capacity."""
API_SCALE_REQUESTS_PER_TARGET = 600
"""Target requests per API task per minute (ALBRequestCountPerTarget)."""
API_SCALE_CPU_PERCENT = 60
WORKER_SCALE_BACKLOG_PER_TASK = 10
"""Visible jobs per worker task: ~20 s of work at WORKER_CONCURRENCY and SYNTHESIS_P95_SECONDS."""
HEALTH_CHECK_INTERVAL_SECONDS = 15
HEALTH_CHECK_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
TARGET_DEREGISTRATION_DELAY_SECONDS = GUNICORN_TIMEOUT_SECONDS
"""Let the longest request finish on a draining target before it is removed."""
HEALTH_CHECK_GRACE_SECONDS = 60
"""Fargate: a task starts from an image the host already caches per layer; 60 s covers boot."""
EC2_HEALTH_CHECK_GRACE_SECONDS = 300
"""EC2: boot (~60 s), log in to ECR and pull the runtime image (<= 400 MB, ~60 s in-region),
start gunicorn (~10 s), then HEALTHY_THRESHOLD checks at HEALTH_CHECK_INTERVAL_SECONDS, with
room to spare: an instance is only judged by the load balancer after this."""
EC2_WAIT_FOR_CAPACITY_TIMEOUT = "15m"
"""How long `pulumi up` waits for the API group's instances to pass the load balancer's check."""
LOG_RETENTION_DAYS = 30
ECR_KEEP_IMAGES = 30
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
REQUIRED_TAGS = ("Project", "Environment", "ManagedBy")

# --- Synthesis limits (runtime) --------------------------------------------------------------

SYNTHESIS_TIME_LIMIT_SECONDS = 60
"""One synthesis may run this long (about 14 x SYNTHESIS_P95_SECONDS) before its process is
killed and the attempt counts as failed; well inside LAMBDA_TIMEOUT_SECONDS."""
MAX_CONCURRENT_SYNTHESES = LAMBDA_CONCURRENCY
"""The seed's cap: at most 10 syntheses at once across every worker of both stacks (it
protects DynamoDB), held as leases in the Redis the workers share."""
SYNTHESIS_LEASE_SECONDS = SYNTHESIS_TIME_LIMIT_SECONDS + 15
"""A synthesis slot's lease: longer than the synthesis it covers may run (the time limit kills
it), so even a worker that cannot reach Redis to renew never lets its lease lapse under a
running synthesis (which would let an eleventh start); renewed while its job runs, and a dead
worker's slot frees itself after at most this long."""
