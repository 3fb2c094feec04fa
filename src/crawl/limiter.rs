//! One account's request limiter: a bound on calls in flight plus adaptive pacing, fed by
//! what IAM answers to every attempt.
//!
//! IAM's request rate limit is per account, unpublished and shared with everything else
//! calling that account. A fixed pool either crawls slowly or gets throttled and leans on
//! retries. The SDK's adaptive retry mode reacts only after throttling and backs off far
//! below the limit (measured at about 2x the ideal wall time, see the README). So:
//!
//! - start unpaced: only `max_in_flight` bounds the crawl (latency-bound accounts never
//!   throttle and never pay for pacing);
//! - on throttling, pace at 95% of the rate IAM actually accepted over the last two
//!   seconds (the goodput under throttling *is* the limit), at most once a second so one
//!   congestion event counts once; a cut in the first two seconds is provisional (answers
//!   still in flight make the rate look low) and is followed by fast probing;
//! - while nothing is throttled, probe upward, 2% a second, and faster once it has been
//!   quiet for 5 seconds, so a limit that rises (or other clients going away) is found again,
//!   and an estimate that came out low recovers in seconds, while near the limit the pace
//!   only creeps.
//!
//! Attempts are observed by [`ThrottleObserver`], an SDK interceptor, so the SDK's own
//! retries (which the crawler never sees) feed the limiter too. The limiter paces the first
//! attempt of each call; retries keep the SDK's backoff.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How far back the accepted rate is measured.
const WINDOW: Duration = Duration::from_secs(2);
/// One congestion event produces many throttles; react to it once.
const HOLD: Duration = Duration::from_secs(1);
/// Pace at this share of the measured accepted rate.
const BACKOFF: f64 = 0.95;
/// Probe upward by this share per second...
const PROBE_PER_SECOND: f64 = 0.02;
/// ...times 1 + the quiet seconds beyond this since the last cut.
const QUIET_BEFORE_SPEEDUP: Duration = Duration::from_secs(5);
/// After a cut measured over a young window (see `Pace::provisional`).
const PROVISIONAL_PROBE_PER_SECOND: f64 = 0.25;
const MIN_RATE: f64 = 1.0;

#[derive(Debug)]
pub struct Limiter {
    in_flight: Semaphore,
    pace: Mutex<Pace>,
    attempts: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug)]
struct Pace {
    /// Requests per second, or `None` before the first throttle.
    rate: Option<f64>,
    /// When the next call may start.
    next_start: Instant,
    last_decrease: Option<Instant>,
    last_probe: Instant,
    /// When recent attempts were accepted, and when they were started.
    accepted: VecDeque<Instant>,
    started: VecDeque<Instant>,
    /// When the limiter was made: early on, the window is only this old.
    born: Instant,
    /// The last cut was measured over a window younger than WINDOW (the first answers of a
    /// crawl, still in flight, make the accepted rate look low): probe fast until the next
    /// throttle gives a real measurement.
    provisional: bool,
}

/// Counters for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterStats {
    pub attempts: u64,
    pub throttled: u64,
}

impl Limiter {
    pub fn new(max_in_flight: usize) -> Arc<Limiter> {
        let now = Instant::now();
        Arc::new(Limiter {
            in_flight: Semaphore::new(max_in_flight.max(1)),
            pace: Mutex::new(Pace {
                rate: None,
                next_start: now,
                last_decrease: None,
                last_probe: now,
                accepted: VecDeque::new(),
                started: VecDeque::new(),
                born: now,
                provisional: false,
            }),
            attempts: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    /// Waits for a slot in flight and for the pace, then lets one call start. Hold the
    /// permit for the whole call (its retries included).
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        let permit = self.in_flight.acquire().await.ok()?;
        let wait = {
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
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Some(permit)
    }

    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
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

    /// An attempt got an answer that was not throttling.
    pub fn on_accepted(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut pace = self.lock();
        pace.started.push_back(now);
        pace.accepted.push_back(now);
        pace.prune(now);
        if let Some(rate) = pace.rate {
            // Probe at 2%/s, and after 5 quiet seconds 2%/s faster for every further quiet
            // second: near the limit (a cut every few seconds) the pace creeps, but an
            // estimate that came out low (a cut measured over a young window) recovers fast.
            let elapsed = now.duration_since(pace.last_probe).as_secs_f64();
            let quiet = pace.last_decrease.map_or(0.0, |at| now.duration_since(at).as_secs_f64());
            let speedup = 1.0 + (quiet - QUIET_BEFORE_SPEEDUP.as_secs_f64()).max(0.0);
            let growth =
                if pace.provisional { PROVISIONAL_PROBE_PER_SECOND } else { PROBE_PER_SECOND * speedup };
            pace.rate = Some(rate * (1.0 + growth * elapsed));
        }
        pace.last_probe = now;
    }

    /// An attempt was throttled (IAM's `Throttling`, or 503 / `SlowDown`).
    pub fn on_throttled(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut pace = self.lock();
        pace.started.push_back(now);
        pace.prune(now);
        // The SDK will retry this attempt on its own schedule, outside the pace: keep a slot
        // free for it by pushing the next paced start back one interval.
        if let Some(rate) = pace.rate {
            let next = pace.next_start.max(now) + Duration::from_secs_f64(1.0 / rate);
            pace.next_start = next;
        }
        if pace.last_decrease.is_some_and(|at| now.duration_since(at) < HOLD) {
            return;
        }
        // Early on the window is younger than WINDOW; measure over what there is (at least
        // 100 ms, so a handful of first answers cannot look like a huge rate).
        let age = now.duration_since(pace.born);
        pace.provisional = age < WINDOW;
        let span = age.clamp(Duration::from_millis(100), WINDOW).as_secs_f64();
        let accepted = pace.accepted.len() as f64 / span;
        let offered = pace.started.len() as f64 / span;
        let new_rate = if accepted > 0.0 {
            accepted * BACKOFF
        } else {
            // Nothing got through lately: halve what was offered (or the current pace).
            pace.rate.unwrap_or(offered).min(offered.max(MIN_RATE)) * 0.5
        };
        pace.rate = Some(new_rate.max(MIN_RATE));
        pace.last_decrease = Some(now);
        pace.last_probe = now;
    }
}

impl Pace {
    fn prune(&mut self, now: Instant) {
        for queue in [&mut self.accepted, &mut self.started] {
            while queue.front().is_some_and(|&at| now.duration_since(at) > WINDOW) {
                queue.pop_front();
            }
        }
    }
}

/// Reports every attempt's outcome to the account's [`Limiter`]. Registered on the IAM
/// client, so it also sees the attempts the SDK retries by itself.
#[derive(Debug, Clone)]
pub struct ThrottleObserver(pub Arc<Limiter>);

impl Intercept for ThrottleObserver {
    fn name(&self) -> &'static str {
        "keyaudit-throttle-observer"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // No response: a transport failure, which says nothing about the rate limit.
        let Some(response) = context.response() else { return Ok(()) };
        if is_throttling(response.status().as_u16(), response.body().bytes()) {
            self.0.on_throttled();
        } else {
            self.0.on_accepted();
        }
        Ok(())
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
    async fn starts_unpaced_then_paces_under_the_accepted_rate() {
        let limiter = Limiter::new(8);
        assert_eq!(limiter.rate(), None, "unpaced until IAM pushes back");
        // 100 accepted in the first second, then throttling: pace at 95% of the accepted rate.
        for _ in 0..100 {
            limiter.on_accepted();
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        limiter.on_throttled();
        let rate = limiter.rate().expect("paced after a throttle");
        assert!((rate - 95.0).abs() < 1.0, "95% of 100 accepted per second: {rate}");
        // A burst of throttles from the same congestion counts once.
        limiter.on_throttled();
        assert_eq!(limiter.rate(), Some(rate));
        assert_eq!(limiter.stats(), LimiterStats { attempts: 102, throttled: 2 });
    }

    #[tokio::test(start_paused = true)]
    async fn paced_calls_are_spaced_and_probing_raises_the_rate() {
        let limiter = Limiter::new(64);
        // Throttled at once, nothing accepted: half of what was offered (1 call in the first
        // 100 ms measured = 10/s), so 5/s.
        limiter.on_throttled();
        assert_eq!(limiter.rate(), Some(5.0));
        let start = Instant::now();
        for _ in 0..3 {
            drop(limiter.acquire().await);
        }
        assert!(Instant::now() - start >= Duration::from_millis(400), "three calls at 5/s take 0.4 s");

        tokio::time::advance(Duration::from_secs(10)).await;
        limiter.on_accepted();
        let probed = limiter.rate().unwrap();
        assert!(probed > 5.0 * 1.15, "ten quiet seconds probe upward: {probed}");
    }
}
