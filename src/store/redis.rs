//! [`RedisCounterStore`]: counters and leases in Redis, shared by every
//! process that uses the same server and prefix.
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_ai::store::{CounterOp, CounterStore, RedisCounterStore, Window};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> tower_ai::Result<()> {
//! let store = RedisCounterStore::connect("redis://127.0.0.1:6379/")
//!     .await?
//!     .with_prefix("gateway:");
//! let op = CounterOp::new("tokens:tenant:acme", 1_200, 1_000_000, Window::DAY);
//! let ttl = Duration::from_secs(600);
//! if store.reserve("call-1", &[op.clone()], ttl).await?.is_admitted() {
//!     // ... the call, which used 900 tokens ...
//!     store.settle("call-1", &[op], &[900]).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How it is kept
//!
//! [`reserve`](CounterStore::reserve), [`settle`](CounterStore::settle) and
//! [`value`](CounterStore::value) are each one Lua script, run by the server
//! as one atomic step over every counter of the call, on the server's clock
//! (`TIME`), so replicas with skewed clocks agree on windows and lease
//! expiry. Under the prefix (default `tower-ai:`):
//!
//! - `c:{window}:{index}:{key}`: a counter in one window (a hash of `s`,
//!   spent, and `h`, held), for a rolling window one of its 60 buckets. It
//!   expires a minute after its window (or bucket) has left the span a
//!   reservation reads; an unbounded counter never expires.
//! - `lease:{id}`: the lease's counters and amounts, in the order of the
//!   reservation's operations.
//! - `leases`: lease ids by expiry. Each call first lets go of the leases
//!   past their time, so a reservation of a process that died comes back
//!   after its time to live.
//!
//! A lease's hash expires a day after the lease: a lease that nothing
//! collects in that day (no call at all on the store) is forgotten, and
//! what it held stays held in its windows until they end (in an unbounded
//! counter, for good).
//!
//! The semantics are those of [`MemoryCounterStore`](super::MemoryCounterStore).
//! Amounts and limits are counted as Redis integers, up to `i64::MAX`;
//! larger figures are taken as `i64::MAX`.
//!
//! # When Redis is down
//!
//! Every method answers [`Error::Store`], with the
//! Redis error as its source; nothing is retried here (the connection
//! manager reconnects for later calls). A reservation that fails this way
//! may or may not have been recorded; if it was, its lease expires after
//! its time to live. Whether a call goes ahead without a budget (fail open)
//! or is refused (fail closed) is for the layer holding the store to decide.
//!
//! The scripts address keys they compute on the server, so the store runs
//! against a single Redis server (or a primary with replicas), not a Redis
//! Cluster.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{ErrorKind, RedisError, Script};
use async_trait::async_trait;

use super::{Admission, CounterOp, CounterStore, CounterValue, Window};
use crate::error::{Error, Result};

/// The prefix of every key, unless [`RedisCounterStore::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "tower-ai:";

/// What every script starts with: the server's time, window arithmetic
/// (the same as the memory store's), counter reads and lease expiry.
///
/// `ARGV[1]` is the key prefix.
const PRELUDE: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local prefix = ARGV[1]
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_us = now_s * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local BUCKETS = 60
local GRACE_MS = 60000
local LEASE_GRACE_MS = 86400000
local leases = prefix .. 'leases'

local function fmt(n) return string.format('%.0f', n) end

local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month
  if mp < 10 then month = mp + 3 else month = mp - 9 end
  local year = yoe + era * 400
  if month <= 2 then year = year + 1 end
  return year, month
end

local function days_from_civil(year, month)
  if month <= 2 then year = year - 1 end
  local era = math.floor(year / 400)
  local yoe = year - era * 400
  local mp
  if month > 2 then mp = month - 3 else mp = month + 9 end
  local doy = math.floor((153 * mp + 2) / 5)
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function next_month_ms(year, month)
  if month == 12 then year = year + 1; month = 1 else month = month + 1 end
  return days_from_civil(year, month) * 86400000
end

local function bucket(param) return math.max(math.floor(param / BUCKETS), 1) end

-- The number of the window (or rolling bucket) now falls in.
local function index(kind, param)
  if kind == 'f' then return math.floor(now_s / param)
  elseif kind == 'r' then return math.floor(now_ms / bucket(param))
  elseif kind == 'm' then
    local y, m = civil(math.floor(now_s / 86400))
    return y * 12 + (m - 1)
  end
  return 0
end

-- When the counter of window (or bucket) idx may go, in ms; nil for never.
local function expire_at(kind, param, idx)
  if kind == 'f' then return (idx + 1) * param * 1000 + GRACE_MS
  elseif kind == 'r' then return (idx + BUCKETS) * bucket(param) + GRACE_MS
  elseif kind == 'm' then
    return next_month_ms(math.floor(idx / 12), idx % 12 + 1) + GRACE_MS
  end
  return nil
end

-- Microseconds until the current span resets; -1 for never.
local function reset_us(kind, param)
  if kind == 'f' then return (math.floor(now_s / param) + 1) * param * 1000000 - now_us
  elseif kind == 'r' then
    local b = bucket(param)
    return (math.floor(now_ms / b) + 1) * b * 1000 - now_us
  elseif kind == 'm' then
    local y, m = civil(math.floor(now_s / 86400))
    return next_month_ms(y, m) * 1000 - now_us
  end
  return -1
end

local function slot_key(tag, key, idx) return prefix .. 'c:' .. tag .. ':' .. fmt(idx) .. ':' .. key end

-- Spent and held in the counter's current span.
local function read(key, tag, kind, param)
  local idx = index(kind, param)
  local lo = idx
  if kind == 'r' then lo = math.max(idx - BUCKETS + 1, 0) end
  local spent, held = 0, 0
  for i = lo, idx do
    local v = redis.call('HMGET', slot_key(tag, key, i), 's', 'h')
    spent = spent + (tonumber(v[1]) or 0)
    held = held + (tonumber(v[2]) or 0)
  end
  return spent, held
end

local function lease_key(id) return prefix .. 'lease:' .. id end

-- Lets go of what the lease hash records as held and deletes it; answers
-- its slots, in order, as { counter key, expiry in ms (0: none) }.
local function let_go(hash)
  local slots = {}
  local n = tonumber(redis.call('HGET', hash, 'n') or 0) or 0
  for i = 1, n do
    local f = redis.call('HMGET', hash, 'k' .. i, 'a' .. i, 'x' .. i)
    local k, a = f[1], f[2]
    if k and a and redis.call('EXISTS', k) == 1 then
      local h = tonumber(redis.call('HGET', k, 'h') or 0) or 0
      if h >= tonumber(a) then
        redis.call('HINCRBY', k, 'h', '-' .. a)
      else
        redis.call('HSET', k, 'h', 0)
      end
    end
    slots[i] = { k, tonumber(f[3]) or 0 }
  end
  redis.call('DEL', hash)
  return slots
end

-- Lets go of every lease past its time.
local function expire_leases()
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', now_ms)
  if #ids > 0 then
    for _, id in ipairs(ids) do let_go(lease_key(id)) end
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now_ms)
  end
end
"#;

/// `ARGV`: prefix, lease id, ttl in ms, n, then n times key, window tag,
/// window parameter, amount, limit. Answers `{1}` or `{0, op, current, reset_us}`.
const RESERVE: &str = r#"
expire_leases()
local id, ttl, n = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local pending = {}
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local key, tag, param = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local amount, limit = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local kind = string.sub(tag, 1, 1)
  local spent, held = read(key, tag, kind, param)
  local current = spent + held
  local slot = tag .. ':' .. key
  local earlier = pending[slot] or 0
  if current + earlier + amount > limit then
    return { 0, i - 1, current, reset_us(kind, param) }
  end
  pending[slot] = earlier + amount
end
local hash = lease_key(id)
if redis.call('EXISTS', hash) == 1 then
  let_go(hash)
end
local fields = { 'n', n }
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local key, tag, param, amount = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), ARGV[b + 4]
  local kind = string.sub(tag, 1, 1)
  local idx = index(kind, param)
  local k = slot_key(tag, key, idx)
  redis.call('HINCRBY', k, 'h', amount)
  local x = expire_at(kind, param, idx)
  if x then redis.call('PEXPIREAT', k, fmt(x)) end
  table.insert(fields, 'k' .. i)
  table.insert(fields, k)
  table.insert(fields, 'a' .. i)
  table.insert(fields, amount)
  table.insert(fields, 'x' .. i)
  table.insert(fields, fmt(x or 0))
end
redis.call('HSET', hash, unpack(fields))
redis.call('PEXPIRE', hash, fmt(ttl + LEASE_GRACE_MS))
redis.call('ZADD', leases, fmt(now_ms + ttl), id)
return { 1 }
"#;

/// `ARGV`: prefix, lease id, n, then n times key, window tag, window
/// parameter; then m, then m amounts spent.
const SETTLE: &str = r#"
local id, n = ARGV[2], tonumber(ARGV[3])
local hash = lease_key(id)
local slots
if redis.call('EXISTS', hash) == 1 then
  slots = let_go(hash)
  redis.call('ZREM', leases, id)
else
  slots = {}
  for i = 1, n do
    local b = 3 + (i - 1) * 3
    local key, tag, param = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
    local kind = string.sub(tag, 1, 1)
    local idx = index(kind, param)
    slots[i] = { slot_key(tag, key, idx), expire_at(kind, param, idx) or 0 }
  end
end
local s = 3 + n * 3 + 1
local m = tonumber(ARGV[s])
for i = 1, math.min(#slots, m) do
  local amount = ARGV[s + i]
  local k, x = slots[i][1], slots[i][2]
  if k and tonumber(amount) > 0 then
    redis.call('HINCRBY', k, 's', amount)
    if x > 0 then redis.call('PEXPIREAT', k, fmt(x)) end
  end
end
return 1
"#;

/// `ARGV`: prefix, key, window tag, window parameter. Answers
/// `{spent, held, reset_us}`.
const VALUE: &str = r#"
expire_leases()
local key, tag, param = ARGV[2], ARGV[3], tonumber(ARGV[4])
local kind = string.sub(tag, 1, 1)
local spent, held = read(key, tag, kind, param)
return { spent, held, reset_us(kind, param) }
"#;

struct Scripts {
    reserve: Script,
    settle: Script,
    value: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    reserve: Script::new(&format!("{PRELUDE}{RESERVE}")),
    settle: Script::new(&format!("{PRELUDE}{SETTLE}")),
    value: Script::new(&format!("{PRELUDE}{VALUE}")),
});

/// Counters and leases in Redis: one limit shared by every process that
/// uses the same server and prefix.
///
/// Cloning is cheap (the connection manager is shared). See the
/// [module docs](self) for the keys it writes and what happens when Redis
/// is down.
#[derive(Clone)]
pub struct RedisCounterStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

impl RedisCounterStore {
    /// A store on `manager`'s connection, under [`DEFAULT_PREFIX`].
    pub fn new(manager: ConnectionManager) -> Self {
        Self {
            conn: manager,
            prefix: Arc::from(DEFAULT_PREFIX),
        }
    }

    /// Connects to the Redis server at `url` (`redis://host:port/db`).
    ///
    /// Fails with [`Error::Config`] when the URL is not one, and with
    /// [`Error::Store`] when the server cannot be reached, after the
    /// connection manager's default retries (some seconds). For other
    /// retries or time-outs, build the manager with
    /// [`ConnectionManager::new_with_config`] and hand it to [`new`](Self::new).
    pub async fn connect(url: &str) -> Result<Self> {
        let client = ::redis::Client::open(url).map_err(|err| {
            if err.kind() == ErrorKind::InvalidClientConfig {
                Error::config_with("invalid Redis URL", err)
            } else {
                store_error(err)
            }
        })?;
        let manager = ConnectionManager::new(client).await.map_err(store_error)?;
        Ok(Self::new(manager))
    }

    /// Puts every key under `prefix` instead of [`DEFAULT_PREFIX`], so that
    /// several applications (or several tests) share one server apart.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

fn store_error(err: RedisError) -> Error {
    Error::store("redis", err)
}

/// Redis counts in signed 64-bit integers.
fn amount(n: u64) -> u64 {
    n.min(i64::MAX as u64)
}

/// A window's tag in key names (its kind and exact length) and the
/// parameter the scripts compute with (seconds for a fixed window,
/// milliseconds for a rolling one).
fn window_args(window: Window) -> (String, u64) {
    match window {
        Window::Fixed(length) => (format!("f{}", length.as_nanos()), length.as_secs().max(1)),
        Window::Rolling(length) => (
            format!("r{}", length.as_nanos()),
            u64::try_from(length.as_millis()).unwrap_or(u64::MAX),
        ),
        Window::Month => ("m".to_owned(), 0),
        Window::Unbounded => ("u".to_owned(), 0),
    }
}

fn reset(us: i64) -> Option<Duration> {
    u64::try_from(us).ok().map(Duration::from_micros)
}

fn figure(values: &[i64], at: usize) -> u64 {
    values.get(at).and_then(|v| u64::try_from(*v).ok()).unwrap_or(0)
}

#[async_trait]
impl CounterStore for RedisCounterStore {
    async fn reserve(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Result<Admission> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).min(1 << 50);
        let mut call = SCRIPTS.reserve.prepare_invoke();
        call.arg(&*self.prefix).arg(lease).arg(ttl).arg(ops.len());
        for op in ops {
            let (tag, param) = window_args(op.window);
            call.arg(&op.key)
                .arg(tag)
                .arg(param)
                .arg(amount(op.amount))
                .arg(amount(op.limit));
        }
        let reply: Vec<i64> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        if reply.first() == Some(&1) {
            return Ok(Admission::Admitted);
        }
        Ok(Admission::Refused {
            op: usize::try_from(figure(&reply, 1)).unwrap_or(usize::MAX),
            current: figure(&reply, 2),
            reset_after: reset(reply.get(3).copied().unwrap_or(-1)),
        })
    }

    async fn settle(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) -> Result<()> {
        let mut call = SCRIPTS.settle.prepare_invoke();
        call.arg(&*self.prefix).arg(lease).arg(ops.len());
        for op in ops {
            let (tag, param) = window_args(op.window);
            call.arg(&op.key).arg(tag).arg(param);
        }
        call.arg(spent.len());
        for n in spent {
            call.arg(amount(*n));
        }
        let _: i64 = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn value(&self, key: &str, window: Window) -> Result<CounterValue> {
        let (tag, param) = window_args(window);
        let reply: Vec<i64> = SCRIPTS
            .value
            .prepare_invoke()
            .arg(&*self.prefix)
            .arg(key)
            .arg(tag)
            .arg(param)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(CounterValue {
            spent: figure(&reply, 0),
            held: figure(&reply, 1),
            reset_after: reset(reply.get(2).copied().unwrap_or(-1)),
        })
    }
}

impl fmt::Debug for RedisCounterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounterStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The first byte of every reply [`RedisCacheStore`] writes: the format of
/// what follows. An entry of another format (written by another version)
/// reads as a miss, and is replaced by the next reply stored.
#[cfg(feature = "cache")]
const CACHE_FORMAT: u8 = 1;

/// Cached replies in Redis, shared by every process that uses the same
/// server and prefix.
///
/// Each entry is one string key, `{prefix}cache:{key in hex}`, holding a
/// format byte and the [`CachedReply`](super::CachedReply) as JSON, set
/// with the entry's time to live (`SET … PX`), so Redis expires it; bound
/// the memory it takes with the server's `maxmemory` and an eviction policy
/// such as `allkeys-lru`.
///
/// When Redis is down every method answers [`Error::Store`]; the cache
/// layer then calls upstream as on a miss (a cache is never the reason a
/// call fails).
///
/// ```no_run
/// use tower_ai::cache::CacheLayer;
/// use tower_ai::store::RedisCacheStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// let store = RedisCacheStore::connect("redis://127.0.0.1:6379/").await?.with_prefix("gateway:");
/// let cache = CacheLayer::new(store);
/// # let _ = cache;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "cache")]
#[derive(Clone)]
pub struct RedisCacheStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

#[cfg(feature = "cache")]
impl RedisCacheStore {
    /// A store on `manager`'s connection, under [`DEFAULT_PREFIX`].
    pub fn new(manager: ConnectionManager) -> Self {
        Self {
            conn: manager,
            prefix: Arc::from(DEFAULT_PREFIX),
        }
    }

    /// Connects to the Redis server at `url`, as
    /// [`RedisCounterStore::connect`] does.
    pub async fn connect(url: &str) -> Result<Self> {
        let counters = RedisCounterStore::connect(url).await?;
        Ok(Self::new(counters.conn))
    }

    /// Puts every key under `prefix` instead of [`DEFAULT_PREFIX`].
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &crate::types::RequestKey) -> String {
        format!("{}cache:{}", self.prefix, key.to_hex())
    }
}

#[cfg(feature = "cache")]
impl fmt::Debug for RedisCacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacheStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The entry in `bytes`, if it is one of this format.
#[cfg(feature = "cache")]
fn decode_entry(bytes: &[u8]) -> Option<super::CachedReply> {
    match bytes.split_first() {
        Some((&CACHE_FORMAT, json)) => serde_json::from_slice(json).ok(),
        _ => None,
    }
}

#[cfg(feature = "cache")]
#[async_trait]
impl super::CacheStore for RedisCacheStore {
    async fn get(&self, key: &crate::types::RequestKey) -> Result<Option<Arc<super::CachedReply>>> {
        let bytes: Option<Vec<u8>> = ::redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let entry = decode_entry(&bytes);
        if entry.is_none() {
            tracing::debug!(key = %key, "a cached entry of another format reads as a miss");
        }
        Ok(entry.map(Arc::new))
    }

    async fn put(
        &self,
        key: &crate::types::RequestKey,
        entry: Arc<super::CachedReply>,
        ttl: Duration,
    ) -> Result<()> {
        let mut bytes = Vec::with_capacity(usize::try_from(entry.weight()).unwrap_or(0));
        bytes.push(CACHE_FORMAT);
        serde_json::to_writer(&mut bytes, &*entry)
            .map_err(|err| Error::store("redis", format!("cannot encode a cached reply: {err}")))?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        ::redis::cmd("SET")
            .arg(self.key(key))
            .arg(bytes)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(store_error)
    }

    async fn remove(&self, key: &crate::types::RequestKey) -> Result<()> {
        ::redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(store_error)
    }
}
