//! The SDK side: client setup, pagination, bounded concurrency, and turning every failed
//! call into a recorded [`ScanError`].
//!
//! Fail closed is the design rule here. A call that still fails after the SDK's retries is
//! never read as "no users" or "no keys": it becomes an error row naming the account, user
//! and operation, and the inventory is incomplete (exit 3). Retries are the SDK's own
//! (`RetryConfig` on the client); this module writes no retry loop.

mod client;
mod errors;
pub mod limiter;
mod org;
mod report_source;

pub use client::{connect, ConnectOptions, Connection, RetryMode, Shared, DEFAULT_TOTAL_IN_FLIGHT};
pub(crate) use errors::scan_error;
pub use limiter::Limiter;
pub use org::{scan_accounts, scan_many, AccountsOptions};
pub use report_source::{LastUsedSource, ReportHints};
use std::sync::Arc;

use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryError;
use aws_sdk_iam::types::{StatusType, SummaryKeyType, User as IamUser};
use aws_sdk_iam::Client as IamClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};

use crate::model::Root;
use crate::model::{AccessKey, Account, Inventory, KeyStatus, LastUsed, ScanError, User};

/// How hard to crawl.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// The most IAM calls in flight at once for one account.
    pub concurrency: usize,
    pub last_used_source: LastUsedSource,
}

/// Reports crawl progress (a progress bar, or nothing).
pub trait Progress: Send + Sync {
    /// Once per user finished.
    fn user_done(&self);
    /// Once, when the accounts to scan are known.
    fn accounts_total(&self, _accounts: usize) {}
    /// Once per account finished (crawled, or failed to be reached).
    fn account_done(&self) {}
}

impl Progress for () {
    fn user_done(&self) {}
}

/// Scans the account the connection's credentials belong to.
pub async fn scan(connection: &Connection, options: &CrawlOptions, progress: &dyn Progress) -> Inventory {
    scan_many(connection, &AccountsOptions::default(), options, progress).await
}

/// Lists every user of the account, each user's keys and each key's last use.
///
/// Users stream into key listing as ListUsers pages arrive; at most `concurrency` calls are
/// in flight (one semaphore for the account, held per call). The result is sorted by user
/// name so inventories are stable.
pub async fn crawl_account(
    iam: &IamClient,
    permits: &Arc<Limiter>,
    account_id: String,
    options: &CrawlOptions,
    progress: &dyn Progress,
) -> (Account, Vec<ScanError>) {
    let account = account_id.as_str();
    // The fast path is an optimisation: if the report cannot be had, every key falls back
    // to GetAccessKeyLastUsed and the account's report time stays empty (shown as "api").
    let hints = match options.last_used_source {
        LastUsedSource::Api => None,
        LastUsedSource::CredentialReport => report_source::fetch(iam, permits, account).await.ok(),
    };
    let hints = hints.as_ref();

    let pages = stream::unfold(Some(iam.list_users().into_paginator().page_size(1000).send()), {
        let permits = permits.clone();
        move |state| {
            let permits = permits.clone();
            async move {
                let mut pages = state?;
                let page = {
                    let _permit = permits.acquire().await?;
                    pages.next().await?
                };
                match page {
                    Ok(page) => Some((Ok(page.users), Some(pages))),
                    // The paginator cannot resume after a failed page: stop listing, record it.
                    Err(error) => Some((Err(error), None)),
                }
            }
        }
    });

    let mut errors = Vec::new();
    let mut users = Vec::new();
    {
        let outcomes = pages
            .flat_map(|page| match page {
                Ok(users) => stream::iter(users.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(error) => {
                    stream::iter(vec![Err(scan_error(Some(account), None, None, "ListUsers", &error))])
                }
            })
            .map(|item| {
                let permits = permits.clone();
                async move {
                    match item {
                        Ok(user) => crawl_user(iam, account, user, &permits, hints).await,
                        Err(error) => (None, vec![error]),
                    }
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
    }
    users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    let root = match root_keys(iam, permits).await {
        Ok(root) => Some(root),
        Err(error) => {
            errors.push(scan_error(Some(&account_id), None, None, "GetAccountSummary", &error));
            None
        }
    };
    let credential_report_generated_at = hints.map(|hints| hints.generated_at);
    (Account { account_id, users, root, credential_report_generated_at }, errors)
}

/// Whether the root user has access keys (GetAccountSummary's AccountAccessKeysPresent).
async fn root_keys(
    iam: &IamClient,
    permits: &Limiter,
) -> Result<Root, aws_sdk_iam::error::SdkError<GetAccountSummaryError, HttpResponse>> {
    let summary = {
        let _permit = permits.acquire().await;
        iam.get_account_summary().send().await?
    };
    let present = summary
        .summary_map()
        .and_then(|map| map.get(&SummaryKeyType::AccountAccessKeysPresent))
        .is_some_and(|&count| count > 0);
    Ok(Root { access_keys_present: present, keys: Vec::new() })
}

async fn crawl_user(
    iam: &IamClient,
    account: &str,
    user: IamUser,
    permits: &Limiter,
    hints: Option<&ReportHints>,
) -> (Option<User>, Vec<ScanError>) {
    let (keys, errors) = user_keys(iam, account, user.user_name(), permits, hints).await;
    let user = User {
        path: user.path().to_string(),
        arn: user.arn().to_string(),
        created: to_chrono(user.create_date()),
        user_name: user.user_name().to_string(),
        keys,
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
    let mut errors = Vec::new();
    let listed = {
        let _permit = permits.acquire().await;
        iam.list_access_keys().user_name(user_name).into_paginator().items().send().try_collect().await
    };
    let metadata = match listed {
        Ok(metadata) => metadata,
        Err(error) => {
            errors.push(scan_error(Some(account), Some(user_name), None, "ListAccessKeys", &error));
            Vec::new()
        }
    };

    let mut listed_keys = Vec::new();
    for meta in &metadata {
        match KeyMetadata::from_sdk(meta) {
            Ok(key) => listed_keys.push(key),
            // Not plausible from IAM, but a key we cannot identify or date must not be
            // guessed at: record it, and the scan is incomplete.
            Err(missing) => errors.push(ScanError {
                account_id: Some(account.to_string()),
                user_name: Some(user_name.to_string()),
                access_key_id: meta.access_key_id().map(str::to_string),
                operation: "ListAccessKeys".into(),
                code: "MalformedResponse".into(),
                message: format!("access key metadata without {missing}"),
            }),
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
        let used = {
            let _permit = permits.acquire().await;
            iam.get_access_key_last_used().access_key_id(&key.access_key_id).send().await
        };
        let (last_used, error) = match used {
            Ok(output) => (last_used_from(output.access_key_last_used()), None),
            Err(error) => (
                LastUsed::Unknown,
                Some(scan_error(
                    Some(account),
                    Some(user_name),
                    Some(&key.access_key_id),
                    "GetAccessKeyLastUsed",
                    &error,
                )),
            ),
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
fn last_used_from(last_used: Option<&aws_sdk_iam::types::AccessKeyLastUsed>) -> LastUsed {
    let Some(last_used) = last_used else {
        return LastUsed::Never;
    };
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
