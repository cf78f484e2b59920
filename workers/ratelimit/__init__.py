"""A rate limiter shared by every worker process on every host.

Per provider and model (or pool of models sharing a provider bucket): requests,
input tokens and output tokens per minute (or tokens per minute, OpenAI), as
continuously refilling buckets in Redis; a call reserves its estimate before it
is sent and settles with its actual usage; a 429 cools the model down for every
worker; the providers' rate-limit headers lower the buckets. Limits are data: a
table passed to ``load_limits`` (``Settings.rate_limits_file``, env
``PROMPTQ_RATE_LIMITS``; ``limits.example.toml`` has the shape), and, for every
dimension the table does not configure, the limit the provider advertises in its
headers, learned from the first response on. The packaged ``limits.toml`` limits
nothing up front.

Modules: ``limits`` (values), ``table`` (the limit table), ``bucket`` (the math),
``headers`` (parsing), ``backend`` (the storage protocol), ``redis_backend`` and
``memory`` (its two implementations), ``lease`` (capacity a process reserves ahead of
its calls), ``limiter`` (what the worker calls).
"""

from .backend import RateLimitBackend
from .errors import CapacityWait
from .headers import Observation, parse_rate_limit_headers
from .limiter import RateLimiter, Reservation
from .limits import BucketPolicy, Dimension, Limits
from .memory import MemoryBackend
from .redis_backend import RedisBackend
from .table import LimitTable, load_limits

__all__ = [
    "BucketPolicy",
    "CapacityWait",
    "Dimension",
    "LimitTable",
    "Limits",
    "MemoryBackend",
    "Observation",
    "RateLimitBackend",
    "RateLimiter",
    "RedisBackend",
    "Reservation",
    "load_limits",
    "parse_rate_limit_headers",
]
