//! Many accounts in one scan: the caller's own, a list, or every active account of an AWS
//! Organization, each reached by assuming a role.
//!
//! Each account gets its own clients with their own retry partition (token bucket and
//! adaptive limiter) and its own concurrency bound, so a throttled or slow account cannot
//! starve the others. An account that cannot be reached (role missing, access denied,
//! external id wrong) is an error row for that account, and the others still complete.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_sdk_iam::config::SharedCredentialsProvider;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use chrono::Utc;
use futures::future::Either;
use futures::stream::{self, StreamExt};

use tokio::time::Instant;

use super::client::Shared;
use super::errors::deadline_row;
use super::sessions::Sessions;
use super::{crawl_account, scan_error, within, Connection, CrawlOptions, LastUsedSource, Progress};
use crate::model::{Account, Inventory, ScanError, Shard, INVENTORY_SCHEMA_VERSION};

/// Which accounts to scan and how to get into them.
#[derive(Debug, Clone)]
pub struct AccountsOptions {
    /// List the Organization's accounts (from its management or a delegated account).
    pub org: bool,
    /// Only these accounts (with `org`: only those of the Organization).
    pub accounts: Option<Vec<String>>,
    pub role_name: String,
    pub external_id: Option<String>,
    pub session_name: String,
    /// Only the accounts of this slice of the list (`--shard K/N`).
    pub shard: Option<Shard>,
    /// Accounts crawled at once; `None`: all of them (the shared budget of calls in flight
    /// is what bounds the work, not the number of accounts).
    pub account_concurrency: Option<usize>,
}

/// The role `--org` and `--accounts` assume when `--role-name` is not given: the one AWS
/// Organizations creates in every account it creates.
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";

impl Default for AccountsOptions {
    fn default() -> Self {
        AccountsOptions {
            org: false,
            accounts: None,
            role_name: DEFAULT_ROLE_NAME.into(),
            external_id: None,
            session_name: "keyaudit".into(),
            account_concurrency: None,
            shard: None,
        }
    }
}

/// Scans the selected accounts and merges them into one inventory; also returns how each
/// account was reached, for steps that act in the accounts afterwards (see [`Sessions`]).
pub async fn scan_many(
    base: &Connection,
    options: &AccountsOptions,
    crawl: &CrawlOptions,
    progress: &dyn Progress,
) -> (Inventory, Sessions) {
    let collected_at = Utc::now();
    let inventory = |accounts, errors| Inventory {
        schema_version: INVENTORY_SCHEMA_VERSION,
        collected_at,
        accounts,
        errors,
        shard: options.shard,
    };
    let own_only = !options.org && options.accounts.is_none() && options.shard.is_none();
    let caller_crawled = match &base.config {
        // The caller's own account alone: its crawl starts beside GetCallerIdentity, which
        // only names the account, instead of a round trip after it. (A credential report's
        // warning names the account while the crawl runs, so that source waits as before.)
        Some(config) if own_only && crawl.last_used_source == LastUsedSource::Api => {
            Some((config, scan_own(base, config, crawl, progress).await))
        }
        _ => None,
    };
    let caller = match caller_crawled {
        Some((config, Ok((caller, account, errors)))) => {
            let reached = BTreeMap::from([(caller.clone(), config.clone())]);
            return (
                inventory(vec![account], errors),
                Sessions::of_crawl(base.config.clone(), Ok(caller), reached),
            );
        }
        Some((_, Err(error))) => Err(error),
        None => base.account_id(false, crawl.deadline).await,
    };
    let caller = match caller {
        Ok(id) => id,
        Err(error) => {
            let why = format!(
                "cannot tell which account the credentials belong to: {}: {}",
                error.code, error.message
            );
            return (
                inventory(Vec::new(), vec![error]),
                Sessions::of_crawl(base.config.clone(), Err(why), BTreeMap::new()),
            );
        }
    };
    let (ids, mut errors) = target_ids(base, &caller, options, crawl.deadline).await;
    progress.accounts_total(ids.len());
    let config = base.config.clone();
    let reached = &Mutex::new(BTreeMap::new());
    let (accounts, more) = scan_accounts(
        &caller,
        ids,
        |id| {
            let config = config.clone();
            let base = base.clone();
            let caller = caller.clone();
            async move {
                let connection = match config {
                    Some(config) if id == caller => {
                        Connection::for_account(&config, &id, crawl.concurrency, &base.shared)
                    }
                    Some(config) => assume(&config, &id, options, crawl.concurrency, &base.shared).await,
                    None => base,
                };
                if let Some(config) = &connection.config {
                    reached.lock().unwrap_or_else(|e| e.into_inner()).insert(id, config.clone());
                }
                connection
            }
        },
        crawl,
        progress,
        options.account_concurrency,
    )
    .await;
    errors.extend(more);
    // Only the accounts crawled: one whose role could not be assumed has no findings, and
    // its credentials would fail again.
    let crawled: std::collections::BTreeSet<&str> =
        accounts.iter().map(|account| account.account_id.as_str()).collect();
    let mut reached = std::mem::take(&mut *reached.lock().unwrap_or_else(|e| e.into_inner()));
    reached.retain(|id, _| crawled.contains(id.as_str()));
    (inventory(accounts, errors), Sessions::of_crawl(base.config.clone(), Ok(caller), reached))
}

/// What the crawl of the caller's own account calls it until GetCallerIdentity has answered:
/// never seen outside [`scan_own`], which renames it.
const UNNAMED: &str = "the caller's account";

/// Crawls the caller's own account beside GetCallerIdentity. If that fails, nothing else
/// counts, as when it came first: the crawl is dropped (its calls cancelled) and the error is
/// returned. Otherwise the account and its error rows take the id STS gave.
async fn scan_own(
    base: &Connection,
    config: &SdkConfig,
    crawl: &CrawlOptions,
    progress: &dyn Progress,
) -> Result<(String, Account, Vec<ScanError>), ScanError> {
    progress.accounts_total(1);
    let connection = Connection::for_account(config, "own", crawl.concurrency, &base.shared);
    let crawled = crawl_account(&connection.iam, &connection.limiter, UNNAMED.to_string(), crawl, progress);
    let identify = base.account_id(false, crawl.deadline);
    // On the heap: the crawl's future overflowed a test thread's stack in debug builds.
    let ((mut account, mut errors), caller) =
        match futures::future::select(Box::pin(identify), Box::pin(crawled)).await {
            Either::Left((Err(error), _crawl)) => {
                progress.account_done();
                return Err(error);
            }
            Either::Left((Ok(caller), crawl)) => (crawl.await, caller),
            Either::Right((crawled, identify)) => (crawled, identify.await?),
        };
    progress.account_done();
    account.account_id.clone_from(&caller);
    for error in &mut errors {
        if error.account_id.as_deref() == Some(UNNAMED) {
            error.account_id = Some(caller.clone());
        }
    }
    Ok((caller, account, errors))
}

/// The accounts to scan, and the errors met choosing them. When the Organization cannot be
/// listed, the accounts named explicitly (else the caller's own) are still scanned; the
/// error makes the scan incomplete.
async fn target_ids(
    base: &Connection,
    caller: &str,
    options: &AccountsOptions,
    deadline: Option<Instant>,
) -> (Vec<String>, Vec<ScanError>) {
    let mut errors = Vec::new();
    let listed = if options.org {
        match within(deadline, list_org_accounts(base, caller)).await {
            Some(Ok(ids)) => Some(ids),
            Some(Err(error)) => {
                errors.push(error);
                None
            }
            None => {
                errors.push(deadline_row(Some(caller), "ListAccounts"));
                None
            }
        }
    } else {
        None
    };
    let mut ids = match (&options.accounts, listed) {
        (Some(wanted), Some(org)) => {
            for id in wanted.iter().filter(|id| !org.contains(id)) {
                errors.push(ScanError {
                    account_id: Some(id.clone()),
                    user_name: None,
                    access_key_id: None,
                    operation: "ListAccounts".into(),
                    code: "NotInOrganization".into(),
                    message: format!("account {id} is not an active account of the organization"),
                });
            }
            wanted.iter().filter(|id| org.contains(id)).cloned().collect()
        }
        (Some(wanted), None) => wanted.clone(),
        (None, Some(org)) => org,
        (None, None) => vec![caller.to_string()],
    };
    ids.sort();
    ids.dedup();
    if let Some(shard) = options.shard {
        ids.retain(|id| shard.owns(id));
    }
    (ids, errors)
}

/// Active accounts of the Organization (ListAccounts, every page).
async fn list_org_accounts(base: &Connection, caller: &str) -> Result<Vec<String>, ScanError> {
    let Some(config) = &base.config else { return Ok(vec![caller.to_string()]) };
    let client = aws_sdk_organizations::Client::new(config);
    let mut pages = client.list_accounts().into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| scan_error(Some(caller), None, None, "ListAccounts", &error))?;
        for account in page.accounts() {
            // `state` replaces the deprecated `status`; accept either saying active.
            #[allow(deprecated)]
            let active = match account.state() {
                Some(state) => *state == AccountState::Active,
                None => account.status() == Some(&AccountStatus::Active),
            };
            if let (true, Some(id)) = (active, account.id()) {
                ids.push(id.to_string());
            }
        }
    }
    Ok(ids)
}

/// Clients for `account_id` with credentials from assuming the role there. Nothing is
/// called yet: a failure shows at the first call, which [`scan_accounts`] makes.
async fn assume(
    config: &SdkConfig,
    account_id: &str,
    options: &AccountsOptions,
    max_in_flight: usize,
    shared: &Shared,
) -> Connection {
    Connection::for_account(
        &assumed_config(config, account_id, options).await,
        account_id,
        max_in_flight,
        shared,
    )
}

/// `config` with credentials from assuming the role of `options` in `account_id`, cached in
/// an identity cache of their own. Nothing is called yet.
pub(crate) async fn assumed_config(
    config: &SdkConfig,
    account_id: &str,
    options: &AccountsOptions,
) -> SdkConfig {
    let partition = match config.region().map(|region| region.as_ref()) {
        Some(region) if region.starts_with("us-gov-") => "aws-us-gov",
        Some(region) if region.starts_with("cn-") => "aws-cn",
        _ => "aws",
    };
    let role_arn = format!("arn:{partition}:iam::{account_id}:role/{}", options.role_name);
    let mut builder =
        AssumeRoleProvider::builder(role_arn).session_name(&options.session_name).configure(config);
    if let Some(external_id) = &options.external_id {
        builder = builder.external_id(external_id);
    }
    let provider = builder.build().await;
    // An identity cache of its own: the SDK's shared one keeps 64 providers' credentials, so
    // with more accounts than that crawled at once they evicted each other and every call
    // assumed the role again (measured: 20,245 AssumeRole calls for 999 accounts).
    config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .identity_cache(IdentityCache::lazy().build())
        .build()
}

/// Crawls `ids` concurrently, `account_concurrency` at a time (`None`: all). Accounts other than the
/// caller's are first checked with GetCallerIdentity (that is where a failed role
/// assumption shows); a failure there is the account's error row.
pub async fn scan_accounts<F, Fut>(
    caller: &str,
    ids: Vec<String>,
    connect: F,
    crawl: &CrawlOptions,
    progress: &dyn Progress,
    account_concurrency: Option<usize>,
) -> (Vec<Account>, Vec<ScanError>)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Connection>,
{
    let connect = &connect;
    let at_once = account_concurrency.unwrap_or(ids.len()).max(1);
    let results: Vec<(Option<Account>, Vec<ScanError>)> = stream::iter(ids)
        .map(|id| async move {
            let connection = connect(id.clone()).await;
            let assumed = id != caller;
            if assumed {
                match connection.account_id(true, crawl.deadline).await {
                    Ok(reached) if reached == id => {}
                    Ok(reached) => {
                        progress.account_done();
                        return (
                            None,
                            vec![account_error(
                                &id,
                                "MismatchedAccount",
                                format!("the role led to account {reached}"),
                            )],
                        );
                    }
                    Err(error) => {
                        progress.account_done();
                        return (
                            None,
                            vec![account_error(
                                &id,
                                &error.code,
                                format!("cannot reach the account: {}", error.message),
                            )],
                        );
                    }
                }
            }
            let (account, errors) =
                crawl_account(&connection.iam, &connection.limiter, id, crawl, progress).await;
            progress.account_done();
            (Some(account), errors)
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let mut accounts = Vec::new();
    let mut errors = Vec::new();
    for (account, account_errors) in results {
        accounts.extend(account);
        errors.extend(account_errors);
    }
    accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    (accounts, errors)
}

fn account_error(account_id: &str, code: &str, message: String) -> ScanError {
    ScanError {
        account_id: Some(account_id.to_string()),
        user_name: None,
        access_key_id: None,
        operation: "AssumeRole".into(),
        code: code.to_string(),
        message,
    }
}
