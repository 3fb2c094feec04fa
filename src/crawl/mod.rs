//! The SDK side: client setup, pagination, bounded concurrency, and turning every failed
//! call into a recorded [`ScanError`].
//!
//! Fail closed is the design rule here. A call that still fails after the SDK's retries is
//! never read as "no users" or "no keys": it becomes an error row naming the account, user
//! and operation, and the inventory is incomplete (exit 3). Retries are the SDK's own
//! (`RetryConfig` on the client); this module writes no retry loop.

mod client;
mod details;
mod errors;
pub mod limiter;
mod org;
mod pagination;
mod report_source;
pub mod response_check;
mod sessions;

pub use client::{connect, ConnectOptions, Connection, RetryMode, Shared, DEFAULT_TOTAL_IN_FLIGHT};
pub(crate) use errors::scan_error;
use errors::{error_row, CallError};
pub use limiter::Limiter;
pub use org::{scan_accounts, scan_many, AccountsOptions, DEFAULT_ROLE_NAME};
use pagination::{Page, PaginationError, Walk};
pub use report_source::{LastUsedSource, ReportHints};
pub use sessions::Sessions;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::list_users::ListUsersOutput;
use aws_sdk_iam::types::{AccessKeyMetadata, StatusType, SummaryKeyType, User as IamUser};
use aws_sdk_iam::Client as IamClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use futures::stream::StreamExt;
use tokio::time::Instant;

use crate::credential_report::LaterDates;
use crate::model::Root;
use crate::model::{AccessKey, Account, Inventory, KeyStatus, LastUsed, ScanError, User};

/// How hard to crawl, and for how long.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// The most IAM calls in flight at once for one account.
    pub concurrency: usize,
    pub last_used_source: LastUsedSource,
    /// Read users' tags, groups and policies (GetAccountAuthorizationDetails); off with
    /// `--no-details`.
    pub details: bool,
    /// `--deadline`: calls not done by this instant are error rows (`DeadlineExceeded`).
    /// One instant for the whole scan, every account alike.
    pub deadline: Option<Instant>,
}

/// Reports crawl progress (a progress bar, or nothing), and what the crawl found wrong with
/// data it still used (the caller words the warning).
pub trait Progress: Send + Sync {
    /// Once per user finished.
    fn user_done(&self);
    /// Once, when the accounts to scan are known.
    fn accounts_total(&self, _accounts: usize) {}
    /// Once per account finished (crawled, or failed to be reached).
    fn account_done(&self) {}
    /// Once per account whose credential report (`--last-used-source credential-report`)
    /// holds dates later than its GeneratedTime.
    fn impossible_credential_report(
        &self,
        _account: &str,
        _generated_at: DateTime<Utc>,
        _later: &LaterDates,
    ) {
    }
}

impl Progress for () {
    fn user_done(&self) {}
}

/// Scans the account the connection's credentials belong to.
pub async fn scan(connection: &Connection, options: &CrawlOptions, progress: &dyn Progress) -> Inventory {
    scan_many(connection, &AccountsOptions::default(), options, progress).await.0
}

/// Users per ListUsers page: IAM's maximum, so an account costs as few pages as it can.
const LIST_USERS_PAGE_SIZE: i32 = 1000;
/// IAM's quota of users per account: what an account may hold when its summary is unknown.
const IAM_USERS_QUOTA: usize = 5000;
/// ListUsers pages allowed beyond what the summary's user count fills: room for users created
/// during the crawl and for pages IAM leaves short. More than that is a listing that loops.
const EXTRA_LIST_USERS_PAGES: usize = 5;
/// An account with more users than this reads its details beside its keys (see
/// [`crawl_account`]): more than one GetAccountAuthorizationDetails page.
const DETAILS_BESIDE_KEYS_ABOVE_USERS: usize = details::PAGE_SIZE as usize;
/// ListAccessKeys pages allowed per user: a user has at most two keys, which fit one page.
const MAX_LIST_ACCESS_KEYS_PAGES: usize = 3;

/// Lists every user of the account, each user's keys and each key's last use.
///
/// GetAccountSummary and the first ListUsers page come first: the summary's user count
/// bounds the ListUsers pages and is checked against the users listed. The listing runs
/// ahead, and users stream into key listing as its pages arrive; at most `concurrency` calls
/// are in flight (the account's limiter, held per call).
/// The result is sorted by user name so inventories are stable.
pub async fn crawl_account(
    iam: &IamClient,
    permits: &Arc<Limiter>,
    account_id: String,
    options: &CrawlOptions,
    progress: &dyn Progress,
) -> (Account, Vec<ScanError>) {
    let account = account_id.as_str();
    let deadline = options.deadline;
    let mut errors = Vec::new();
    // The first ListUsers page is asked for beside GetAccountSummary (and the credential
    // report): it needs nothing from them, and waiting cost a round trip per account.
    let first_page = list_users_page(iam, permits, account, deadline, None);
    let before_listing = async {
        let summary = account_summary(iam, permits, account, deadline).await;
        // The fast path is an optimisation: if the report cannot be had, every key falls back
        // to GetAccessKeyLastUsed and the account's report time stays empty (shown as "api").
        let hints = match options.last_used_source {
            LastUsedSource::Api => None,
            LastUsedSource::CredentialReport => {
                within(deadline, report_source::fetch(iam, permits, account)).await.and_then(Result::ok)
            }
        };
        (summary, hints)
    };
    let ((summary, hints), first_page) = Box::pin(futures::future::join(before_listing, first_page)).await;
    let summary = match summary {
        Ok(summary) => Some(summary),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let hints = hints.as_ref();
    if let Some((hints, later)) = hints.and_then(|hints| Some((hints, hints.later.as_ref()?))) {
        progress.impossible_credential_report(account, hints.generated_at, later);
    }

    let expected = summary.as_ref().map_or(IAM_USERS_QUOTA, |summary| summary.users);
    if summary.as_ref().is_some_and(|summary| summary.users > LARGE_ACCOUNT_USERS) {
        permits.widen_start(LARGE_ACCOUNT_START_WINDOW);
        permits.let_listings_ahead();
    }
    let max_pages = expected.div_ceil(LIST_USERS_PAGE_SIZE as usize) + EXTRA_LIST_USERS_PAGES;
    // The listing runs ahead of the key crawl, page after page, into a queue the crawl takes
    // users from. Pulled page by page as the crawl needed users, each next page was asked for
    // only when the last was used up, waiting behind the crawl's queued calls while the users
    // under way ran out; and the listing ended (and with it the wait for the details) near
    // the end of the crawl. An account has at most 5,000 users, which the inventory holds
    // anyway.
    //
    // In an account read beside its keys (below), the listing and the details after it are a
    // task of their own: in the account's task, beside the key crawl, they waited whenever
    // the key crawl had answers to handle, which on a busy machine (a debug build, 2 cores)
    // was until it ran out of them: the details were read at the end after all (measured,
    // 2,001 users: 2.3 s after the listing ended). A smaller account lists its one page in
    // the account's task: another task per account would be work for nothing there.
    let (queue, queued) = futures::channel::mpsc::unbounded();
    let list_users = {
        let (iam, permits, account) = (iam.clone(), permits.clone(), account.to_string());
        async move {
            let mut listing =
                Some(UserListing { marker: None, walk: Walk::new(max_pages, format!("{expected} users")) });
            let mut fetched = Some(first_page);
            while let Some(this) = listing.take() {
                let (users, error, next) =
                    users_page(&iam, &permits, &account, deadline, this, fetched.take()).await;
                for item in users.into_iter().map(Ok).chain(error.map(Err)) {
                    // Fails only if the crawl is gone, and then nobody needs the users.
                    let _ = queue.unbounded_send(item);
                }
                listing = next;
            }
        }
    };

    // Details (tags, groups, policies): a few large pages. An account with more users than a
    // page holds reads them beside its keys once its users are listed: read after, its pages
    // were the last 0.35 s of a 5,000-user crawl at 64 in flight, one call at a time
    // (measured, of 11.1 s). A smaller account reads its one page after its keys: read beside
    // them from the start, they made a 1,000-account scan 1.9x slower (14.7 s -> 28 s,
    // measured), one more call per account in each account's first round trips, against a
    // burst of 5, so more first calls were throttled and sat in paced retries holding the
    // global budget while the CPUs idled; read once its one ListUsers page was in, still 1.2x
    // (12.0 -> 14.6 s).
    let beside_keys = expected > DETAILS_BESIDE_KEYS_ABOVE_USERS;
    let details = {
        let (iam, permits, account, wanted) =
            (iam.clone(), permits.clone(), account.to_string(), options.details);
        async move {
            match wanted {
                true => Some(details::account_details(&iam, &permits, &account, deadline, expected).await),
                false => None,
            }
        }
    };
    let keys = async {
        let mut users = Vec::new();
        let mut errors = Vec::new();
        let outcomes = queued
            .map(|item| async move {
                match item {
                    Ok(user) => crawl_user(iam, account, user, permits, hints, deadline).await,
                    Err(error) => (None, vec![error]),
                }
            })
            // Twice as many users as calls in flight: a user between its calls holds no permit,
            // and the limiter, not this buffer, is what bounds the calls.
            .buffer_unordered(options.concurrency.max(1) * 2);
        let mut outcomes = std::pin::pin!(outcomes);

        while let Some((user, user_errors)) = outcomes.next().await {
            if let Some(user) = user {
                users.push(user);
                progress.user_done();
            }
            errors.extend(user_errors);
        }
        (users, errors)
    };
    // On the heap: these futures overflowed a test thread's stack in debug builds.
    let ((mut users, listing_errors), details) = if beside_keys {
        let list_then_details = Task(tokio::spawn(async move {
            list_users.await;
            details.await
        }));
        Box::pin(futures::future::join(keys, list_then_details)).await
    } else {
        let (keys, ()) = Box::pin(futures::future::join(keys, list_users)).await;
        (keys, Box::pin(details).await)
    };
    errors.extend(listing_errors);
    match details {
        Some(Ok(mut details)) => {
            // A user created after the details were read has none: unknown, not "no owner".
            for user in &mut users {
                user.details = details.remove(&user.user_name);
            }
        }
        Some(Err(error)) => errors.push(error),
        None => {}
    }
    users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    // A listing that failed already says the scan is incomplete; counting it adds nothing.
    let listed_whole = !errors.iter().any(|error| error.operation == "ListUsers");
    if let (Some(summary), true) = (&summary, listed_whole) {
        errors.extend(check_user_count(iam, permits, account, deadline, summary.users, users.len()).await);
    }
    let root = summary.map(|summary| summary.root);
    let credential_report_generated_at = hints.map(|hints| hints.generated_at);
    (Account { account_id, users, root, credential_report_generated_at }, errors)
}

/// An account with more users than this lets its listings go ahead of its other calls
/// ([`Limiter::acquire_ahead`]), and starts its key crawl with [`LARGE_ACCOUNT_START_WINDOW`]
/// calls in flight, not the few its first round trip allowed (slow start: 4). Its start is
/// one round trip shorter (latency-c64: 0.05 s); at a low limit it costs a few more throttled
/// attempts, once (7-9 at 10/s with a burst of 5, measured on the limiter's model), against
/// the thousands of calls such an account takes. A small
/// account is mostly its start, where the same throttles weigh most: with every account
/// opening at 4, 1,000 accounts of 10 users took 25 s instead of 13.5 (measured).
const LARGE_ACCOUNT_USERS: usize = 1000;
const LARGE_ACCOUNT_START_WINDOW: usize = 8;

/// Where a ListUsers listing is: the marker to ask with, and the pages so far.
struct UserListing {
    marker: Option<String>,
    walk: Walk,
}

/// One ListUsers page as IAM answered it, or the listing's error row.
async fn list_users_page(
    iam: &IamClient,
    permits: &Limiter,
    account: &str,
    deadline: Option<Instant>,
    marker: Option<String>,
) -> Result<ListUsersOutput, ScanError> {
    let request = iam.list_users().set_marker(marker).max_items(LIST_USERS_PAGE_SIZE);
    call(permits, Wait::Listing, deadline, || request.send())
        .await
        .map_err(|error| error.row(Some(account), None, None, "ListUsers"))
}

/// The next ListUsers page (`fetched`, if it was asked for already): its users not listed
/// before, the error that ends the listing if any, and the listing to go on with (`None`:
/// done, or ended by the error).
async fn users_page(
    iam: &IamClient,
    permits: &Limiter,
    account: &str,
    deadline: Option<Instant>,
    UserListing { marker, mut walk }: UserListing,
    fetched: Option<Result<ListUsersOutput, ScanError>>,
) -> (Vec<IamUser>, Option<ScanError>, Option<UserListing>) {
    let page = match fetched {
        Some(page) => page,
        None => list_users_page(iam, permits, account, deadline, marker).await,
    };
    let page = match page {
        Ok(page) => page,
        Err(error) => return (Vec::new(), Some(error), None),
    };
    let page =
        Page { items: page.users().to_vec(), is_truncated: page.is_truncated(), marker: page.marker() };
    let step = walk.page(page, |user| user.user_name());
    match step.next {
        Ok(Some(marker)) => (step.fresh, None, Some(UserListing { marker: Some(marker), walk })),
        Ok(None) => (step.fresh, None, None),
        Err(problem) => (step.fresh, Some(pagination_error(account, None, "ListUsers", &problem)), None),
    }
}

/// Pagination that cannot be right, as the listing's error row.
fn pagination_error(
    account: &str,
    user: Option<&str>,
    operation: &str,
    problem: &PaginationError,
) -> ScanError {
    error_row(Some(account), user, None, operation, problem.code(), problem.to_string())
}

/// Where a call waits for its place: in turn, or as a listing (a page of users, of a user's
/// keys, of the details: in an account that lets listings go ahead, ahead of the calls
/// waiting, see [`Limiter::acquire_listing`]). Listings go ahead strictly: a call in turn
/// waits while any listing waits, which ends because a user's listing is followed by its
/// calls in turn and the crawl holds a bounded number of users; the details, which are not,
/// are listings for that reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    InTurn,
    Listing,
}

/// One IAM call under the account's limiter and the scan's deadline. The permit is held for
/// the whole call, the SDK's retries included; the deadline covers the wait for it too.
///
/// The call's future is made, on the heap, only once the permit is held: an SDK call's future
/// is tens of kilobytes, and held inline by every user's crawl waiting for the limiter it
/// was most of the memory of a scan (org-40: 122 of 135 MB of heap at the peak, in futures
/// waiting at 10 calls/s). The wait for the permit is made inside, not passed in made: a
/// future passed in is held beside the call's every state (passed in, org-40's peak memory
/// was 79-84 MiB instead of 70, measured).
async fn call<T, E, F>(
    permits: &Limiter,
    wait: Wait,
    deadline: Option<Instant>,
    send: impl FnOnce() -> F,
) -> Result<T, CallError<E>>
where
    F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let answer = within(deadline, async {
        let _permit = match wait {
            Wait::Listing => permits.acquire_listing().await,
            Wait::InTurn => permits.acquire().await,
        };
        Box::pin(send()).await
    });
    answer.await.ok_or(CallError::DeadlineExceeded)?.map_err(|error| CallError::Sdk(Box::new(error)))
}

/// A spawned part of a crawl: awaited like the work itself, and cancelled with it when
/// dropped (work past the deadline, or of a scan given up, must not go on unseen).
struct Task<T>(tokio::task::JoinHandle<T>);

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(output) => output,
            // Aborted only when this is dropped, so only a panic gets here: pass it on.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        })
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `work`, unless `deadline` passes first (`None`). Past the deadline, nothing new starts.
pub(crate) async fn within<T>(deadline: Option<Instant>, work: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(deadline) if Instant::now() >= deadline => None,
        Some(deadline) => tokio::time::timeout_at(deadline, work).await.ok(),
        None => Some(work.await),
    }
}

/// What GetAccountSummary says that a scan uses.
struct AccountSummary {
    /// IAM users in the account.
    users: usize,
    root: Root,
}

/// GetAccountSummary: the number of users and whether the root user has access keys
/// (AccountAccessKeysPresent). A summary without either is an error, never "no root keys".
async fn account_summary(
    iam: &IamClient,
    permits: &Limiter,
    account: &str,
    deadline: Option<Instant>,
) -> Result<AccountSummary, ScanError> {
    const OPERATION: &str = "GetAccountSummary";
    let summary = call(permits, Wait::InTurn, deadline, || iam.get_account_summary().send())
        .await
        .map_err(|error| error.row(Some(account), None, None, OPERATION))?;
    let entry = |key: SummaryKeyType| summary.summary_map().and_then(|map| map.get(&key).copied());
    let (Some(users), Some(root_keys)) =
        (entry(SummaryKeyType::Users), entry(SummaryKeyType::AccountAccessKeysPresent))
    else {
        let message = "SummaryMap lacks Users or AccountAccessKeysPresent".to_string();
        return Err(error_row(Some(account), None, None, OPERATION, "MalformedResponse", message));
    };
    let present = root_keys > 0;
    Ok(AccountSummary {
        users: usize::try_from(users).unwrap_or_default(),
        root: Root { access_keys_present: present, keys: Vec::new() },
    })
}

/// Compares the users listed with the summary's count, read before the listing.
///
/// Users created or deleted while the crawl runs move the count, so a mismatch is not an
/// error at once: the summary is read again, and a listing between the two counts is taken
/// as the account changing under the crawl. Outside them (or if the second read fails), it is
/// an error row: users were missed or listed that the account does not have. A user created
/// and another deleted during one crawl can still trip it; that scan says so (exit 3), which is
/// the safe side of a race.
async fn check_user_count(
    iam: &IamClient,
    permits: &Limiter,
    account: &str,
    deadline: Option<Instant>,
    before: usize,
    listed: usize,
) -> Option<ScanError> {
    if listed == before {
        return None;
    }
    let after = account_summary(iam, permits, account, deadline).await.ok().map(|summary| summary.users);
    let (low, high) = match after {
        Some(after) => (before.min(after), before.max(after)),
        None => (before, before),
    };
    if (low..=high).contains(&listed) {
        return None;
    }
    let counted = match after {
        Some(after) if after != before => format!("{before}, then {after}"),
        _ => before.to_string(),
    };
    Some(error_row(
        Some(account),
        None,
        None,
        "ListUsers",
        "UserCountMismatch",
        format!("listed {listed} users, but GetAccountSummary counts {counted}"),
    ))
}

async fn crawl_user(
    iam: &IamClient,
    account: &str,
    user: IamUser,
    permits: &Limiter,
    hints: Option<&ReportHints>,
    deadline: Option<Instant>,
) -> (Option<User>, Vec<ScanError>) {
    let (keys, errors) = keys_of(iam, account, user.user_name(), permits, hints, deadline).await;
    let user = User {
        path: user.path().to_string(),
        arn: user.arn().to_string(),
        created: to_chrono(user.create_date()),
        user_name: user.user_name().to_string(),
        keys,
        details: None,
    };
    (Some(user), errors)
}

/// One user's keys with their last use (ListAccessKeys, then GetAccessKeyLastUsed per key),
/// oldest first. Failed calls come back as errors, never as missing keys.
pub async fn user_keys(
    iam: &IamClient,
    account: &str,
    user_name: &str,
    permits: &Limiter,
    hints: Option<&ReportHints>,
) -> (Vec<AccessKey>, Vec<ScanError>) {
    keys_of(iam, account, user_name, permits, hints, None).await
}

/// [`user_keys`], within the scan's deadline.
async fn keys_of(
    iam: &IamClient,
    account: &str,
    user_name: &str,
    permits: &Limiter,
    hints: Option<&ReportHints>,
    deadline: Option<Instant>,
) -> (Vec<AccessKey>, Vec<ScanError>) {
    let mut errors = Vec::new();
    let (metadata, listing_error) = list_access_keys(iam, account, user_name, permits, deadline).await;
    errors.extend(listing_error);

    let mut listed_keys = Vec::new();
    for meta in &metadata {
        match KeyMetadata::from_sdk(meta) {
            Ok(key) => listed_keys.push(key),
            // Not plausible from IAM, but a key we cannot identify or date must not be
            // guessed at: record it, and the scan is incomplete.
            Err(missing) => errors.push(error_row(
                Some(account),
                Some(user_name),
                meta.access_key_id(),
                "ListAccessKeys",
                "MalformedResponse",
                format!("access key metadata without {missing}"),
            )),
        }
    }

    let lookups = listed_keys.into_iter().map(|key| async move {
        if let Some(last_used) = hints.and_then(|hints| hints.last_used(user_name, key.created, key.status)) {
            let key = AccessKey {
                access_key_id: key.access_key_id,
                status: key.status,
                created: key.created,
                last_used,
            };
            return (key, None);
        }
        const OPERATION: &str = "GetAccessKeyLastUsed";
        let used = call(permits, Wait::InTurn, deadline, || {
            iam.get_access_key_last_used().access_key_id(&key.access_key_id).send()
        })
        .await;
        let id = Some(key.access_key_id.as_str());
        let (last_used, error) = match used {
            Ok(output) => match output.access_key_last_used() {
                Some(last_used) => (last_used_from(last_used), None),
                // Read as "never used", a key in daily use would be flagged and deactivated.
                None => (
                    LastUsed::Unknown,
                    Some(error_row(
                        Some(account),
                        Some(user_name),
                        id,
                        OPERATION,
                        "MalformedResponse",
                        "the answer has no AccessKeyLastUsed".into(),
                    )),
                ),
            },
            Err(error) => (LastUsed::Unknown, Some(error.row(Some(account), Some(user_name), id, OPERATION))),
        };
        let key = AccessKey {
            access_key_id: key.access_key_id,
            status: key.status,
            created: key.created,
            last_used,
        };
        (key, error)
    });
    let mut keys = Vec::new();
    for (key, error) in futures::future::join_all(lookups).await {
        keys.push(key);
        errors.extend(error);
    }
    keys.sort_by_key(|key| key.created);
    (keys, errors)
}

/// Every page of a user's ListAccessKeys, one permit per page, checked like ListUsers'. What
/// was listed before a failure is kept, with the error.
async fn list_access_keys(
    iam: &IamClient,
    account: &str,
    user_name: &str,
    permits: &Limiter,
    deadline: Option<Instant>,
) -> (Vec<AccessKeyMetadata>, Option<ScanError>) {
    let mut walk = Walk::new(MAX_LIST_ACCESS_KEYS_PAGES, "2 keys a user can have");
    let mut marker = None;
    let mut metadata = Vec::new();
    loop {
        let request = iam.list_access_keys().user_name(user_name).set_marker(marker);
        let page = match call(permits, Wait::Listing, deadline, || request.send()).await {
            Ok(page) => page,
            Err(error) => {
                return (metadata, Some(error.row(Some(account), Some(user_name), None, "ListAccessKeys")))
            }
        };
        let items = page.access_key_metadata().to_vec();
        let page = Page { items, is_truncated: page.is_truncated(), marker: page.marker() };
        let step = walk.page(page, |meta| meta.access_key_id().unwrap_or_default());
        metadata.extend(step.fresh);
        match step.next {
            Ok(Some(next)) => marker = Some(next),
            Ok(None) => return (metadata, None),
            Err(problem) => {
                return (
                    metadata,
                    Some(pagination_error(account, Some(user_name), "ListAccessKeys", &problem)),
                )
            }
        }
    }
}

/// The parts of ListAccessKeys' answer keyaudit needs, all present.
struct KeyMetadata {
    access_key_id: String,
    status: KeyStatus,
    created: DateTime<Utc>,
}

impl KeyMetadata {
    fn from_sdk(meta: &aws_sdk_iam::types::AccessKeyMetadata) -> Result<KeyMetadata, &'static str> {
        let access_key_id = meta.access_key_id().filter(|id| !id.is_empty()).ok_or("AccessKeyId")?;
        let created = meta.create_date().map(to_chrono).ok_or("CreateDate")?;
        let status = match meta.status() {
            Some(StatusType::Active) => KeyStatus::Active,
            // IAM knows Active, Inactive (and Expired for service credentials); anything that
            // is not Active cannot sign requests.
            Some(_) => KeyStatus::Inactive,
            None => return Err("Status"),
        };
        Ok(KeyMetadata { access_key_id: access_key_id.to_string(), status, created })
    }
}

/// IAM answers a never-used key with no date and "N/A" for service and region.
fn last_used_from(last_used: &aws_sdk_iam::types::AccessKeyLastUsed) -> LastUsed {
    let known = |value: &str| (!value.is_empty() && value != "N/A").then(|| value.to_string());
    match last_used.last_used_date() {
        Some(date) => LastUsed::At {
            date: to_chrono(date),
            service: known(last_used.service_name()),
            region: known(last_used.region()),
        },
        None => LastUsed::Never,
    }
}

pub(crate) fn to_chrono(date: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(date.secs(), date.subsec_nanos()).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
