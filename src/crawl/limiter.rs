//! One account's request limiter: an adaptive bound on calls in flight plus adaptive pacing,
//! fed by what IAM answers to every attempt, and the pace for the SDK's retries of throttled
//! attempts.
//!
//! IAM's request rate limit is per account, unpublished, possibly per API, and shared with
//! everything else calling that account (Terraform, deploy pipelines). Throttling half of an
//! account's calls makes those fail too, so keyaudit aims to run right under the limit:
//!
//! - **slow start**: an account opens with [`INITIAL_WINDOW`] calls in flight, and the window
//!   grows by one per accepted answer (doubling every round trip) up to `--concurrency`, until
//!   the first throttle. A latency-bound account reaches 64 in a few round trips; an account
//!   limited to 10/s with a burst of 5 sees a handful of throttles instead of 59 (measured
//!   before: 64 first calls against a burst of 5, most throttled);
//! - **unpaced until IAM pushes back**, then paced at 95% of the rate IAM accepted between two
//!   throttles. A throttle means the token bucket was empty then, so the answers accepted
//!   between two throttles at least a second apart are what the bucket refilled: that is the
//!   limit, measured from the bucket's own behaviour rather than from a window in which calls
//!   may have been sleeping in backoff (which made the rate look tiny and collapsed the pace
//!   of 7 accounts out of 40 below 1/s). The very first cut has no such interval yet: it takes
//!   what was accepted over the last second, counted over at least a second (a low estimate,
//!   by design), and doubles the pace every half second until the next throttle, which ends
//!   the doubling at the pace before it (half, or 95% of the last second's answers if lower);
//!   the throttle after that, a second or more later, measures;
//! - **a cut never more than halves the pace**, and reacts at most once per [`HOLD`], so one
//!   congestion event counts once and a bad measurement cannot collapse the pace;
//! - the window shrinks with the pace (to what the pace needs plus headroom) and grows back by
//!   one per window of accepted answers;
//! - while nothing is throttled, probe upward, 2% a second, faster after 10 quiet seconds, so a
//!   limit that rises (or other clients going away) is found again;
//! - **retries are paced too**: [`ThrottleObserver`] reserves the next paced slot for each
//!   throttled attempt and [`PacedRetry`], a retry classifier, gives it to the SDK as the
//!   retry's delay, instead of an
//!   exponential backoff of up to 20 s during which the call held a slot and offered nothing.
//!
//! - **in a large account, listings go ahead**: a call that finds more work (a page of users,
//!   a user's keys) takes the next free place before the calls already waiting
//!   ([`Limiter::acquire_ahead`]), so the work it finds is queued early and the end of a
//!   crawl is not a user's calls one round trip after another; such an account also opens
//!   its window wider once it is known to be large ([`Limiter::widen_start`]).
//!
//! Attempts are observed by [`ThrottleObserver`], an SDK interceptor, so the SDK's own
//! retries feed the limiter too. A [`Budget`] shared by all accounts bounds the calls in flight
//! across an Organization (and with them the connections of the one shared HTTP pool).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextMut, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How far back the accepted rate is measured for the first cut.
const WINDOW: Duration = Duration::from_secs(1);
/// One congestion event produces many throttles (calls already paced at the old rate, and
/// their retries); react to it once. Also the shortest span between two throttles that
/// measures the limit: over one second, a count of ~10 answers is ±10%, and cuts a second
/// apart compounded that noise (measured: the slowest of 40 accounts 1.3x its bound).
const HOLD: Duration = Duration::from_secs(2);
const MIN_SPAN: Duration = HOLD;
/// Pace at this share of the measured accepted rate.
const BACKOFF: f64 = 0.95;
/// A cut keeps at least this share of the current pace.
const MAX_CUT: f64 = 0.5;
/// After the first guess's doubling ended, probe upward by this share per second until the
/// next throttle measures: at 2%/s, a limit of 100/s with the doubling ended at 72/s took
/// 15-20 s to find (measured: rate-100-report 1.21x its bound, was 1.03x).
const AFTER_DOUBLING_PROBE_PER_SECOND: f64 = 0.25;
/// Probe upward by this share per second...
const PROBE_PER_SECOND: f64 = 0.02;
/// ...times 1 + the quiet seconds beyond this since the last cut. At 5 s, a small account at
/// 10/s (burst 5, which hides an overshoot for seconds) was probed to 13/s every 8 s and
/// throttled 4-5 calls each time (measured on the model); at 10 s, 17 throttles in 25 s
/// instead of 21; a limit that doubles is found in 16 s instead of 12 (computed).
const QUIET_BEFORE_SPEEDUP: Duration = Duration::from_secs(10);
/// After the first cut (a deliberately low estimate), the pace doubles this often until the
/// next throttle measures. The first throttle can come after a single answer (the burst is
/// drained by the first calls of the window), so the first guess can be 1/s: growing 25% a
/// second took 6-9 s to reach a 10/s limit (measured), doubling takes under 2.
const PROVISIONAL_DOUBLING: Duration = Duration::from_millis(500);
const MIN_RATE: f64 = 1.0;
/// The lowest first guess at an account's limit, in calls per second.
const FIRST_GUESS_FLOOR: f64 = 4.0;
/// Calls in flight when an account starts.
pub const INITIAL_WINDOW: usize = 2;
/// The window never shrinks below this: calls waiting for a paced retry hold their place, and
/// a window of 2 held by two such calls offered nothing (measured: 11 answers in 4 s).
const MIN_WINDOW: usize = 4;
/// When paced, the window keeps this many seconds of the pace in flight (at least
/// [`MIN_WINDOW`]): a round trip plus the wait for a paced retry slot, with room to spare.
const WINDOW_SECONDS_OF_PACE: f64 = 2.0;
/// Probing never takes the pace beyond this many times what IAM accepted over the last
/// [`WINDOW`] (plus [`PROBE_SLACK`]): a pace the crawl is not using says nothing about the
/// limit, and raising it unseen let a first guess of 2/s double to 345/s while every call
/// waited on something else (measured), to be cut back by halves for 10 s.
const PROBE_HEADROOM: f64 = 2.0;
const PROBE_SLACK: f64 = 2.0;
/// A throttled retry waits at least this long when nothing is paced yet.
const UNPACED_RETRY_DELAY: Duration = Duration::from_millis(100);
/// A call's n-th throttled attempt waits at least RETRY_FLOOR x 2^(n-1), at most
/// MAX_RETRY_FLOOR: ten attempts then span at least 12 s whatever the pace says.
const RETRY_FLOOR: Duration = Duration::from_millis(50);
const MAX_RETRY_FLOOR: Duration = Duration::from_secs(5);

/// Calls in flight across every account of a scan, and how many were made: one per process.
#[derive(Debug)]
pub struct Budget {
    calls: Arc<Semaphore>,
    attempts: AtomicU64,
}

impl Budget {
    pub fn new(max_in_flight: usize) -> Arc<Budget> {
        Arc::new(Budget {
            calls: Arc::new(Semaphore::new(max_in_flight.max(1))),
            attempts: AtomicU64::new(0),
        })
    }

    /// Attempts made so far, in every account (for progress).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub struct Limiter {
    pace: Mutex<Pace>,
    /// Woken when a call ends or the window grows: calls waiting in turn...
    freed: Notify,
    /// ...after the listings waiting in [`Limiter::acquire_ahead`].
    freed_ahead: Notify,
    /// Whether [`Limiter::acquire_ahead`] goes ahead.
    listings_ahead: AtomicBool,
    budget: Option<Arc<Budget>>,
    attempts: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug)]
struct Pace {
    /// Most calls in flight: grows from [`INITIAL_WINDOW`] to `max_window`.
    window: f64,
    max_window: usize,
    in_flight: usize,
    /// Calls waiting in [`Limiter::acquire_ahead`]: the others leave them this many places.
    ahead_waiting: usize,
    /// Requests per second, or `None` before the first throttle.
    rate: Option<f64>,
    /// When the next call (or paced retry) may start.
    next_start: Instant,
    last_decrease: Option<Instant>,
    last_probe: Instant,
    /// When recent attempts were accepted (the last [`WINDOW`]).
    accepted: VecDeque<Instant>,
    accepted_total: u64,
    /// The throttle the last cut was made at, and `accepted_total` then: the bucket was empty
    /// at that instant, so what is accepted from then to the next throttle is its refill.
    anchor: Option<(Instant, u64)>,
    /// What the pace rests on, and so how it probes and how the next throttle cuts it.
    estimate: Estimate,
}

/// What an account's pace rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Estimate {
    /// Nothing yet (unpaced before the first throttle), or a rate measured between two
    /// throttles: probes slowly.
    Measured,
    /// A first guess (no interval between throttles yet): doubles every
    /// [`PROVISIONAL_DOUBLING`] until a throttle ends the doubling.
    Doubling,
    /// The doubling overshot and went back to the pace before it, a guess too: climbs
    /// [`AFTER_DOUBLING_PROBE_PER_SECOND`] to the next throttle, which measures.
    Climbing,
}

/// Counters for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterStats {
    pub attempts: u64,
    pub throttled: u64,
}

/// A call's places in the window (and its place in the shared budget); released when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    places: usize,
    _budget: Option<OwnedSemaphorePermit>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.lock().in_flight -= self.places;
        self.limiter.wake(self.places);
    }
}

/// Counts a call waiting in [`Limiter::acquire_ahead`] while it waits, so that the other calls
/// leave it a place; uncounted when it takes one, or when it gives up waiting.
struct AheadWaiting<'a> {
    limiter: &'a Limiter,
    waiting: bool,
}

impl Drop for AheadWaiting<'_> {
    fn drop(&mut self) {
        if self.waiting {
            // Given up (the deadline, a cancelled crawl): the place kept for it may be free.
            self.limiter.lock().ahead_waiting -= 1;
            self.limiter.wake_more();
        }
    }
}

impl Limiter {
    /// A limiter of its own, bounded only by `max_in_flight`.
    pub fn new(max_in_flight: usize) -> Arc<Limiter> {
        Limiter::with_budget(max_in_flight, None)
    }

    /// A limiter whose window is open from the start (no slow start), still paced by what is
    /// throttled: for STS, where each account's first call holds its place until the role is
    /// assumed. A window opening at [`INITIAL_WINDOW`] grows only with answers, so one hung
    /// AssumeRole (two places: its own and the GetCallerIdentity behind it) could stop every
    /// other account's: with the window opening at 2, all of them were `DeadlineExceeded`
    /// behind one hung role (measured); opening at 4, two hung roles would do it.
    pub fn open(max_in_flight: usize) -> Arc<Limiter> {
        let limiter = Limiter::new(max_in_flight);
        {
            let mut pace = limiter.lock();
            pace.window = pace.max_window as f64;
        }
        limiter
    }

    /// A limiter whose calls also take a place in `budget`, shared with other accounts.
    pub fn with_budget(max_in_flight: usize, budget: Option<Arc<Budget>>) -> Arc<Limiter> {
        let now = Instant::now();
        let max_window = max_in_flight.max(1);
        Arc::new(Limiter {
            pace: Mutex::new(Pace {
                window: INITIAL_WINDOW.min(max_window) as f64,
                max_window,
                in_flight: 0,
                ahead_waiting: 0,
                rate: None,
                next_start: now,
                last_decrease: None,
                last_probe: now,
                accepted: VecDeque::new(),
                accepted_total: 0,
                anchor: None,
                estimate: Estimate::Measured,
            }),
            freed: Notify::new(),
            freed_ahead: Notify::new(),
            listings_ahead: AtomicBool::new(false),
            budget,
            attempts: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    /// Waits for a place in the window, for the pace, then for a place in the shared budget,
    /// and lets one call start. Hold the permit for the whole call (its retries included).
    ///
    /// The budget comes last: a call waiting for its account's pace holds no place that
    /// another account could use.
    ///
    /// A place freed goes to whichever call asks next, not to the one that waited longest:
    /// an account's calls are one task, and a place handed to a waiting call stayed idle until
    /// that task's next turn, which with 1,000 accounts on 2 cores was long (measured, with a
    /// fair semaphore: accounts-1000 took 22 s instead of 13, each account 10 s instead of 5).
    /// Work that must not wait behind the key crawl runs as a task of its own (see
    /// [`super::crawl_account`]).
    pub async fn acquire(&self) -> Option<Permit<'_>> {
        self.acquire_many(1).await
    }

    /// [`Limiter::acquire`] for a call that takes `places` places (GetCallerIdentity that
    /// also makes the credentials provider assume a role), all at once: taken one after
    /// another, every caller could hold one and wait for a second while the others hold the
    /// rest (seen with places given in order: org-40 stopped with 16 accounts each holding one
    /// of STS's 16). Never more than the window can grow to; one paced slot per place, and
    /// one place in the shared budget (the call is one connection).
    pub async fn acquire_many(&self, places: usize) -> Option<Permit<'_>> {
        let places = places.clamp(1, self.lock().max_window);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut pace = self.lock();
                let free = (pace.window.floor() as usize).saturating_sub(pace.ahead_waiting);
                if pace.in_flight + places <= free.max(places) {
                    pace.in_flight += places;
                    break;
                }
            }
            freed.await;
        }
        if self.listings_ahead.load(Ordering::Relaxed) {
            // The places kept for listings may have been taken up meanwhile.
            self.wake_more();
        }
        self.paced(places).await
    }

    /// [`Limiter::acquire`] for a call that goes ahead of those waiting in it: a call that
    /// finds more work (a user's ListAccessKeys, whose keys are the GetAccessKeyLastUsed calls
    /// after it). In a first-come order a user taken up last waited behind every queued call
    /// twice, once per round trip, and its keys were the only calls left in flight at the end
    /// of a crawl (measured, 5,000 users at 64 in flight: the last ListAccessKeys 0.10 s before
    /// the last answer, with 47 and then 13 calls in flight in that last 0.10 s).
    ///
    /// For an account that [`Limiter::let_listings_ahead`] (see [`Limiter::acquire_listing`]);
    /// elsewhere listings use [`Limiter::acquire`]. In 1,000 accounts of 10 users, listings
    /// going ahead made the scan take 19-22 s instead of 12-13, with 21% of the attempts
    /// throttled instead of 15% (measured); an account that small has all its users in the
    /// crawl at once, so none is taken up late.
    pub async fn acquire_ahead(&self) -> Option<Permit<'_>> {
        self.lock().ahead_waiting += 1;
        let mut waiting = AheadWaiting { limiter: self, waiting: true };
        loop {
            let freed = self.freed_ahead.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut pace = self.lock();
                if (pace.in_flight + 1) as f64 <= pace.window.floor().max(1.0) {
                    pace.in_flight += 1;
                    pace.ahead_waiting -= 1;
                    waiting.waiting = false;
                    break;
                }
            }
            freed.await;
        }
        self.wake_more();
        self.paced(1).await
    }

    /// From now on, [`Limiter::acquire_ahead`] goes ahead (for a large account, see
    /// [`super::crawl_account`]).
    pub fn let_listings_ahead(&self) {
        self.listings_ahead.store(true, Ordering::Relaxed);
    }

    /// A place for a listing: [`Limiter::acquire_ahead`] in an account that lets listings go
    /// ahead, [`Limiter::acquire`] elsewhere. (The fallback is here, not inside
    /// `acquire_ahead`: a future that holds the other's inside it is the size of both, and
    /// every user waiting to be crawled holds one: org-40's peak memory 79-84 MiB instead of
    /// 70, measured.)
    pub async fn acquire_listing(&self) -> Option<Permit<'_>> {
        match self.listings_ahead.load(Ordering::Relaxed) {
            true => self.acquire_ahead().await,
            false => self.acquire().await,
        }
    }

    /// Opens the window to `places` if the account is still in its slow start (nothing
    /// throttled yet): for an account known to be large (see [`super::crawl_account`]).
    pub fn widen_start(&self, places: usize) {
        let added = {
            let mut pace = self.lock();
            if pace.last_decrease.is_some() || pace.rate.is_some() {
                return;
            }
            let before = pace.window.floor() as usize;
            pace.window = pace.window.max(places.min(pace.max_window) as f64);
            (pace.window.floor() as usize).saturating_sub(before)
        };
        self.wake(added);
    }

    /// Wakes waiting calls for `places` places freed (or added): those going ahead first.
    fn wake(&self, places: usize) {
        let ahead = self.lock().ahead_waiting;
        for place in 0..places {
            match place < ahead {
                true => self.freed_ahead.notify_one(),
                false => self.freed.notify_one(),
            }
        }
    }

    /// After a call took its places: if places are still free (several were freed while the
    /// woken waited), wake the next waiter too, so none stays free while calls wait.
    fn wake_more(&self) {
        let pace = self.lock();
        let window = pace.window.floor() as usize;
        let (ahead, free) = (pace.ahead_waiting > 0, pace.in_flight < window);
        drop(pace);
        if free {
            match ahead {
                true => self.freed_ahead.notify_one(),
                false => self.freed.notify_one(),
            }
        }
    }

    /// The rest of an acquire once the window's places are held: the pace, then the budget.
    async fn paced(&self, places: usize) -> Option<Permit<'_>> {
        // From here on, dropping the permit gives the window places back.
        let mut permit = Permit { limiter: self, places, _budget: None };
        let wait = (0..places).map(|_| self.reserve_slot()).max().unwrap_or_default();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if let Some(budget) = &self.budget {
            permit._budget = Some(budget.calls.clone().acquire_owned().await.ok()?);
        }
        Some(permit)
    }

    /// Takes the next paced start and returns how long until it (zero when unpaced).
    fn reserve_slot(&self) -> Duration {
        let mut pace = self.lock();
        let now = Instant::now();
        match pace.rate {
            None => Duration::ZERO,
            Some(rate) => {
                let start = pace.next_start.max(now);
                pace.next_start = start + Duration::from_secs_f64(1.0 / rate);
                start - now
            }
        }
    }

    /// How long the SDK should wait before retrying a throttled attempt: the next paced slot.
    pub fn retry_delay(&self) -> Duration {
        if self.rate().is_none() {
            return UNPACED_RETRY_DELAY;
        }
        self.reserve_slot()
    }

    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// The current bound on calls in flight.
    pub fn window(&self) -> usize {
        self.lock().window.floor() as usize
    }

    pub fn stats(&self) -> LimiterStats {
        LimiterStats {
            attempts: self.attempts.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        // A panic while holding this lock cannot leave the pace inconsistent in a way that
        // matters (it is advisory timing), so a poisoned lock is used as is.
        self.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.attempts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An attempt got an answer that was not throttling.
    pub fn on_accepted(&self) {
        self.count_attempt();
        let now = Instant::now();
        let grew = {
            let mut pace = self.lock();
            pace.accepted_total += 1;
            pace.accepted.push_back(now);
            pace.prune(now);
            let before = pace.window.floor();
            pace.window = if pace.last_decrease.is_none() {
                // Slow start: one more per answer, doubling every round trip.
                pace.window + 1.0
            } else {
                // Congestion avoidance: one more per window of answers.
                pace.window + 1.0 / pace.window.max(1.0)
            }
            .min(pace.max_window as f64);
            if let Some(rate) = pace.rate {
                // Probe at 2%/s, and after 10 quiet seconds 2%/s faster for every further
                // quiet second: near the limit (a cut every few seconds) the pace creeps, but
                // a limit that went up is found again in seconds.
                let elapsed = now.duration_since(pace.last_probe).as_secs_f64();
                let quiet = pace.last_decrease.map_or(0.0, |at| now.duration_since(at).as_secs_f64());
                let speedup = 1.0 + (quiet - QUIET_BEFORE_SPEEDUP.as_secs_f64()).max(0.0);
                let probed = match pace.estimate {
                    Estimate::Doubling => rate * 2f64.powf(elapsed / PROVISIONAL_DOUBLING.as_secs_f64()),
                    // Back from a doubling that overshot, on a guess: climb briskly to the next
                    // throttle, which measures.
                    Estimate::Climbing => rate * (1.0 + AFTER_DOUBLING_PROBE_PER_SECOND * elapsed),
                    Estimate::Measured => rate * (1.0 + PROBE_PER_SECOND * speedup * elapsed),
                };
                let used = pace.accepted.len() as f64 / WINDOW.as_secs_f64();
                let cap = used * PROBE_HEADROOM + PROBE_SLACK;
                let rate = probed.min(cap.max(rate));
                pace.set_rate(now, rate);
                // The window follows the pace, never beyond what it can use.
                pace.window = pace.window.min(window_for(rate));
            }
            pace.last_probe = now;
            pace.window.floor() > before
        };
        if grew {
            self.wake(1);
        }
    }

    /// An attempt was throttled (IAM's `Throttling`, or 503 / `SlowDown`).
    pub fn on_throttled(&self) {
        self.count_attempt();
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut pace = self.lock();
        pace.prune(now);
        let since_cut = pace.last_decrease.map(|at| now.duration_since(at));
        if let (Estimate::Doubling, Some(since_cut), Some(rate)) = (pace.estimate, since_cut, pace.rate) {
            if since_cut >= PROVISIONAL_DOUBLING {
                // The doubling pace went over the limit within its last doubling: the pace
                // before it did not, so go back to it, and measure from here (the bucket is
                // empty now). Waiting out the hold instead offered up to twice the limit for
                // up to a second: a third of a small account's throttles (measured).
                let last_second = pace.accepted.len() as f64 / WINDOW.as_secs_f64();
                pace.estimate = Estimate::Climbing;
                pace.cut_to(now, ((rate / 2.0).min(last_second) * BACKOFF).max(MIN_RATE));
                return;
            }
        }
        // After the doubling ended, the next throttle may cut a second later: the pace went
        // back to a guess, not a measurement.
        let hold = if pace.estimate == Estimate::Climbing { HOLD / 2 } else { HOLD };
        if since_cut.is_some_and(|since| since < hold) {
            return;
        }
        let last_window = pace.accepted.len() as f64 / WINDOW.as_secs_f64();
        let was = pace.estimate;
        let measured = match pace.anchor {
            // The bucket was empty at the anchor and is empty now: what was accepted in
            // between is its refill, if the pace kept it empty. After a first guess, or the
            // end of its doubling, it did not (the pace was climbing from below, the bucket
            // refilled and overflowed), so the last second, which ends with the bucket
            // drained, counts too.
            Some((at, accepted_then)) if now.duration_since(at) >= hold.min(MIN_SPAN) => {
                let refill =
                    (pace.accepted_total - accepted_then) as f64 / now.duration_since(at).as_secs_f64();
                pace.estimate = Estimate::Measured;
                if was != Estimate::Measured {
                    refill.max(last_window)
                } else {
                    refill
                }
            }
            // A first guess: the last second's answers counted over a whole second, low on
            // purpose (the crawl may be younger than that), but not below FIRST_GUESS_FLOOR:
            // the retries of what was in flight are given slots at this pace, and slots given
            // at 1/s kept a window of 4 waiting 4 s (measured). Doubles until the next
            // throttle measures.
            _ => {
                pace.estimate = Estimate::Doubling;
                last_window.max(FIRST_GUESS_FLOOR / BACKOFF)
            }
        };
        // A cut keeps at least half of a measured pace; a first guess is no measurement.
        let floor = match pace.rate {
            Some(rate) if was != Estimate::Doubling => rate * MAX_CUT,
            _ => MIN_RATE,
        };
        pace.cut_to(now, (measured * BACKOFF).max(floor).max(MIN_RATE));
    }
}

/// The calls in flight a pace of `rate` needs: a second's worth, at least [`MIN_WINDOW`].
fn window_for(rate: f64) -> f64 {
    (rate * WINDOW_SECONDS_OF_PACE).ceil().max(MIN_WINDOW as f64)
}

impl Pace {
    /// A cut at a throttle (the bucket is empty now): pace at `rate`, and measure the refill
    /// from here. What is in flight may all come back throttled; from here on, keep in
    /// flight what the pace needs.
    fn cut_to(&mut self, now: Instant, rate: f64) {
        self.set_rate(now, rate);
        self.window = self.window.min(window_for(rate)).max(MIN_WINDOW as f64);
        self.anchor = Some((now, self.accepted_total));
        self.last_decrease = Some(now);
        self.last_probe = now;
    }

    /// Paces at `rate` from now on. The slots already handed out stay (their calls are
    /// waiting for them); when the pace goes up, the next one is brought forward as if the
    /// horizon reserved so far had been reserved at the new pace: otherwise calls slotted at a
    /// low first guess held the pace there for a second after it doubled (measured: 5 answers
    /// in a second against a limit of 10/s). A cut does not push it back: that left seconds
    /// at 4/s against a limit of 10 (measured).
    fn set_rate(&mut self, now: Instant, rate: f64) {
        if let Some(old) = self.rate.filter(|&old| old < rate) {
            if self.next_start > now {
                self.next_start = now + (self.next_start - now).mul_f64(old / rate);
            }
        }
        self.rate = Some(rate);
    }

    fn prune(&mut self, now: Instant) {
        while self.accepted.front().is_some_and(|&at| now.duration_since(at) > WINDOW) {
            self.accepted.pop_front();
        }
    }
}

/// Reports every attempt's outcome to the account's [`Limiter`], and gives each throttled
/// attempt its paced retry slot. Registered on the client, so it also sees the attempts the
/// SDK retries by itself.
#[derive(Debug, Clone)]
pub struct ThrottleObserver(pub Arc<Limiter>);

/// When a throttled attempt's retry may start: reserved once per attempt by
/// [`ThrottleObserver`], carried on the response for [`PacedRetry`]. Classifiers must not
/// reserve: the SDK runs them more than once per attempt (its connection-poisoning
/// interceptor runs them too), and reserving in each run left every other slot unused
/// (measured: calls answered 0.7 s apart at a pace of 2.85/s).
#[derive(Debug, Clone, Copy)]
struct RetrySlot(Instant);

impl Intercept for ThrottleObserver {
    fn name(&self) -> &'static str {
        "keyaudit-throttle-observer"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // No response: a transport failure, which says nothing about the rate limit.
        let Some(response) = context.response_mut() else { return Ok(()) };
        if is_throttling(response.status().as_u16(), response.body().bytes()) {
            self.0.on_throttled();
            // The paced slot, but never sooner than a backoff that doubles with each attempt
            // of this call: while the pace is still above the limit, back-to-back paced
            // retries could spend all of a call's attempts within a second.
            let attempts = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
            let floor =
                RETRY_FLOOR.saturating_mul(1 << attempts.saturating_sub(1).min(6)).min(MAX_RETRY_FLOOR);
            let slot = Instant::now() + self.0.retry_delay().max(floor);
            response.add_extension(RetrySlot(slot));
        } else {
            self.0.on_accepted();
        }
        Ok(())
    }
}

/// Gives the SDK's retry of a throttled attempt the paced slot [`ThrottleObserver`] reserved
/// for it as its delay.
///
/// The SDK's standard strategy honours a classifier's explicit delay (capped at its maximum
/// backoff) instead of its exponential backoff with jitter. Runs after the SDK's own
/// classifiers, so it refines their "throttling, retry" verdict; anything else it leaves alone.
#[derive(Debug, Clone)]
pub struct PacedRetry;

impl ClassifyRetry for PacedRetry {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(RetrySlot(slot)) = ctx.response().and_then(|response| response.extension::<RetrySlot>())
        else {
            return RetryAction::NoActionIndicated;
        };
        let delay = slot.saturating_duration_since(Instant::now());
        RetryAction::retryable_error_with_explicit_delay(ErrorKind::ThrottlingError, delay)
    }

    fn name(&self) -> &'static str {
        "keyaudit-paced-retry"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// IAM throttles with HTTP 400 and code `Throttling`; 503 and `SlowDown` mean the same.
pub fn is_throttling(status: u16, body: Option<&[u8]>) -> bool {
    if status == 503 {
        return true;
    }
    if status != 400 && status != 429 {
        return false;
    }
    let body = body.unwrap_or_default();
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|window| window == needle);
    status == 429
        || contains(b"<Code>Throttling</Code>")
        || contains(b"<Code>ThrottlingException</Code>")
        || contains(b"<Code>RequestLimitExceeded</Code>")
        || contains(b"<Code>SlowDown</Code>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_throttling_answers() {
        let throttled = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert!(is_throttling(400, Some(throttled)));
        assert!(is_throttling(503, None));
        assert!(!is_throttling(400, Some(b"<Code>ValidationError</Code>")));
        assert!(!is_throttling(403, Some(b"<Code>AccessDenied</Code>")));
        assert!(!is_throttling(200, Some(throttled)));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_opens_a_small_window_and_doubles_it_per_round_trip() {
        let limiter = Limiter::new(64);
        assert_eq!(limiter.window(), INITIAL_WINDOW);
        let mut held = Vec::new();
        for _ in 0..INITIAL_WINDOW {
            held.push(limiter.acquire().await.expect("a place"));
        }
        let blocked = tokio::time::timeout(Duration::from_secs(5), limiter.acquire()).await;
        assert!(blocked.is_err(), "a fifth call waits while four are in flight");
        // Four answers accepted: the window doubles.
        for _ in 0..INITIAL_WINDOW {
            limiter.on_accepted();
        }
        assert_eq!(limiter.window(), 2 * INITIAL_WINDOW);
        drop(held);
        for _ in 0..100 {
            limiter.on_accepted();
        }
        assert_eq!(limiter.window(), 64, "never beyond --concurrency");
        assert_eq!(limiter.rate(), None, "unpaced until IAM pushes back");
    }

    #[tokio::test(start_paused = true)]
    async fn paces_at_the_rate_accepted_between_two_throttles() {
        let limiter = Limiter::new(64);
        // The first throttle: a first guess from the last second (10 accepted), low on purpose.
        for _ in 0..10 {
            limiter.on_accepted();
        }
        limiter.on_throttled();
        let first = limiter.rate().expect("paced after a throttle");
        assert!((first - 9.5).abs() < 0.01, "95% of 10 per second: {first}");
        // A burst of throttles from the same congestion counts once.
        limiter.on_throttled();
        assert_eq!(limiter.rate(), Some(first));
        // 40 accepted over the next 2 s, then a throttle: the bucket refilled 20/s.
        for _ in 0..40 {
            tokio::time::advance(Duration::from_millis(50)).await;
            limiter.on_accepted();
        }
        limiter.on_throttled();
        let measured = limiter.rate().unwrap();
        assert!((18.9..=20.0).contains(&measured), "95% of 20/s (or of the last second's 21): {measured}");
        assert_eq!(limiter.stats(), LimiterStats { attempts: 53, throttled: 3 });
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_never_more_than_halves_the_pace() {
        let limiter = Limiter::new(64);
        limiter.on_throttled();
        // The first guess doubles until a throttle ends it; then a measured pace: 100 answers
        // in the 2 s after that throttle.
        for round in 0..2 {
            for _ in 0..100 {
                tokio::time::advance(Duration::from_millis(20)).await;
                limiter.on_accepted();
            }
            limiter.on_throttled();
            assert_ne!(limiter.lock().estimate, Estimate::Doubling, "round {round}");
        }
        let rate = limiter.rate().unwrap();
        assert!(rate > 40.0, "{rate}");
        // Nothing accepted for 3 s (every call asleep somewhere), then another throttle: the
        // measurement says ~0/s, but that is not the limit.
        tokio::time::advance(Duration::from_secs(3)).await;
        limiter.on_throttled();
        assert!(limiter.rate().unwrap() >= rate * MAX_CUT - 1e-9, "{rate} -> {:?}", limiter.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn paced_calls_and_retries_share_one_schedule() {
        let limiter = Limiter::new(64);
        for _ in 0..5 {
            limiter.on_accepted();
        }
        limiter.on_throttled();
        let rate = limiter.rate().unwrap();
        assert!((rate - 4.75).abs() < 0.01, "{rate}");
        let start = Instant::now();
        for _ in 0..3 {
            drop(limiter.acquire().await);
        }
        let spacing = Duration::from_secs_f64(1.0 / rate);
        assert!(Instant::now() - start >= spacing * 2, "three calls take two intervals");
        // A retry takes the next slot after them.
        let delay = limiter.retry_delay();
        assert!(delay > Duration::ZERO && delay <= spacing, "{delay:?}");
        let after = limiter.retry_delay();
        assert!(after >= delay + spacing - Duration::from_millis(1), "{after:?} after {delay:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_calls_across_accounts() {
        let budget = Budget::new(3);
        let a = Limiter::with_budget(64, Some(budget.clone()));
        let b = Limiter::with_budget(64, Some(budget.clone()));
        let held = [a.acquire().await, a.acquire().await, b.acquire().await];
        assert!(held.iter().all(Option::is_some));
        let blocked = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await;
        assert!(blocked.is_err(), "the fourth call waits for the shared budget");
        drop(held);
        assert!(b.acquire().await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_needing_two_places_holds_none_while_it_waits() {
        use futures::FutureExt;
        let limiter = Limiter::open(2);
        let held = limiter.acquire().await.expect("a place");
        let mut both = Box::pin(limiter.acquire_many(2));
        assert!((&mut both).now_or_never().is_none(), "one of two places is free");
        // The waiting call holds nothing: the free place is still there for another call.
        // (Taken one by one, it held the free place while waiting for the second: with every
        // caller doing that, none got its second.)
        let other = limiter.acquire().now_or_never().flatten().expect("the free place");
        drop((held, other));
        let both = both.now_or_never().flatten().expect("both places, once free");
        assert_eq!(both.places, 2);
        assert!(limiter.acquire().now_or_never().is_none(), "both are held");
        drop(both);
        assert!(limiter.acquire_many(2).now_or_never().flatten().is_some(), "and given back");
        // More places than the window can ever hold: as many as it can.
        assert_eq!(limiter.acquire_many(5).now_or_never().flatten().map(|p| p.places), Some(2));
    }

    /// What a closed loop of `callers` callers, each making one call after another through
    /// `limiter` against a token bucket of `rate`/s and `burst` with 20 ms of latency,
    /// achieved: calls accepted in each second of `seconds`.
    async fn closed_loop(
        limiter: &Arc<Limiter>,
        rate: f64,
        burst: f64,
        callers: usize,
        seconds: u64,
    ) -> Vec<u64> {
        let bucket = Arc::new(Mutex::new((burst, Instant::now())));
        let admit = {
            let bucket = bucket.clone();
            move || {
                let mut bucket = bucket.lock().unwrap();
                let now = Instant::now();
                bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(burst);
                bucket.1 = now;
                let ok = bucket.0 >= 1.0;
                if ok {
                    bucket.0 -= 1.0;
                }
                ok
            }
        };
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let (limiter, admit, done) = (limiter.clone(), admit.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while started.elapsed() < Duration::from_secs(seconds) {
                    let _permit = limiter.acquire().await.unwrap();
                    // One call: attempts until accepted, retries paced by the limiter.
                    loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if admit() {
                            limiter.on_accepted();
                            done.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        limiter.on_throttled();
                        tokio::time::sleep(limiter.retry_delay()).await;
                    }
                }
            }));
        }
        let mut per_second = Vec::new();
        let mut last = 0;
        for second in 1..=seconds {
            tokio::time::sleep_until(started + Duration::from_secs(second)).await;
            let now = done.load(Ordering::Relaxed);
            per_second.push(now - last);
            last = now;
        }
        for task in tasks {
            task.abort();
        }
        per_second
    }

    /// An account limited to 10/s with a burst of 5 (IAM's token bucket), 20 ms of latency, 64
    /// calls wanting to go at once and the SDK's retries: the crawl the issue saw collapse.
    /// keyaudit must converge under the limit without collapsing and throttle little.
    #[tokio::test(start_paused = true)]
    async fn does_not_collapse_when_most_first_attempts_are_throttled() {
        let limiter = Limiter::new(64);
        let per_second = closed_loop(&limiter, 10.0, 5.0, 64, 60).await;
        let total: u64 = per_second.iter().sum();
        let slowest = per_second[10..].iter().min().copied().unwrap();
        let stats = limiter.stats();
        let share = stats.throttled as f64 / stats.attempts as f64;
        // 60 s at 10/s with a burst of 5 is at most 605 calls.
        assert!(total >= 540, "at least 90% of the limit over the minute: {total}");
        assert!(slowest >= 6, "no second after the first ten below 6 accepted/s: {slowest}");
        assert!(share < 0.08, "few attempts throttled: {share:.3} ({stats:?})");
    }

    /// An account at 100/s with a burst of 20 finds its limit within seconds: 30 s get 95% of
    /// what the bucket allows (after the doubling ended, probing at 2%/s got 2,842: 94%),
    /// with few attempts throttled.
    #[tokio::test(start_paused = true)]
    async fn a_high_limit_is_found_quickly() {
        let limiter = Limiter::new(64);
        let per_second = closed_loop(&limiter, 100.0, 20.0, 64, 30).await;
        let total: u64 = per_second.iter().sum();
        assert!(total >= 2870, "95% of 3,020: {total} {per_second:?}");
        let stats = limiter.stats();
        assert!(stats.throttled * 100 < stats.attempts * 4, "under 4% throttled: {stats:?}");
    }

    /// A small account (one of an Organization's: ~250 calls at 10/s, burst 5) is mostly its
    /// start: the start must find the limit without offering far more than it. Measured on
    /// this model: 20 throttled attempts in the first 5 s and 27 of 272 (9.9%) in 25 s when the
    /// first guess doubled until the hold ran out (to 30/s) with its slots reserved at 4.75/s;
    /// 14 and 18 of 270 (6.7%) now.
    #[tokio::test(start_paused = true)]
    async fn a_small_account_at_a_low_limit_throttles_little_while_it_starts() {
        let limiter = Limiter::new(64);
        let per_second = closed_loop(&limiter, 10.0, 5.0, 64, 5).await;
        let stats = limiter.stats();
        assert!(stats.throttled <= 15, "the first 5 s: {stats:?}");
        assert!(per_second.iter().sum::<u64>() >= 45, "{per_second:?}");

        let limiter = Limiter::new(64);
        let per_second = closed_loop(&limiter, 10.0, 5.0, 64, 25).await;
        let total: u64 = per_second.iter().sum();
        let stats = limiter.stats();
        let share = stats.throttled as f64 / stats.attempts as f64;
        assert!(total >= 240, "at least 95% of the limit: {total}");
        assert!(share < 0.085, "few attempts throttled: {share:.3} ({stats:?})");
    }

    /// A large account opens its window wider (see `crawl_account`): a few more throttles once,
    /// at a low limit. Measured on this model: 21 in the first 5 s instead of 14, 27 in 25 s
    /// instead of 18 (at 16 places: 32 and 38).
    #[tokio::test(start_paused = true)]
    async fn a_wider_start_costs_a_few_throttles_once() {
        let limiter = Limiter::new(64);
        limiter.widen_start(8);
        assert_eq!(limiter.window(), 8);
        let per_second = closed_loop(&limiter, 10.0, 5.0, 64, 5).await;
        let stats = limiter.stats();
        assert!(stats.throttled <= 22, "the first 5 s: {stats:?}");
        assert!(per_second.iter().sum::<u64>() >= 45, "{per_second:?}");
        // Once something was throttled, the start is over: nothing widens the window.
        let window = limiter.window();
        limiter.widen_start(64);
        assert_eq!(limiter.window(), window);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wider_start_lets_waiting_calls_go() {
        let limiter = Limiter::new(64);
        let _permits = fill(&limiter).await;
        let waiting: Vec<_> = (0..2).map(|_| attempt(&limiter, false)).collect();
        settle().await;
        limiter.widen_start(INITIAL_WINDOW + 2);
        for call in waiting {
            let got = tokio::time::timeout(Duration::from_secs(1), call).await;
            assert!(matches!(got, Ok(Ok(Some(())))), "{got:?}");
        }
    }

    /// Every place of a fresh limiter's window, taken.
    async fn fill(limiter: &Limiter) -> Vec<Permit<'_>> {
        let mut permits = Vec::new();
        for _ in 0..INITIAL_WINDOW {
            permits.push(limiter.acquire().await.expect("a place"));
        }
        permits
    }

    /// Lets every spawned task run until it waits again (the clock is paused: no time passes
    /// unless everything waits on it).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// A call asking for a place (a listing or not), let go as soon as it has one.
    fn attempt(limiter: &Arc<Limiter>, listing: bool) -> tokio::task::JoinHandle<Option<()>> {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            match listing {
                true => limiter.acquire_listing().await.map(|_| ()),
                false => limiter.acquire().await.map(|_| ()),
            }
        })
    }

    /// A waiting call's task, and whether it has its place.
    type Waiting = (tokio::task::JoinHandle<()>, Arc<AtomicBool>);

    /// A call waiting for a place (a listing or not), held forever once it has one; the flag
    /// says when it has.
    fn waiter(limiter: &Arc<Limiter>, ahead: bool) -> Waiting {
        let (limiter, got) = (limiter.clone(), Arc::new(AtomicBool::new(false)));
        let flag = got.clone();
        let task = tokio::spawn(async move {
            let _permit = match ahead {
                true => limiter.acquire_listing().await,
                false => limiter.acquire().await,
            };
            flag.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        });
        (task, got)
    }

    /// A full window, then a call waiting in turn, then a listing waiting after it.
    async fn full_then_two_waiting(limiter: &Arc<Limiter>) -> (Vec<Permit<'_>>, [Waiting; 2]) {
        let permits = fill(limiter).await;
        let first = waiter(limiter, false);
        settle().await;
        let listing = waiter(limiter, true);
        settle().await;
        (permits, [first, listing])
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_going_ahead_takes_the_next_free_place_before_calls_waiting_longer() {
        let limiter = Limiter::new(64);
        limiter.let_listings_ahead();
        let (mut permits, [(_first, first_got), (_ahead, ahead_got)]) = full_then_two_waiting(&limiter).await;
        // A call that asks now finds no place either: the next is kept for the one ahead.
        drop(permits.pop());
        let late = tokio::time::timeout(Duration::from_millis(1), limiter.acquire()).await;
        assert!(late.is_err(), "a new call takes the place kept for the call going ahead");
        settle().await;
        assert!(ahead_got.load(Ordering::SeqCst), "the call going ahead has the freed place");
        assert!(!first_got.load(Ordering::SeqCst), "the call waiting longer still waits");
        drop(permits.pop());
        settle().await;
        assert!(first_got.load(Ordering::SeqCst), "the next place is the earlier call's");
    }

    #[tokio::test(start_paused = true)]
    async fn listings_wait_their_turn_unless_let_ahead() {
        let limiter = Limiter::new(64);
        let (mut permits, [(_first, first_got), (_listing, listing_got)]) =
            full_then_two_waiting(&limiter).await;
        drop(permits.pop());
        settle().await;
        assert!(first_got.load(Ordering::SeqCst), "the call that waited first has the place");
        assert!(!listing_got.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_going_ahead_that_gives_up_leaves_its_place_to_the_others() {
        let limiter = Limiter::new(64);
        limiter.let_listings_ahead();
        let mut permits = fill(&limiter).await;
        let other = attempt(&limiter, false);
        let ahead = attempt(&limiter, true);
        settle().await;
        // The freed place is offered to the call going ahead, which is cancelled (a deadline,
        // a crawl given up) before it takes it.
        drop(permits.pop());
        ahead.abort();
        let got = tokio::time::timeout(Duration::from_secs(1), other).await;
        assert!(matches!(got, Ok(Ok(Some(())))), "the other call has the place: {got:?}");
        assert_eq!(limiter.lock().ahead_waiting, 0);
    }
}
