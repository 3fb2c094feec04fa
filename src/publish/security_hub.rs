//! `scan --publish security-hub`: the scan's findings imported into AWS Security Hub
//! (BatchImportFindings), and keyaudit's earlier findings that are gone archived, so Security
//! Hub shows what is open today.
//!
//! **One ASFF.** The objects are those of `--format asff` ([`asff::findings`]), converted to
//! the SDK's [`AwsSecurityFinding`] by [`to_sdk`]. The SDK's types have no serde support
//! (only behind the unstable `aws_sdk_unstable` cfg), so the conversion walks the JSON; it is
//! strict: a member it does not know is an error, never dropped, and a test converts every
//! demo finding, so a field added to the renderer cannot silently go missing here. The
//! alternative, building `AwsSecurityFinding` from the report directly, would be a second
//! ASFF renderer with its own idea of every field.
//!
//! **Each account through its own credentials.** With the default product
//! (`product/ACCOUNT/default`) Security Hub takes a finding only from the account in its
//! `AwsAccountId`. So findings are grouped by account and each group is imported with that
//! account's credentials (for a live scan the very configuration the crawl used,
//! assumed-role credentials cached; see `crawl::Sessions`). An account that cannot be reached,
//! or whose calls fail, is that account's failure (exit 3); the others still publish.
//!
//! **Batches and rate.** At most [`MAX_FINDINGS_PER_BATCH`] findings and [`MAX_BATCH_BYTES`]
//! per BatchImportFindings request, an account's requests sent one at a time behind a
//! [`Pacer`] of its own at Security Hub's quota (10 requests/s, burst 30; GetFindings 3/s,
//! burst 6). The quota is per account and region, so [`ACCOUNTS_AT_ONCE`] accounts publish
//! side by side, each within its own quota; one global bucket would make a 1,000-account
//! publish wait on a limit no account has. Throttling and server errors are retried by the
//! SDK's standard retry (its classifier knows `TooManyRequestsException`), configured once for
//! every client in `crawl::client`, in a retry partition per account.
//!
//! **Archiving** re-imports the finding as Security Hub holds it with `RecordState` ARCHIVED
//! and a newer `UpdatedAt` (what Prowler does too): BatchImportFindings lets the provider set
//! RecordState on AWS, and moto (the test server) implements it, while it does not implement
//! BatchUpdateFindings. Candidates come from the account's own GetFindings filtered by `Id`
//! prefix `keyaudit/`, RecordState ACTIVE, the account's `AwsAccountId` and its default
//! `ProductArn`; every one is checked again here (moto ignores filters; a filter is a request,
//! not a guarantee). Only in an account scanned completely: a finding missing from an
//! incomplete account may be missing because a call failed, and that is unknown, never fixed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use aws_sdk_securityhub::config::retry::RetryPartition;
use aws_sdk_securityhub::error::DisplayErrorContext;
use aws_sdk_securityhub::types::{
    AwsIamAccessKeyDetails, AwsIamAccessKeyStatus, AwsIamUserDetails, AwsSecurityFinding,
    AwsSecurityFindingFilters, Compliance, ComplianceStatus, FindingProviderFields, FindingProviderSeverity,
    Note, Partition, Recommendation, RecordState, Remediation, Resource, ResourceDetails, Severity,
    SeverityLabel, StringFilter, StringFilterComparison, Workflow, WorkflowStatus,
};
use aws_sdk_securityhub::Client;
use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::report::asff;

/// BatchImportFindings takes at most 100 findings per request...
pub const MAX_FINDINGS_PER_BATCH: usize = 100;
/// ... and at most 6 MB; less room for the request's own `{"Findings":[...]}` and commas,
/// which [`batches`] does not count.
pub const MAX_BATCH_BYTES: usize = 6_000_000 - 1_024;

/// Security Hub's quotas (API reference, "Quotas"): BatchImportFindings 10 requests a
/// second with bursts of 30; GetFindings 3 a second with bursts of 6.
pub const IMPORT_RATE: Rate = Rate { per_second: 10.0, burst: 30 };
pub const GET_FINDINGS_RATE: Rate = Rate { per_second: 3.0, burst: 6 };

/// Every keyaudit finding's `Id` starts so ([`asff::finding_id`]).
pub const ID_PREFIX: &str = "keyaudit/";

/// Requests a second and the burst a [`Pacer`] allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// A token bucket: `burst` requests at once, then `per_second`. Requests here are sent one
/// at a time, so a plain `&mut` bucket is enough.
#[derive(Debug)]
pub struct Pacer {
    rate: Rate,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    pub fn new(rate: Rate) -> Pacer {
        Pacer { rate, tokens: f64::from(rate.burst), at: Instant::now() }
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn wait(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + refill).min(f64::from(self.rate.burst));
        self.at = now;
        if self.tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / self.rate.per_second)).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// Consecutive ranges of findings, each one request: at most `MAX_FINDINGS_PER_BATCH`
/// findings and `MAX_BATCH_BYTES` (the sum of their sizes). A finding larger than the byte
/// limit on its own goes alone (Security Hub then rejects it, and says so).
pub fn batches(sizes: &[usize]) -> Vec<Range<usize>> {
    batches_within(sizes, MAX_FINDINGS_PER_BATCH, MAX_BATCH_BYTES)
}

fn batches_within(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, &size) in sizes.iter().enumerate() {
        let count = index - start;
        if count > 0 && (count == max_count || bytes + size > max_bytes) {
            ranges.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// A finding Security Hub did not take, or that was never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub id: String,
    /// `imported` or `archived`: what was not done.
    pub what: &'static str,
    pub reason: String,
}

/// What a publish did in one account.
#[derive(Debug, Default)]
pub struct AccountOutcome {
    pub account_id: String,
    /// Findings of this scan in the account, and how many Security Hub accepted.
    pub findings: usize,
    pub imported: usize,
    /// `None`: nothing was archived (the account was not scanned completely, or `error`).
    pub archived: Option<usize>,
    pub failed: Vec<Failed>,
    /// Why the account could not be reached, or its earlier findings not searched (then
    /// nothing was archived).
    pub error: Option<String>,
}

impl AccountOutcome {
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && self.error.is_none()
    }

    /// Findings of this scan in the account that are not in Security Hub now.
    pub fn not_imported(&self) -> usize {
        self.findings - self.imported
    }
}

/// What a publish did, account by account (in account order).
#[derive(Debug, Default)]
pub struct Outcome {
    pub region: String,
    pub accounts: Vec<AccountOutcome>,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.accounts.iter().all(AccountOutcome::is_ok)
    }

    /// Findings of this scan, and how many Security Hub accepted, in every account.
    pub fn totals(&self) -> (usize, usize) {
        self.accounts
            .iter()
            .fold((0, 0), |(findings, imported), a| (findings + a.findings, imported + a.imported))
    }

    /// The accounts where something failed.
    pub fn failed_accounts(&self) -> Vec<&str> {
        self.accounts.iter().filter(|a| !a.is_ok()).map(|a| a.account_id.as_str()).collect()
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let (findings, imported) = self.totals();
        let accounts = match self.accounts.len() {
            0 | 1 => String::new(),
            n => format!(" ({n} accounts, each through its own credentials)"),
        };
        let archived: usize = self.accounts.iter().filter_map(|a| a.archived).sum();
        let searched = self.accounts.iter().filter(|a| a.archived.is_some()).count();
        let skipped: Vec<&str> = self
            .accounts
            .iter()
            .filter(|a| a.archived.is_none() && a.error.is_none())
            .map(|a| a.account_id.as_str())
            .collect();
        let archived = if skipped.is_empty() && searched > 0 {
            format!("archived {archived} earlier finding(s) that are gone")
        } else if searched == 0 && !skipped.is_empty() {
            "archived nothing: the scan is incomplete, so a missing finding is unknown, not fixed".to_string()
        } else if searched == 0 {
            "archived nothing".to_string()
        } else {
            format!(
                "archived {archived} earlier finding(s) that are gone in {searched} account(s); none in {}: \
                 not scanned completely, so a missing finding there is unknown, not fixed",
                listed(&skipped, MAX_ACCOUNTS_LISTED)
            )
        };
        format!(
            "imported {imported} of {findings} finding(s) into Security Hub in {}{accounts}; {archived}",
            self.region
        )
    }

    /// One line per failure, at most `max`, then one saying how many more: each account that
    /// could not be reached or searched, then each finding not imported or archived.
    pub fn failure_lines(&self, max: usize) -> Vec<String> {
        let mut lines: Vec<String> = self
            .accounts
            .iter()
            .filter_map(|a| a.error.as_ref().map(|error| format!("account {}: {error}", a.account_id)))
            .collect();
        lines.extend(
            self.accounts
                .iter()
                .flat_map(|a| &a.failed)
                .map(|f| format!("finding {} not {}: {}", f.id, f.what, f.reason)),
        );
        if lines.len() > max {
            let more = lines.len() - max;
            lines.truncate(max);
            lines.push(format!("... and {more} more failure(s)"));
        }
        lines
    }
}

/// Accounts named in one line at most; the rest are counted.
const MAX_ACCOUNTS_LISTED: usize = 10;

/// `ids` joined, the first `max` of them, then how many more.
pub fn listed(ids: &[&str], max: usize) -> String {
    let mut text = ids.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > max {
        text.push_str(&format!(" and {} more", ids.len() - max));
    }
    text
}

/// A Security Hub client for one account, from the configuration its findings were read
/// with (its own credentials; region, endpoint, `AWS_ENDPOINT_URL_SECURITYHUB`, retries,
/// timeouts and the shared HTTP client as every other client of the scan). Its retry state
/// is the account's own: Security Hub's quota is per account, so one account's throttling
/// must not spend the others' retries.
pub fn client(config: &aws_config::SdkConfig, account_id: &str) -> Client {
    let partition = RetryPartition::custom(format!("keyaudit-securityhub-{account_id}")).build();
    Client::from_conf(aws_sdk_securityhub::config::Builder::from(config).retry_partition(partition).build())
}

/// Accounts published at once. Each is paced at its own quota (the quota is per account and
/// region); this bounds the connections and, for accounts reached through a role whose
/// credentials must be fetched, the AssumeRole calls in flight (as the crawl's STS limit).
pub const ACCOUNTS_AT_ONCE: usize = 16;

/// Imports `findings` (ASFF objects of [`asff::findings`], all for `region`) account by
/// account, each through the client `reach` gives for it (the account's own credentials, see
/// [`client`]; or why there is none), then archives the earlier keyaudit findings that are
/// gone in each account `scope` says was scanned completely (`true`). An account of `scope`
/// with nothing to do (no findings, not complete) is only reported; `reach` is asked only for
/// accounts with something to do.
pub async fn publish<R, F>(
    region: &str,
    findings: &[Value],
    scope: &BTreeMap<String, bool>,
    reach: R,
) -> Outcome
where
    R: Fn(String) -> F,
    F: Future<Output = Result<Client, String>>,
{
    // Account -> its findings' indices (owned items: a stream of borrowed ones would not be
    // `Send` for the compiler's higher-ranked lifetime check).
    let mut by_account: BTreeMap<String, Vec<usize>> =
        scope.keys().map(|account| (account.clone(), Vec::new())).collect();
    for (index, finding) in findings.iter().enumerate() {
        let account = finding["AwsAccountId"].as_str().unwrap_or_default();
        by_account.entry(account.to_string()).or_default().push(index);
    }
    let reach = &reach;
    let mut accounts: Vec<AccountOutcome> = stream::iter(by_account)
        .map(|(account, indices)| {
            let archive = scope.get(&account).copied().unwrap_or(false);
            // Boxed: the SDK's finding types make this future large.
            Box::pin(async move {
                let findings: Vec<&Value> = indices.into_iter().map(|index| &findings[index]).collect();
                let mut outcome = AccountOutcome {
                    account_id: account.clone(),
                    findings: findings.len(),
                    ..AccountOutcome::default()
                };
                if findings.is_empty() && !archive {
                    return outcome;
                }
                match reach(account).await {
                    Ok(client) => publish_account(&client, region, findings, archive, outcome).await,
                    Err(why) => {
                        outcome.error = Some(format!(
                            "{} finding(s) not published, nothing archived: {why}",
                            outcome.findings
                        ));
                        outcome
                    }
                }
            })
        })
        .buffer_unordered(ACCOUNTS_AT_ONCE)
        .collect()
        .await;
    accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    Outcome { region: region.to_string(), accounts }
}

/// One account: its findings imported, then (if `archive`) its gone ones archived, all paced
/// at the account's own quota.
async fn publish_account(
    client: &Client,
    region: &str,
    findings: Vec<&Value>,
    archive: bool,
    mut outcome: AccountOutcome,
) -> AccountOutcome {
    let mut pacer = Pacer::new(IMPORT_RATE);
    let mut current = HashSet::new();
    let mut ready = Vec::new();
    for value in findings {
        let id = value["Id"].as_str().unwrap_or_default().to_string();
        match to_sdk(value) {
            Ok(finding) => {
                let size = serde_json::to_vec(value).map_or(MAX_BATCH_BYTES, |json| json.len());
                ready.push((finding, size));
            }
            Err(reason) => outcome.failed.push(Failed { id: id.clone(), what: "imported", reason }),
        }
        current.insert(id);
    }
    outcome.imported = import(client, &mut pacer, ready, "imported", &mut outcome.failed).await;

    if !archive {
        return outcome;
    }
    let gone = match earlier_findings(client, region, &outcome.account_id, &current).await {
        Ok(gone) => gone,
        Err(error) => {
            outcome.error = Some(format!("could not list earlier findings to archive: {error}"));
            return outcome;
        }
    };
    // Newer than the UpdatedAt keyaudit gave it (to the second), as an update requires.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let archived = gone
        .into_iter()
        .map(|mut finding| {
            finding.record_state = Some(RecordState::Archived);
            finding.updated_at = Some(now.clone());
            // The SDK's types do not serialize; their Debug text is longer than their JSON
            // (every unset member shows as `None`), so it bounds the request size from above.
            let size = format!("{finding:?}").len();
            (finding, size)
        })
        .collect();
    outcome.archived = Some(import(client, &mut pacer, archived, "archived", &mut outcome.failed).await);
    outcome
}

/// Sends `findings` in [`batches`]; returns how many Security Hub accepted and adds every
/// one it did not (`FailedFindings`, or a whole request that failed after retries) to
/// `failed`.
async fn import(
    client: &Client,
    pacer: &mut Pacer,
    findings: Vec<(AwsSecurityFinding, usize)>,
    what: &'static str,
    failed: &mut Vec<Failed>,
) -> usize {
    let sizes: Vec<usize> = findings.iter().map(|(_, size)| *size).collect();
    let mut findings = findings.into_iter().map(|(finding, _)| finding);
    let mut accepted = 0;
    for range in batches(&sizes) {
        let batch: Vec<AwsSecurityFinding> = findings.by_ref().take(range.len()).collect();
        let ids: Vec<String> = batch.iter().map(|f| f.id.clone().unwrap_or_default()).collect();
        pacer.wait().await;
        match client.batch_import_findings().set_findings(Some(batch)).send().await {
            Ok(answer) => {
                accepted += usize::try_from(answer.success_count().unwrap_or(0)).unwrap_or(0);
                failed.extend(answer.failed_findings().iter().map(|error| Failed {
                    id: error.id().unwrap_or("(no id)").to_string(),
                    what,
                    reason: format!(
                        "{}: {}",
                        error.error_code().unwrap_or("(no code)"),
                        error.error_message().unwrap_or("(no message)")
                    ),
                }));
            }
            Err(error) => {
                let reason = format!("BatchImportFindings failed: {}", DisplayErrorContext(&error));
                failed.extend(ids.into_iter().map(|id| Failed { id, what, reason: reason.clone() }));
            }
        }
    }
    accepted
}

/// keyaudit's active findings of `account` in its Security Hub that are not in `current`:
/// the ones to archive.
async fn earlier_findings(
    client: &Client,
    region: &str,
    account: &str,
    current: &HashSet<String>,
) -> Result<Vec<AwsSecurityFinding>, String> {
    let equals =
        |value: &str| StringFilter::builder().comparison(StringFilterComparison::Equals).value(value).build();
    let product_arn = asff::product_arn(region, account);
    let filters = AwsSecurityFindingFilters::builder()
        .id(StringFilter::builder().comparison(StringFilterComparison::Prefix).value(ID_PREFIX).build())
        .record_state(equals(RecordState::Active.as_str()))
        .aws_account_id(equals(account))
        .product_arn(equals(&product_arn))
        .build();
    let mut pacer = Pacer::new(GET_FINDINGS_RATE);
    let mut gone = Vec::new();
    let mut pages = client.get_findings().filters(filters).max_results(100).into_paginator().send();
    loop {
        pacer.wait().await;
        let Some(page) = pages.next().await else { break };
        let page = page.map_err(|error| format!("GetFindings: {}", DisplayErrorContext(&error)))?;
        for finding in page.findings() {
            let ours =
                finding.id.as_deref().is_some_and(|id| id.starts_with(ID_PREFIX) && !current.contains(id));
            let active = finding.record_state.as_ref().is_none_or(|state| *state == RecordState::Active);
            // This account's, by both its id and its product (the product ARN names the account).
            let in_scope = finding.aws_account_id.as_deref() == Some(account)
                && finding.product_arn.as_deref() == Some(product_arn.as_str());
            if ours && active && in_scope {
                gone.push(finding.clone());
            }
        }
    }
    Ok(gone)
}

/// One ASFF object as the SDK's type. Strict: every member must be one this knows (see the
/// module doc), with the JSON type and enum value the API takes.
pub fn to_sdk(value: &Value) -> Result<AwsSecurityFinding, String> {
    let mut f = Fields::of(value, "finding")?;
    let finding = AwsSecurityFinding::builder()
        .set_schema_version(f.string("SchemaVersion")?)
        .set_id(f.string("Id")?)
        .set_product_arn(f.string("ProductArn")?)
        .set_product_name(f.string("ProductName")?)
        .set_company_name(f.string("CompanyName")?)
        .set_generator_id(f.string("GeneratorId")?)
        .set_aws_account_id(f.string("AwsAccountId")?)
        .set_region(f.string("Region")?)
        .set_types(f.strings("Types")?)
        .set_created_at(f.string("CreatedAt")?)
        .set_updated_at(f.string("UpdatedAt")?)
        .set_last_observed_at(f.string("LastObservedAt")?)
        .set_severity(f.object("Severity")?.map(severity).transpose()?)
        .set_finding_provider_fields(f.object("FindingProviderFields")?.map(provider_fields).transpose()?)
        .set_title(f.string("Title")?)
        .set_description(f.string("Description")?)
        .set_remediation(f.object("Remediation")?.map(remediation).transpose()?)
        .set_product_fields(f.string_map("ProductFields")?)
        .set_resources(
            f.objects("Resources")?.map(|list| list.into_iter().map(resource).collect()).transpose()?,
        )
        .set_compliance(f.object("Compliance")?.map(compliance).transpose()?)
        .set_workflow(f.object("Workflow")?.map(workflow).transpose()?)
        .set_record_state(f.known("RecordState", RecordState::values())?)
        .set_note(f.object("Note")?.map(note).transpose()?)
        .build();
    f.done()?;
    Ok(finding)
}

fn severity(mut f: Fields) -> Result<Severity, String> {
    let severity = Severity::builder()
        .set_label(f.known("Label", SeverityLabel::values())?)
        .set_original(f.string("Original")?)
        .build();
    f.done().map(|()| severity)
}

fn provider_fields(mut f: Fields) -> Result<FindingProviderFields, String> {
    let severity = match f.object("Severity")? {
        Some(mut s) => {
            let severity = FindingProviderSeverity::builder()
                .set_label(s.known("Label", SeverityLabel::values())?)
                .set_original(s.string("Original")?)
                .build();
            s.done()?;
            Some(severity)
        }
        None => None,
    };
    let fields =
        FindingProviderFields::builder().set_severity(severity).set_types(f.strings("Types")?).build();
    f.done().map(|()| fields)
}

fn remediation(mut f: Fields) -> Result<Remediation, String> {
    let recommendation = match f.object("Recommendation")? {
        Some(mut r) => {
            let recommendation =
                Recommendation::builder().set_text(r.string("Text")?).set_url(r.string("Url")?).build();
            r.done()?;
            Some(recommendation)
        }
        None => None,
    };
    f.done().map(|()| Remediation::builder().set_recommendation(recommendation).build())
}

fn resource(mut f: Fields) -> Result<Resource, String> {
    let details = match f.object("Details")? {
        Some(mut d) => {
            let user = match d.object("AwsIamUser")? {
                Some(mut u) => {
                    let user = AwsIamUserDetails::builder().set_user_name(u.string("UserName")?).build();
                    u.done()?;
                    Some(user)
                }
                None => None,
            };
            let key = match d.object("AwsIamAccessKey")? {
                Some(mut k) => {
                    let key = AwsIamAccessKeyDetails::builder()
                        .set_access_key_id(k.string("AccessKeyId")?)
                        .set_principal_name(k.string("PrincipalName")?)
                        .set_principal_type(k.string("PrincipalType")?)
                        .set_account_id(k.string("AccountId")?)
                        .set_status(k.known("Status", AwsIamAccessKeyStatus::values())?)
                        .set_created_at(k.string("CreatedAt")?)
                        .build();
                    k.done()?;
                    Some(key)
                }
                None => None,
            };
            d.done()?;
            Some(ResourceDetails::builder().set_aws_iam_user(user).set_aws_iam_access_key(key).build())
        }
        None => None,
    };
    let resource = Resource::builder()
        .set_type(f.string("Type")?)
        .set_id(f.string("Id")?)
        .set_partition(f.known("Partition", Partition::values())?)
        .set_region(f.string("Region")?)
        .set_details(details)
        .build();
    f.done().map(|()| resource)
}

fn compliance(mut f: Fields) -> Result<Compliance, String> {
    let compliance = Compliance::builder()
        .set_status(f.known("Status", ComplianceStatus::values())?)
        .set_related_requirements(f.strings("RelatedRequirements")?)
        .build();
    f.done().map(|()| compliance)
}

fn workflow(mut f: Fields) -> Result<Workflow, String> {
    let workflow = Workflow::builder().set_status(f.known("Status", WorkflowStatus::values())?).build();
    f.done().map(|()| workflow)
}

fn note(mut f: Fields) -> Result<Note, String> {
    let note = Note::builder()
        .set_text(f.string("Text")?)
        .set_updated_by(f.string("UpdatedBy")?)
        .set_updated_at(f.string("UpdatedAt")?)
        .build();
    f.done().map(|()| note)
}

/// A JSON object's members, taken one by one; [`Fields::done`] fails on any left over.
struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    fn of(value: &Value, path: &str) -> Result<Fields, String> {
        match value {
            Value::Object(map) => Ok(Fields { path: path.to_string(), map: map.clone() }),
            other => Err(format!("{path}: expected an object, got {other}")),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|value| !value.is_null())
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(format!("{}: expected a string, got {other}", self.path(key))),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, String> {
        let Some(value) = self.take(key) else { return Ok(None) };
        let path = self.path(key);
        let list = value.as_array().ok_or_else(|| format!("{path}: expected an array, got {value}"))?;
        list.iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| format!("{path}: not a string: {item}"))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn string_map(&mut self, key: &str) -> Result<Option<HashMap<String, String>>, String> {
        let Some(value) = self.take(key) else { return Ok(None) };
        let path = self.path(key);
        let map = value.as_object().ok_or_else(|| format!("{path}: expected an object, got {value}"))?;
        map.iter()
            .map(|(name, item)| match item.as_str() {
                Some(text) => Ok((name.clone(), text.to_string())),
                None => Err(format!("{path}.{name}: expected a string, got {item}")),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn object(&mut self, key: &str) -> Result<Option<Fields>, String> {
        let path = self.path(key);
        self.take(key).map(|value| Fields::of(&value, &path)).transpose()
    }

    fn objects(&mut self, key: &str) -> Result<Option<Vec<Fields>>, String> {
        let Some(value) = self.take(key) else { return Ok(None) };
        let path = self.path(key);
        let list = value.as_array().ok_or_else(|| format!("{path}: expected an array, got {value}"))?;
        list.iter()
            .enumerate()
            .map(|(i, item)| Fields::of(item, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A string that must be one of the API's enum `values` (the SDK would otherwise accept
    /// any text as an unknown variant).
    fn known<T: for<'a> From<&'a str>>(&mut self, key: &str, values: &[&str]) -> Result<Option<T>, String> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) if values.contains(&text.as_str()) => Ok(Some(T::from(text.as_str()))),
            Some(text) => Err(format!("{}: `{text}` is not one of {}", self.path(key), values.join(", "))),
        }
    }

    fn done(self) -> Result<(), String> {
        if self.map.is_empty() {
            return Ok(());
        }
        let left: Vec<&str> = self.map.keys().map(String::as_str).collect();
        Err(format!("{}: not converted for Security Hub: {}", self.path, left.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::demo_report;

    #[test]
    fn batches_hold_at_most_100_findings_and_6_mb() {
        let ranges = |sizes: &[usize]| batches(sizes);
        assert_eq!(ranges(&[]), Vec::<Range<usize>>::new());
        assert_eq!(ranges(&[1_000; 100]), vec![0..100]);
        assert_eq!(ranges(&[1_000; 101]), vec![0..100, 100..101]);
        assert_eq!(ranges(&[1_000; 250]), vec![0..100, 100..200, 200..250]);
        // By size: 6 findings of 1 MB fill a request (with room for its own JSON), a 7th not.
        let mb = 1_000_000 - 200;
        assert_eq!(ranges(&[mb; 7]), vec![0..6, 6..7]);
        // Exactly at the limit fits; one byte more starts a new request.
        assert_eq!(ranges(&[MAX_BATCH_BYTES - 10, 10, 1]), vec![0..2, 2..3]);
        assert_eq!(ranges(&[MAX_BATCH_BYTES - 10, 11]), vec![0..1, 1..2]);
        // Too large on its own: alone, never with others and never dropped.
        assert_eq!(ranges(&[10, MAX_BATCH_BYTES + 1, 10]), vec![0..1, 1..2, 2..3]);
        // Every finding in exactly one batch, in order, within both limits.
        let sizes: Vec<usize> = (0..1_234).map(|i| (i * 7_919) % 300_000 + 1).collect();
        let all = ranges(&sizes);
        assert_eq!(all.first().unwrap().start, 0);
        assert_eq!(all.last().unwrap().end, sizes.len());
        for pair in all.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for range in &all {
            assert!(range.len() <= MAX_FINDINGS_PER_BATCH);
            assert!(sizes[range.clone()].iter().sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_allows_a_burst_of_30_then_10_a_second() {
        let mut pacer = Pacer::new(IMPORT_RATE);
        let start = Instant::now();
        for _ in 0..30 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is not delayed");
        for _ in 0..20 {
            pacer.wait().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.99..2.1).contains(&elapsed), "20 more at 10/s take 2 s, took {elapsed}");
        // Idle time refills the bucket, up to the burst.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = Instant::now();
        for _ in 0..30 {
            pacer.wait().await;
        }
        assert_eq!(idle.elapsed(), Duration::ZERO);
    }

    #[test]
    fn every_asff_member_converts_to_the_sdks_finding() {
        let report = demo_report(|report| {
            let row = &mut report.findings[0];
            row.suppressed = true;
            row.suppression_reason = Some("SEC-1 accepted".into());
        });
        let objects = asff::findings(&report);
        assert!(objects.iter().any(|f| f["Note"].is_object()), "a suppressed finding's Note is covered");
        assert!(objects.iter().any(|f| f["Resources"][0]["Type"] == "AwsAccount"));
        for object in &objects {
            let finding = to_sdk(object).unwrap_or_else(|e| panic!("{e}: {object}"));
            assert_eq!(finding.id.as_deref(), object["Id"].as_str());
            assert_eq!(finding.product_arn.as_deref(), object["ProductArn"].as_str());
            assert_eq!(finding.record_state, Some(RecordState::Active));
            assert_eq!(
                finding.severity.as_ref().and_then(|s| s.label.as_ref()).map(|l| l.as_str()),
                object["Severity"]["Label"].as_str()
            );
            let resources = finding.resources.as_deref().unwrap_or_default();
            assert_eq!(resources.len(), object["Resources"].as_array().unwrap().len());
            for (resource, json) in resources.iter().zip(object["Resources"].as_array().unwrap()) {
                assert_eq!(resource.id.as_deref(), json["Id"].as_str());
                if let Some(key) = json["Details"]["AwsIamAccessKey"].as_object() {
                    let details =
                        resource.details.as_ref().and_then(|d| d.aws_iam_access_key.as_ref()).unwrap();
                    assert_eq!(details.access_key_id.as_deref(), key["AccessKeyId"].as_str());
                }
            }
            assert_eq!(
                finding
                    .compliance
                    .as_ref()
                    .and_then(|c| c.related_requirements.clone())
                    .unwrap_or_default()
                    .len(),
                object["Compliance"]["RelatedRequirements"].as_array().unwrap().len()
            );
        }
        let suppressed = to_sdk(&objects[0]).unwrap();
        assert_eq!(suppressed.workflow.and_then(|w| w.status), Some(WorkflowStatus::Suppressed));
        assert!(suppressed.note.and_then(|n| n.text).unwrap().contains("SEC-1 accepted"));
    }

    #[test]
    fn a_member_the_conversion_does_not_know_is_an_error_not_dropped() {
        let report = demo_report(|_| {});
        let mut object = asff::findings(&report).remove(0);
        object["Resources"][0]["Details"]["AwsIamAccessKey"]["SessionContext"] = serde_json::json!({});
        let error = to_sdk(&object).unwrap_err();
        assert!(error.contains("finding.Resources[0].Details.AwsIamAccessKey: not converted"), "{error}");
        assert!(error.contains("SessionContext"), "{error}");
        let mut object = asff::findings(&report).remove(0);
        object["Workflow"]["Status"] = "OPEN".into();
        assert!(to_sdk(&object).unwrap_err().contains("is not one of"));
    }

    /// `n` findings like the demo's first, each with its own Id, for account 111122223333.
    fn many(n: usize) -> Vec<Value> {
        many_in("111122223333", n)
    }

    /// `n` findings like the demo's first, each with its own Id, for `account`.
    fn many_in(account: &str, n: usize) -> Vec<Value> {
        let report = demo_report(|_| {});
        let template = asff::findings(&report).remove(0);
        (0..n)
            .map(|i| {
                let mut f = template.clone();
                f["Id"] = format!("keyaudit/key-too-old:{account}:u{i}:AKIA{i}").into();
                f["AwsAccountId"] = account.into();
                f["ProductArn"] = asff::product_arn("us-east-1", account).into();
                f
            })
            .collect()
    }

    /// Publishes to `clients` (account -> client, and whether it was scanned completely); an
    /// account without a client cannot be reached.
    async fn publish_to(findings: &[Value], clients: Vec<(&str, Option<Client>, bool)>) -> Outcome {
        let scope: BTreeMap<String, bool> =
            clients.iter().map(|(account, _, complete)| (account.to_string(), *complete)).collect();
        let clients: HashMap<String, Client> = clients
            .into_iter()
            .filter_map(|(account, client, _)| client.map(|client| (account.to_string(), client)))
            .collect();
        let clients = &clients;
        publish("us-east-1", findings, &scope, |account| async move {
            clients.get(&account).cloned().ok_or_else(|| "no credentials for it".to_string())
        })
        .await
    }

    /// Security Hub's error document (restJson1) with a status.
    fn hub_error(status: u16, code: &str) -> aws_smithy_runtime_api::http::Response {
        let body = format!("{{\"__type\":\"{code}\",\"Message\":\"{code} from the mock\"}}");
        let mut response = aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        response.headers_mut().insert("x-amzn-errortype", code.to_string());
        response
    }

    fn mocked(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        use aws_config::retry::RetryConfig;
        aws_smithy_mocks::mock_client!(
            aws_sdk_securityhub,
            aws_smithy_mocks::RuleMode::MatchAny,
            rules,
            |config| config.retry_config(
                RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
            )
        )
    }

    #[tokio::test]
    async fn failed_findings_are_reported_one_by_one_and_batches_split() {
        use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
        use aws_sdk_securityhub::types::ImportFindingsError;
        use aws_smithy_mocks::mock;
        use std::sync::{Arc, Mutex};
        let sent: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = sent.clone();
        // Rejects one finding by id.
        let import = mock!(Client::batch_import_findings).then_compute_output(move |input| {
            let findings = input.findings();
            seen.lock().unwrap().push(findings.len());
            let rejected: Vec<ImportFindingsError> = findings
                .iter()
                .filter(|f| f.id.as_deref() == Some("keyaudit/key-too-old:111122223333:u7:AKIA7"))
                .map(|f| {
                    ImportFindingsError::builder()
                        .set_id(f.id.clone())
                        .error_code("InvalidInput")
                        .error_message("rejected by the mock")
                        .build()
                })
                .collect();
            BatchImportFindingsOutput::builder()
                .failed_count(rejected.len() as i32)
                .success_count((findings.len() - rejected.len()) as i32)
                .set_failed_findings(Some(rejected))
                .build()
        });
        let client = mocked(&[&import]);
        let outcome = publish_to(&many(250), vec![("111122223333", Some(client), false)]).await;
        assert_eq!(*sent.lock().unwrap(), vec![100, 100, 50], "{:?}", outcome.failure_lines(2));
        assert_eq!(import.num_calls(), 3, "three batches");
        assert_eq!(outcome.totals(), (250, 249));
        let account = &outcome.accounts[0];
        assert_eq!(account.archived, None, "not to be archived: nothing looked for");
        assert_eq!(
            account.failed,
            vec![Failed {
                id: "keyaudit/key-too-old:111122223333:u7:AKIA7".into(),
                what: "imported",
                reason: "InvalidInput: rejected by the mock".into()
            }]
        );
        assert!(!outcome.is_ok());
    }

    #[tokio::test]
    async fn a_throttled_import_is_retried_by_the_sdk() {
        use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
        let import = aws_smithy_mocks::mock!(Client::batch_import_findings)
            .sequence()
            .http_response(|| hub_error(429, "TooManyRequestsException"))
            .times(2)
            .output(|| BatchImportFindingsOutput::builder().failed_count(0).success_count(3).build())
            .build();
        let outcome = publish_to(&many(3), vec![("111122223333", Some(mocked(&[&import])), false)]).await;
        assert!(outcome.is_ok(), "{:?}", outcome.failure_lines(3));
        assert_eq!(outcome.totals(), (3, 3));
        assert_eq!(import.num_calls(), 3, "two throttled attempts, then the answer");
    }

    #[tokio::test]
    async fn only_keyaudits_active_findings_of_the_scope_that_are_gone_are_archived() {
        use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
        use aws_sdk_securityhub::operation::get_findings::GetFindingsOutput;
        use aws_smithy_mocks::mock;
        use std::sync::{Arc, Mutex};
        let current = many(2);
        let stored = |id: &str, account: &str, state: RecordState| {
            let mut f = to_sdk(&current[0]).unwrap();
            f.id = Some(id.to_string());
            f.aws_account_id = Some(account.to_string());
            f.product_arn = Some(asff::product_arn("us-east-1", account));
            f.record_state = Some(state);
            f
        };
        let in_scope = "111122223333";
        let answer = vec![
            stored("keyaudit/gone:111122223333:x:AKIAGONE", in_scope, RecordState::Active),
            stored(current[1]["Id"].as_str().unwrap(), in_scope, RecordState::Active),
            stored("keyaudit/gone:999999999999:x:AKIAOTHER", "999999999999", RecordState::Active),
            stored("keyaudit/old:111122223333:x:AKIAOLD", in_scope, RecordState::Archived),
            stored("prowler/something", in_scope, RecordState::Active),
        ];
        let get = mock!(Client::get_findings)
            .then_output(move || GetFindingsOutput::builder().set_findings(Some(answer.clone())).build());
        let imported: Arc<Mutex<Vec<AwsSecurityFinding>>> = Arc::default();
        let log = imported.clone();
        let import = mock!(Client::batch_import_findings).then_compute_output(move |input| {
            log.lock().unwrap().extend(input.findings().iter().cloned());
            BatchImportFindingsOutput::builder()
                .failed_count(0)
                .success_count(input.findings().len() as i32)
                .build()
        });
        let client = mocked(&[&get, &import]);
        let outcome = publish_to(&current, vec![(in_scope, Some(client), true)]).await;
        assert!(outcome.is_ok(), "{:?}", outcome.failure_lines(5));
        assert_eq!((outcome.accounts[0].imported, outcome.accounts[0].archived), (2, Some(1)));
        let imported = imported.lock().unwrap();
        let archived: Vec<&AwsSecurityFinding> =
            imported.iter().filter(|f| f.record_state == Some(RecordState::Archived)).collect();
        assert_eq!(archived.len(), 1);
        assert_eq!(archived[0].id.as_deref(), Some("keyaudit/gone:111122223333:x:AKIAGONE"));
        assert!(archived[0].updated_at.as_deref().unwrap() > current[0]["UpdatedAt"].as_str().unwrap());
    }

    #[test]
    fn failure_lines_are_capped_with_a_count() {
        let outcome = Outcome {
            accounts: vec![AccountOutcome {
                account_id: "111122223333".into(),
                failed: (0..25)
                    .map(|i| Failed {
                        id: format!("keyaudit/{i}"),
                        what: "imported",
                        reason: "InvalidInput: no".into(),
                    })
                    .collect(),
                ..AccountOutcome::default()
            }],
            ..Outcome::default()
        };
        let lines = outcome.failure_lines(20);
        assert_eq!(lines.len(), 21);
        assert_eq!(lines[0], "finding keyaudit/0 not imported: InvalidInput: no");
        assert_eq!(lines[20], "... and 5 more failure(s)");
        assert!(!outcome.is_ok());
        assert_eq!(outcome.failed_accounts(), ["111122223333"]);
    }

    /// A client that imports every finding it is given and records them, answers GetFindings
    /// with `stored`, or, `denied`, answers every call with AccessDenied.
    fn account_client(
        stored: Vec<AwsSecurityFinding>,
        denied: bool,
    ) -> (Client, std::sync::Arc<std::sync::Mutex<Vec<AwsSecurityFinding>>>) {
        use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
        use aws_sdk_securityhub::operation::get_findings::GetFindingsOutput;
        use aws_smithy_mocks::mock;
        let imported: std::sync::Arc<std::sync::Mutex<Vec<AwsSecurityFinding>>> = Default::default();
        let log = imported.clone();
        let (import, get) = if denied {
            (
                mock!(Client::batch_import_findings)
                    .then_http_response(|| hub_error(403, "AccessDeniedException")),
                mock!(Client::get_findings).then_http_response(|| hub_error(403, "AccessDeniedException")),
            )
        } else {
            (
                mock!(Client::batch_import_findings).then_compute_output(move |input| {
                    log.lock().unwrap().extend(input.findings().iter().cloned());
                    BatchImportFindingsOutput::builder()
                        .failed_count(0)
                        .success_count(input.findings().len() as i32)
                        .build()
                }),
                mock!(Client::get_findings).then_output(move || {
                    GetFindingsOutput::builder().set_findings(Some(stored.clone())).build()
                }),
            )
        };
        (mocked(&[&import, &get]), imported)
    }

    #[tokio::test]
    async fn each_accounts_findings_go_through_its_own_client_and_one_failing_account_spares_the_others() {
        let (a, b, c, d) = ("111111111111", "222222222222", "333333333333", "444444444444");
        let mut findings = many_in(a, 3);
        findings.extend(many_in(b, 2));
        findings.extend(many_in(c, 4));
        findings.extend(many_in(d, 1));
        // a: complete, with one earlier finding gone; b: denied Security Hub; c: not scanned
        // completely; d: no credentials.
        let mut gone = to_sdk(&many_in(a, 10)[9]).unwrap();
        gone.record_state = Some(RecordState::Active);
        let (client_a, imported_a) = account_client(vec![gone], false);
        let (client_b, _) = account_client(vec![], true);
        let (client_c, imported_c) = account_client(vec![], false);
        // e: in scope, not complete, no findings: reported, never reached.
        let e = "555555555555";
        let clients = vec![
            (a, Some(client_a), true),
            (b, Some(client_b), true),
            (c, Some(client_c), false),
            (d, None, true),
            (e, None, false),
        ];
        let outcome = publish_to(&findings, clients).await;

        let accounts: Vec<&str> = outcome.accounts.iter().map(|o| o.account_id.as_str()).collect();
        assert_eq!(accounts, [a, b, c, d, e]);
        let imported_a = imported_a.lock().unwrap();
        assert!(
            imported_a.iter().all(|f| f.aws_account_id.as_deref() == Some(a)),
            "only a's through a's client"
        );
        assert_eq!(imported_a.len(), 4, "its 3 findings, then the gone one archived");
        assert_eq!(imported_a[3].record_state, Some(RecordState::Archived));
        let imported_c = imported_c.lock().unwrap();
        assert_eq!(imported_c.len(), 4, "c's findings imported, nothing archived");
        assert!(imported_c.iter().all(|f| f.aws_account_id.as_deref() == Some(c)));

        let by = |id: &str| outcome.accounts.iter().find(|o| o.account_id == id).unwrap();
        assert!(by(a).is_ok() && by(c).is_ok());
        assert_eq!((by(a).imported, by(a).archived), (3, Some(1)));
        assert_eq!((by(c).imported, by(c).archived), (4, None));
        assert_eq!((by(b).imported, by(b).failed.len()), (0, 2));
        assert!(by(b).error.as_deref().unwrap().contains("AccessDeniedException"), "{:?}", by(b).error);
        assert_eq!((by(d).imported, by(d).not_imported()), (0, 1));
        assert_eq!(outcome.totals(), (10, 7));
        assert_eq!(outcome.failed_accounts(), [b, d]);
        let lines = outcome.failure_lines(20);
        assert!(lines[0].starts_with("account 222222222222: could not list earlier findings"), "{lines:?}");
        assert_eq!(
            lines[1],
            "account 444444444444: 1 finding(s) not published, nothing archived: no credentials for it"
        );
        assert!(
            lines[2..].iter().all(|l| l.contains(":222222222222:") && l.contains("not imported")),
            "{lines:?}"
        );
        let summary = outcome.summary();
        assert!(
            summary.starts_with("imported 7 of 10 finding(s) into Security Hub in us-east-1 (5 accounts"),
            "{summary}"
        );
        assert!(
            summary.contains("archived 1 earlier finding(s) that are gone in 1 account(s); none in 333333333333, 555555555555: not scanned"),
            "{summary}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_account_is_paced_at_its_own_quota() {
        // 31 requests in each of two accounts: within each one's burst of 30 and one more at
        // 10/s (0.1 s). One bucket for both would make the 62 requests take 3.2 s.
        let mut findings = many_in("111111111111", 3_100);
        findings.extend(many_in("222222222222", 3_100));
        let (one, _) = account_client(vec![], false);
        let (two, _) = account_client(vec![], false);
        let start = Instant::now();
        let outcome = publish_to(
            &findings,
            vec![("111111111111", Some(one), false), ("222222222222", Some(two), false)],
        )
        .await;
        assert_eq!(outcome.totals(), (6_200, 6_200));
        let elapsed = start.elapsed().as_secs_f64();
        assert!((0.09..0.5).contains(&elapsed), "paced per account: {elapsed} s");
    }
}
