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
//! **Batches and rate.** At most [`MAX_FINDINGS_PER_BATCH`] findings and [`MAX_BATCH_BYTES`]
//! per BatchImportFindings request, sent one request at a time behind a [`Pacer`] at Security
//! Hub's quota (10 requests/s, burst 30; GetFindings 3/s, burst 6). Throttling and server
//! errors are retried by the SDK's standard retry (its classifier knows
//! `TooManyRequestsException`), configured once for every client in `crawl::client`.
//!
//! **Archiving** re-imports the finding as Security Hub holds it with `RecordState` ARCHIVED
//! and a newer `UpdatedAt` (what Prowler does too): BatchImportFindings lets the provider set
//! RecordState on AWS, and moto (the test server) implements it, while it does not implement
//! BatchUpdateFindings. Candidates come from GetFindings filtered by `Id` prefix `keyaudit/`,
//! RecordState ACTIVE, and the scope's `AwsAccountId`s and default-product `ProductArn`s;
//! every one is checked again here (moto ignores filters; a filter is a request, not a
//! guarantee). Only for a complete scan: a finding missing from an incomplete scan may be
//! missing because a call failed, and that is unknown, never fixed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use aws_sdk_securityhub::error::DisplayErrorContext;
use aws_sdk_securityhub::types::{
    AwsIamAccessKeyDetails, AwsIamAccessKeyStatus, AwsIamUserDetails, AwsSecurityFinding,
    AwsSecurityFindingFilters, Compliance, ComplianceStatus, FindingProviderFields, FindingProviderSeverity,
    Note, Partition, Recommendation, RecordState, Remediation, Resource, ResourceDetails, Severity,
    SeverityLabel, StringFilter, StringFilterComparison, Workflow, WorkflowStatus,
};
use aws_sdk_securityhub::Client;
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

/// Values per attribute in one GetFindings filter; larger scopes are asked in slices.
const MAX_FILTER_VALUES: usize = 20;

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

/// What a publish did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub region: String,
    /// Findings of this scan, and how many Security Hub accepted.
    pub findings: usize,
    pub imported: usize,
    /// `None`: the scan was incomplete and nothing was looked for.
    pub archived: Option<usize>,
    pub failed: Vec<Failed>,
    /// The search for earlier findings, if it failed (then nothing was archived).
    pub search_error: Option<String>,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && self.search_error.is_none()
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let archived = match self.archived {
            Some(n) => format!("archived {n} earlier finding(s) that are gone"),
            None => "archived nothing: the scan is incomplete, so a missing finding is unknown, not fixed"
                .to_string(),
        };
        format!(
            "imported {} of {} finding(s) into Security Hub in {}; {archived}",
            self.imported, self.findings, self.region
        )
    }

    /// One line per failure, at most `max`, then one saying how many more.
    pub fn failure_lines(&self, max: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.search_error.iter().cloned().collect();
        lines.extend(self.failed.iter().map(|f| format!("finding {} not {}: {}", f.id, f.what, f.reason)));
        if lines.len() > max {
            let more = lines.len() - max;
            lines.truncate(max);
            lines.push(format!("... and {more} more failure(s)"));
        }
        lines
    }
}

/// The Security Hub client, from the same settings as every other client of the scan
/// (credentials, region, `--endpoint-url` or `AWS_ENDPOINT_URL_SECURITYHUB`, retries,
/// timeouts, the shared HTTP client).
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}

/// Imports `findings` (ASFF objects of [`asff::findings`], all for `region`), then, when
/// `archive_scope` is given (a complete scan's accounts), archives keyaudit's earlier
/// findings of those accounts that are not among them.
pub async fn publish(
    client: &Client,
    region: &str,
    findings: &[Value],
    archive_scope: Option<&BTreeSet<String>>,
) -> Outcome {
    let mut outcome = Outcome { region: region.to_string(), findings: findings.len(), ..Outcome::default() };
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

    let Some(scope) = archive_scope else { return outcome };
    let gone = match earlier_findings(client, region, scope, &current).await {
        Ok(gone) => gone,
        Err(error) => {
            outcome.search_error = Some(format!("could not list earlier findings to archive: {error}"));
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

/// keyaudit's active findings in Security Hub for the accounts of `scope` that are not in
/// `current`: the ones to archive.
async fn earlier_findings(
    client: &Client,
    region: &str,
    scope: &BTreeSet<String>,
    current: &HashSet<String>,
) -> Result<Vec<AwsSecurityFinding>, String> {
    let equals =
        |value: &str| StringFilter::builder().comparison(StringFilterComparison::Equals).value(value).build();
    let mut pacer = Pacer::new(GET_FINDINGS_RATE);
    let mut gone = Vec::new();
    let accounts: Vec<&String> = scope.iter().collect();
    for slice in accounts.chunks(MAX_FILTER_VALUES) {
        let arns: HashMap<String, &str> =
            slice.iter().map(|account| (asff::product_arn(region, account), account.as_str())).collect();
        let filters = AwsSecurityFindingFilters::builder()
            .id(StringFilter::builder().comparison(StringFilterComparison::Prefix).value(ID_PREFIX).build())
            .record_state(equals(RecordState::Active.as_str()))
            .set_aws_account_id(Some(slice.iter().map(|account| equals(account)).collect()))
            .set_product_arn(Some(arns.keys().map(|arn| equals(arn)).collect()))
            .build();
        let mut pages = client.get_findings().filters(filters).max_results(100).into_paginator().send();
        loop {
            pacer.wait().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|error| format!("GetFindings: {}", DisplayErrorContext(&error)))?;
            for finding in page.findings() {
                let ours = finding
                    .id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(ID_PREFIX) && !current.contains(id));
                let active = finding.record_state.as_ref().is_none_or(|state| *state == RecordState::Active);
                // The product ARN names the account: both must be one of this slice's.
                let in_scope = finding
                    .product_arn
                    .as_deref()
                    .and_then(|arn| arns.get(arn))
                    .is_some_and(|account| finding.aws_account_id.as_deref() == Some(*account));
                if ours && active && in_scope {
                    gone.push(finding.clone());
                }
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
        let report = demo_report(|_| {});
        let template = asff::findings(&report).remove(0);
        (0..n)
            .map(|i| {
                let mut f = template.clone();
                f["Id"] = format!("keyaudit/key-too-old:111122223333:u{i}:AKIA{i}").into();
                f
            })
            .collect()
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
        let outcome = publish(&client, "us-east-1", &many(250), None).await;
        assert_eq!(*sent.lock().unwrap(), vec![100, 100, 50], "{:?}", outcome.failure_lines(2));
        assert_eq!(import.num_calls(), 3, "three batches");
        assert_eq!(outcome.imported, 249);
        assert_eq!(outcome.archived, None, "no scope: nothing looked for");
        assert_eq!(
            outcome.failed,
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
        let outcome = publish(&mocked(&[&import]), "us-east-1", &many(3), None).await;
        assert!(outcome.is_ok(), "{:?}", outcome.failure_lines(3));
        assert_eq!(outcome.imported, 3);
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
        let scope: BTreeSet<String> = [in_scope.to_string()].into();
        let outcome = publish(&client, "us-east-1", &current, Some(&scope)).await;
        assert!(outcome.is_ok(), "{:?}", outcome.failure_lines(5));
        assert_eq!((outcome.imported, outcome.archived), (2, Some(1)));
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
            failed: (0..25)
                .map(|i| Failed {
                    id: format!("keyaudit/{i}"),
                    what: "imported",
                    reason: "InvalidInput: no".into(),
                })
                .collect(),
            ..Outcome::default()
        };
        let lines = outcome.failure_lines(20);
        assert_eq!(lines.len(), 21);
        assert_eq!(lines[0], "finding keyaudit/0 not imported: InvalidInput: no");
        assert_eq!(lines[20], "... and 5 more failure(s)");
        assert!(!outcome.is_ok());
    }
}
