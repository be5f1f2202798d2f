//! Sessions this process checked, held in memory so that a signed-in request skips the
//! Redis round trip of [`records::load`](crate::records) (most of what being signed in
//! costs a subgraph).
//!
//! The allow-list, the users' records and the roles stay in Redis; this is a copy, kept
//! exact by the `access` stream: every sign-out, ban, role assignment and role definition
//! change is announced there after Redis changed ([`records`](crate::records)), and a task
//! of each process reads the stream (`XREAD`) and forgets what a notice names. So a change
//! refuses the next request that arrives after its notice reached the process (well under a
//! millisecond on one host; the figure under load is in the README).
//!
//! Redis stays the truth whenever the copy cannot be trusted:
//! - while the stream is not being read (Redis down, a broken connection, or one silent for
//!   half a second past a read's due time), every request reads Redis, and the copy is
//!   emptied when reading stops and again when it starts;
//! - a check that read Redis is kept only if no notice (or reconnection) came in between its
//!   read and its keeping (a [`Ticket`]), so a sign-out racing with a request can never
//!   leave the signed-out session in memory;
//! - an entry lives at most as long as the session's key in Redis and at most `max_age`
//!   (`SESSION_CACHE_SECONDS`, default 10 s), which bounds the damage of a notice that never
//!   came (its publication failed after Redis changed);
//! - only live sessions of users without a ban in force are kept; every refusal reads Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use event_bus::Event;
use event_bus::live::ACCESS_STREAM;
use service_kit::Redis;
use service_kit::redis::redis;
use uuid::Uuid;

use crate::Identity;
use crate::records::{AccessNotice, SESSIONS_ENDED, USER_ACCESS_CHANGED};

/// How long one read of the stream waits for a notice; a read that has not answered this
/// long after it was due is taken as a silent connection. So a Redis that stops answering
/// stops the serving from memory within about a second.
const BLOCK: Duration = Duration::from_millis(500);
const SILENT_AFTER: Duration = Duration::from_millis(500);
/// Wait before reconnecting after a failure.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);
/// Sessions held at most (expired ones are dropped when full, then everything if need be).
const CAPACITY: usize = 50_000;

/// A checked session: who it belongs to, as they were, until when it may be used.
struct Checked {
    identity: Arc<Identity>,
    until: Instant,
}

/// The checked sessions, by id, and each user's sessions among them.
#[derive(Default)]
struct Entries {
    sessions: HashMap<Uuid, Checked>,
    of_user: HashMap<Uuid, Vec<Uuid>>,
}

impl Entries {
    fn insert(&mut self, checked: Checked) {
        let (session, user) = (checked.identity.session_id, checked.identity.user_id);
        if self.sessions.insert(session, checked).is_none() {
            self.of_user.entry(user).or_default().push(session);
        }
    }

    fn remove(&mut self, session: &Uuid) {
        if let Some(checked) = self.sessions.remove(session) {
            let user = checked.identity.user_id;
            if let Some(sessions) = self.of_user.get_mut(&user) {
                sessions.retain(|s| s != session);
                if sessions.is_empty() {
                    self.of_user.remove(&user);
                }
            }
        }
    }

    fn remove_user(&mut self, user: &Uuid) {
        for session in self.of_user.remove(user).unwrap_or_default() {
            self.sessions.remove(&session);
        }
    }

    fn clear(&mut self) {
        self.sessions.clear();
        self.of_user.clear();
    }

    /// Makes room: drops expired sessions, and everything if that is not enough.
    fn make_room(&mut self, now: Instant) {
        let expired: Vec<Uuid> = self
            .sessions
            .iter()
            .filter(|(_, checked)| checked.until <= now)
            .map(|(session, _)| *session)
            .collect();
        for session in &expired {
            self.remove(session);
        }
        if self.sessions.len() >= CAPACITY {
            self.clear();
        }
    }
}

/// The sessions this process checked. One per [`Access`](crate::Access).
pub struct SessionCache {
    entries: RwLock<Entries>,
    /// Moves on with every notice and every start or stop of the stream's reader: a check
    /// is kept only if it did not move between its ticket and its keeping.
    generation: AtomicU64,
    /// Whether the stream is being read now (else nothing is served from memory).
    listening: AtomicBool,
    max_age: Duration,
}

/// What [`SessionCache::ticket`] handed out before a check read Redis.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(Option<u64>);

impl SessionCache {
    /// A cache whose entries live at most `max_age`; `Duration::ZERO`: none (every request
    /// reads Redis).
    pub fn new(max_age: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: RwLock::new(Entries::default()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            max_age,
        })
    }

    /// Whether checks are served from memory now (enabled, and its notices being read).
    pub fn in_use(&self) -> bool {
        !self.max_age.is_zero() && self.listening.load(Ordering::Acquire)
    }

    /// The identity `session` of `user` was checked to have, if held and still usable.
    pub fn get(&self, session: Uuid, user: Uuid) -> Option<Arc<Identity>> {
        if !self.in_use() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let checked = entries.sessions.get(&session)?;
        (checked.identity.user_id == user && checked.until > Instant::now())
            .then(|| checked.identity.clone())
    }

    /// To take before reading Redis for a check that may be kept.
    pub fn ticket(&self) -> Ticket {
        Ticket(
            self.in_use()
                .then(|| self.generation.load(Ordering::Acquire)),
        )
    }

    /// Keeps a check read after `ticket` was taken, for at most `ttl` (what is left of the
    /// session in Redis): only if nothing was announced meanwhile.
    pub fn keep(&self, ticket: Ticket, identity: Arc<Identity>, ttl: Duration) {
        let Ticket(Some(generation)) = ticket else {
            return;
        };
        let now = Instant::now();
        let until = now + ttl.min(self.max_age);
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Under the write lock, which every forgetting takes too: a notice applied after
        // this comparison removes this entry.
        if self.generation.load(Ordering::Acquire) != generation || !self.in_use() {
            return;
        }
        if entries.sessions.len() >= CAPACITY {
            entries.make_room(now);
        }
        entries.insert(Checked { identity, until });
    }

    /// Forgets these sessions (they ended).
    pub fn forget_sessions(&self, sessions: &[Uuid]) {
        self.forget(|entries| {
            for session in sessions {
                entries.remove(session);
            }
        });
    }

    /// Forgets every session of `user` (their roles or ban changed).
    pub fn forget_user(&self, user: Uuid) {
        self.forget(|entries| entries.remove_user(&user));
    }

    /// Forgets everything (role definitions changed, or the notices cannot be trusted).
    pub fn forget_all(&self) {
        self.forget(Entries::clear);
    }

    fn forget(&self, change: impl FnOnce(&mut Entries)) {
        let mut entries = match self.entries.write() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        change(&mut entries);
    }

    fn set_listening(&self, listening: bool) {
        self.forget(Entries::clear);
        self.listening.store(listening, Ordering::Release);
    }

    /// Applies one notice of the `access` stream.
    fn apply(&self, event: &Event) {
        let notice = serde_json::from_value::<AccessNotice>(event.payload.clone()).ok();
        match (event.name.as_str(), notice) {
            (SESSIONS_ENDED, Some(notice)) => self.forget_sessions(&notice.sessions),
            (
                USER_ACCESS_CHANGED,
                Some(AccessNotice {
                    user: Some(user), ..
                }),
            ) => self.forget_user(user),
            // Role definitions changed, or a notice this process does not understand.
            _ => self.forget_all(),
        }
    }

    /// Starts the task that reads the `access` stream for as long as this cache lives
    /// (nothing when the cache is disabled). Needs a Tokio runtime.
    pub fn follow(self: &Arc<Self>, redis: Redis) {
        if self.max_age.is_zero() {
            return;
        }
        tokio::spawn(follow(Arc::downgrade(self), redis));
    }
}

/// The reader of the `access` stream: connects, starts after the stream's newest entry,
/// then applies every notice in order; on any failure it stops serving from memory until it
/// is reading again.
async fn follow(cache: Weak<SessionCache>, redis: Redis) {
    let key = event_bus::stream_key(&redis, ACCESS_STREAM);
    loop {
        let Some(alive) = cache.upgrade() else {
            return;
        };
        let outcome = read(&alive, &redis, &key).await;
        alive.set_listening(false);
        drop(alive);
        if let Err(error) = outcome {
            tracing::warn!(%error, "session cache: access notices not read; checking Redis on every request");
            metrics::counter!("session_cache_interruptions_total").increment(1);
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn read(cache: &Arc<SessionCache>, redis: &Redis, key: &str) -> anyhow::Result<()> {
    let mut conn = redis.dedicated().await?;
    let newest: redis::streams::StreamRangeReply = tokio::time::timeout(
        SILENT_AFTER,
        redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn),
    )
    .await??;
    let mut from = newest
        .ids
        .first()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());
    // Every notice after `from` will be read, so checks from now on may be kept.
    cache.set_listening(true);
    loop {
        if Arc::strong_count(cache) == 1 {
            // Only this task holds the cache: its process let it go.
            return Ok(());
        }
        let reply: Option<redis::streams::StreamReadReply> = tokio::time::timeout(
            BLOCK + SILENT_AFTER,
            event_bus::live::read_after(key, &from, BLOCK).query_async(&mut conn),
        )
        .await??;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in &stream.ids {
                from.clone_from(&entry.id);
                match entry
                    .get::<String>("event")
                    .and_then(|json| serde_json::from_str::<Event>(&json).ok())
                {
                    Some(event) => cache.apply(&event),
                    None => cache.forget_all(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: Uuid, session: Uuid) -> Arc<Identity> {
        Arc::new(Identity {
            user_id: user,
            session_id: session,
            roles: vec!["customer".into()],
            permissions: vec![],
        })
    }

    fn listening_cache() -> Arc<SessionCache> {
        let cache = SessionCache::new(Duration::from_secs(10));
        cache.set_listening(true);
        cache
    }

    #[test]
    fn a_check_racing_with_a_notice_is_not_kept() {
        let cache = listening_cache();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        // Read Redis (session live), then the sign-out's notice arrives before keeping.
        let ticket = cache.ticket();
        cache.forget_sessions(&[session]);
        cache.keep(ticket, identity(user, session), Duration::from_secs(60));
        assert!(cache.get(session, user).is_none());
        // Without a notice in between it is kept, and served for its own user only.
        let ticket = cache.ticket();
        cache.keep(ticket, identity(user, session), Duration::from_secs(60));
        assert!(cache.get(session, user).is_some());
        assert!(cache.get(session, Uuid::now_v7()).is_none());
    }

    #[test]
    fn notices_forget_what_they_name_and_nothing_else() {
        let cache = listening_cache();
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let sessions = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        for (session, user) in sessions.iter().zip([ann, ann, bob]) {
            cache.keep(
                cache.ticket(),
                identity(user, *session),
                Duration::from_secs(60),
            );
        }
        let notice = |name: &str, payload| Event {
            id: Uuid::now_v7(),
            name: name.into(),
            version: 1,
            aggregate_id: String::new(),
            occurred_at: chrono::Utc::now(),
            traceparent: None,
            payload,
        };
        cache.apply(&notice(
            SESSIONS_ENDED,
            serde_json::json!({ "sessions": [sessions[0]] }),
        ));
        assert!(cache.get(sessions[0], ann).is_none());
        assert!(cache.get(sessions[1], ann).is_some());
        cache.apply(&notice(
            USER_ACCESS_CHANGED,
            serde_json::json!({ "user": ann }),
        ));
        assert!(cache.get(sessions[1], ann).is_none());
        assert!(cache.get(sessions[2], bob).is_some());
        // Anything else (role definitions) forgets everything.
        cache.apply(&notice("RolesChanged", serde_json::json!({})));
        assert!(cache.get(sessions[2], bob).is_none());
    }

    #[test]
    fn nothing_is_served_or_kept_while_notices_are_not_read_and_entries_expire() {
        let cache = SessionCache::new(Duration::from_secs(10));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        // Not listening yet: a ticket keeps nothing.
        cache.keep(
            cache.ticket(),
            identity(user, session),
            Duration::from_secs(60),
        );
        assert!(cache.get(session, user).is_none());
        cache.set_listening(true);
        cache.keep(
            cache.ticket(),
            identity(user, session),
            Duration::from_secs(60),
        );
        assert!(cache.get(session, user).is_some());
        // The reader stops: nothing served, and what was held is gone when it comes back.
        let before = cache.ticket();
        cache.set_listening(false);
        assert!(cache.get(session, user).is_none());
        cache.set_listening(true);
        assert!(cache.get(session, user).is_none());
        // A check read before the reader came back is not kept.
        cache.keep(before, identity(user, session), Duration::from_secs(60));
        assert!(cache.get(session, user).is_none());
        // A session with 0 s left in Redis is not served.
        cache.keep(cache.ticket(), identity(user, session), Duration::ZERO);
        assert!(cache.get(session, user).is_none());
        // Disabled: never used.
        let off = SessionCache::new(Duration::ZERO);
        off.set_listening(true);
        off.keep(
            off.ticket(),
            identity(user, session),
            Duration::from_secs(60),
        );
        assert!(off.get(session, user).is_none());
    }
}
