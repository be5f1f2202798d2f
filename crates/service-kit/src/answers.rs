//! Whole answers a subgraph keeps in memory and serves again, byte for byte (the catalog's
//! product pages): resolving a product page — every variant with its options and prices —
//! cost ten times a product detail, while the same page is asked for over and over.
//!
//! An answer is kept only for requests the subgraph's [`AnswerPolicy`] names an audience
//! for (a key part: whatever besides the document, the operation and the variables the
//! answer depends on, such as the caller's permissions), only without errors, and only
//! with what it read: every row, by id and version ([`AnswerReads`], noted by the
//! subgraph's loaders), and the policy's generation of that knowledge. It is served again
//! only within the same generation (a subgraph that may have missed changes, or whose rows
//! were changed behind its back, starts a new one) and while the policy finds every one of
//! those rows still current, for a limited time at most; a read of anything without a
//! version (a row that was not found, a list that may grow) makes the answer one not to
//! keep. So a kept answer is exactly as current as the subgraph's own knowledge of its
//! rows' versions.

use std::any::TypeId;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::{Data, Request};
use axum::body::Bytes;
use axum::response::{IntoResponse as _, Response};
use uuid::Uuid;

/// What one request read that its answer depends on. Each request gets its own (in its
/// data); the subgraph's loaders note what they load.
#[derive(Clone, Default)]
pub struct AnswerReads(Arc<Mutex<Reads>>);

#[derive(Default)]
struct Reads {
    rows: Vec<(Uuid, i64)>,
    unversioned: bool,
}

impl AnswerReads {
    /// The request read row `id` at `version`.
    pub fn versioned(&self, id: Uuid, version: i64) {
        let mut reads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !reads.rows.contains(&(id, version)) {
            reads.rows.push((id, version));
        }
    }

    /// The request read something without a version: its answer is not kept.
    pub fn unversioned(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unversioned = true;
    }

    /// The rows read, if the answer may be kept.
    fn keepable(&self) -> Option<Vec<(Uuid, i64)>> {
        let reads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!reads.unversioned && !reads.rows.is_empty()).then(|| reads.rows.clone())
    }
}

/// What a subgraph decides for its answer cache.
pub trait AnswerPolicy: Send + Sync + 'static {
    /// Who may be served a kept answer to `request` (a part of its key: what the answer
    /// depends on besides the document, the operation and the variables), or `None` when
    /// answers to it are not kept. `data` is the request's (its caller).
    fn audience(&self, request: &mut Request, data: &Data) -> Option<String>;

    /// Whether row `id` is known to be still at `version`.
    fn current(&self, id: Uuid, version: i64) -> bool;

    /// The generation of what the subgraph knows of its rows' versions (a new one whenever
    /// it may have missed a change), or `None` when it knows nothing for sure now: answers
    /// are served and kept only within one generation.
    fn generation(&self) -> Option<u64>;
}

/// A subgraph's kept answers, up to a number of bytes.
#[derive(Clone)]
pub struct AnswerCache {
    subgraph: &'static str,
    policy: Arc<dyn AnswerPolicy>,
    answers: moka::sync::Cache<Arc<str>, Arc<Kept>>,
}

struct Kept {
    body: Bytes,
    reads: Vec<(Uuid, i64)>,
    generation: u64,
}

/// What to do with one request.
pub(crate) enum Lookup {
    /// Serve this.
    Kept(Bytes),
    /// Run it, then offer its answer to [`AnswerCache::keep`].
    Run(Pending),
    /// Run it; its answer is not kept.
    Pass,
}

/// A request whose answer may be kept.
pub(crate) struct Pending {
    key: Arc<str>,
    reads: AnswerReads,
    generation: u64,
}

impl AnswerCache {
    /// `subgraph`'s cache of up to `bytes` of answers (none when 0), each kept for `ttl` at
    /// most.
    pub fn new(
        subgraph: &'static str,
        policy: Arc<dyn AnswerPolicy>,
        bytes: u64,
        ttl: Duration,
    ) -> Option<Self> {
        (bytes > 0).then(|| Self {
            subgraph,
            policy,
            answers: moka::sync::Cache::builder()
                .max_capacity(bytes)
                .time_to_live(ttl)
                .weigher(|key: &Arc<str>, kept: &Arc<Kept>| {
                    let reads = kept.reads.len() * std::mem::size_of::<(Uuid, i64)>();
                    u32::try_from(key.len() + kept.body.len() + reads + 64).unwrap_or(u32::MAX)
                })
                .build(),
        })
    }

    /// A kept answer to `request`, if there is one still current.
    pub(crate) fn look_up(&self, request: &mut Request, data: &Data) -> Lookup {
        let Some(reads) = data
            .get(&TypeId::of::<AnswerReads>())
            .and_then(|value| value.downcast_ref::<AnswerReads>())
        else {
            return Lookup::Pass;
        };
        let Some(generation) = self.policy.generation() else {
            return Lookup::Pass;
        };
        let Some(audience) = self.policy.audience(request, data) else {
            return Lookup::Pass;
        };
        let Ok(variables) = serde_json::to_string(&request.variables) else {
            return Lookup::Pass;
        };
        let key: Arc<str> = Arc::from(format!(
            "{audience}\n{}\n{variables}\n{}",
            request.operation_name.as_deref().unwrap_or_default(),
            request.query
        ));
        if let Some(kept) = self.answers.get(&key) {
            if kept.generation == generation
                && kept
                    .reads
                    .iter()
                    .all(|(id, version)| self.policy.current(*id, *version))
            {
                self.count("hit");
                return Lookup::Kept(kept.body.clone());
            }
            self.answers.invalidate(&key);
        }
        self.count("miss");
        Lookup::Run(Pending {
            key,
            reads: reads.clone(),
            generation,
        })
    }

    fn count(&self, result: &'static str) {
        metrics::counter!("answer_cache_total", "subgraph" => self.subgraph, "result" => result)
            .increment(1);
    }

    /// Keeps `body`, the answer to `pending`'s request, if it may be kept: no errors, in the
    /// generation it began in, and only rows read at versions still current (a write may
    /// have landed meanwhile).
    pub(crate) fn keep(&self, pending: Pending, response: &async_graphql::Response, body: &Bytes) {
        if !response.is_ok() || self.policy.generation() != Some(pending.generation) {
            return;
        }
        let Some(reads) = pending.reads.keepable() else {
            return;
        };
        if !reads
            .iter()
            .all(|(id, version)| self.policy.current(*id, *version))
        {
            return;
        }
        self.answers.insert(
            pending.key,
            Arc::new(Kept {
                body: body.clone(),
                reads,
                generation: pending.generation,
            }),
        );
    }
}

/// A GraphQL answer already serialised, as `GraphQLResponse` sends one.
pub(crate) fn json_response(body: Bytes) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/graphql-response+json",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows at the versions in `current`, in a generation; answers kept for every request.
    struct Versions(Mutex<Vec<(Uuid, i64)>>, Mutex<Option<u64>>);

    impl AnswerPolicy for Versions {
        fn audience(&self, _: &mut Request, _: &Data) -> Option<String> {
            Some("everyone".into())
        }

        fn current(&self, id: Uuid, version: i64) -> bool {
            self.0.lock().unwrap().contains(&(id, version))
        }

        fn generation(&self) -> Option<u64> {
            *self.1.lock().unwrap()
        }
    }

    /// What the cache does with a new request.
    fn ask(cache: &AnswerCache) -> Lookup {
        let mut data = Data::default();
        data.insert(AnswerReads::default());
        cache.look_up(&mut Request::new("{ product { id } }"), &data)
    }

    /// Runs a request that reads `row` at `version` (and, if `unversioned`, something
    /// without a version), answering `response`.
    fn run(
        cache: &AnswerCache,
        (row, version): (Uuid, i64),
        unversioned: bool,
        response: &async_graphql::Response,
    ) {
        let Lookup::Run(pending) = ask(cache) else {
            panic!("the request was not run");
        };
        pending.reads.versioned(row, version);
        if unversioned {
            pending.reads.unversioned();
        }
        cache.keep(pending, response, &Bytes::from_static(BODY));
    }

    const BODY: &[u8] = b"{\"data\":{}}";

    #[test]
    fn an_answer_is_served_while_what_it_read_is_current_and_never_when_it_read_unversioned_rows() {
        let row = Uuid::now_v7();
        let policy = Arc::new(Versions(Mutex::new(vec![(row, 1)]), Mutex::new(Some(1))));
        let cache =
            AnswerCache::new("test", policy.clone(), 1 << 20, Duration::from_secs(60)).unwrap();
        let ok = async_graphql::Response::new(async_graphql::Value::Null);
        let failed = async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
            "boom", None,
        )]);
        let kept = |cache: &AnswerCache| matches!(ask(cache), Lookup::Kept(body) if body == BODY);

        run(&cache, (row, 1), false, &ok);
        assert!(kept(&cache));

        // The row moved on: the kept answer is not served. An answer that read version 1
        // while 2 is current (a write landed meanwhile) is not kept either.
        *policy.0.lock().unwrap() = vec![(row, 2)];
        run(&cache, (row, 1), false, &ok);
        assert!(!kept(&cache));

        // Something read without a version, or an error: not kept.
        run(&cache, (row, 2), true, &ok);
        assert!(!kept(&cache));
        run(&cache, (row, 2), false, &failed);
        assert!(!kept(&cache));

        // A new generation (the rows may have changed without a new version): what was
        // kept before is not served; nothing is kept or served without one.
        run(&cache, (row, 2), false, &ok);
        assert!(kept(&cache));
        *policy.1.lock().unwrap() = Some(2);
        let Lookup::Run(pending) = ask(&cache) else {
            panic!("an answer of the previous generation was served");
        };
        *policy.1.lock().unwrap() = None;
        pending.reads.versioned(row, 2);
        cache.keep(pending, &ok, &Bytes::from_static(BODY));
        assert!(matches!(ask(&cache), Lookup::Pass));
        *policy.1.lock().unwrap() = Some(2);
        assert!(!kept(&cache));

        // A request without reads in its data is never served from the cache.
        let mut request = Request::new("{ product { id } }");
        assert!(matches!(
            cache.look_up(&mut request, &Data::default()),
            Lookup::Pass
        ));
    }
}
