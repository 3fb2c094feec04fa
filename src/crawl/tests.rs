//! Crawler paths moto cannot produce: paginated ListUsers, throttling, denied calls.
//! aws-smithy-mocks answers the real SDK client (serialisation, retry classification and
//! the retry loop all run); only the HTTP layer is replaced.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput;
use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::list_users::ListUsersOutput;
use aws_sdk_iam::types::{AccessKeyLastUsed, AccessKeyMetadata, StatusType, SummaryKeyType, User as IamUser};
use aws_sdk_iam::Client;
use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::response_check::ResponseCheck;
use super::{crawl_account, scan_accounts, Connection, CrawlOptions, LastUsedSource, Limiter, Shared};
use crate::model::{KeyStatus, LastUsed};

fn iam_user(name: &str) -> IamUser {
    IamUser::builder()
        .user_name(name)
        .user_id(format!("AIDA{name}"))
        .path("/")
        .arn(format!("arn:aws:iam::111122223333:user/{name}"))
        .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
        .build()
        .expect("valid user")
}

fn key_id(user: &str) -> String {
    format!("AKIA{}", user.to_uppercase())
}

/// IAM's error document, as the Query protocol sends it.
fn iam_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
    );
    Response::new(StatusCode::try_from(status).expect("valid status"), SdkBody::from(body))
}

/// ListUsers in pages of three, following IAM's Marker/IsTruncated protocol.
fn paged_users(names: &'static [&'static str]) -> Rule {
    mock!(Client::list_users).then_compute_output(move |request| {
        let start: usize = request.marker().map_or(0, |m| m.parse().expect("our marker"));
        let end = (start + 3).min(names.len());
        let mut page = ListUsersOutput::builder()
            .set_users(Some(names[start..end].iter().map(|n| iam_user(n)).collect()))
            .is_truncated(end < names.len());
        if end < names.len() {
            page = page.marker(end.to_string());
        }
        page.build().expect("valid page")
    })
}

/// One active key per user.
fn one_key_each() -> Rule {
    mock!(Client::list_access_keys).then_compute_output(|request| {
        let user = request.user_name().expect("user name").to_string();
        ListAccessKeysOutput::builder()
            .access_key_metadata(
                AccessKeyMetadata::builder()
                    .user_name(&user)
                    .access_key_id(key_id(&user))
                    .status(StatusType::Active)
                    .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                    .build(),
            )
            .is_truncated(false)
            .build()
            .expect("valid output")
    })
}

/// ListAccessKeys for `user`: throttled twice, then an empty answer (the SDK must retry).
fn throttled_twice_then_no_keys(user: &'static str) -> Rule {
    mock!(Client::list_access_keys)
        .match_requests(move |request| request.user_name() == Some(user))
        .sequence()
        .http_response(|| iam_error(400, "Throttling", "Rate exceeded"))
        .times(2)
        .output(|| {
            ListAccessKeysOutput::builder().set_access_key_metadata(Some(vec![])).build().expect("valid")
        })
        .build()
}

/// IAM's answer for a key never used: no date, service and region "N/A".
fn never_used() -> Rule {
    mock!(Client::get_access_key_last_used).then_output(|| {
        GetAccessKeyLastUsedOutput::builder()
            .access_key_last_used(
                AccessKeyLastUsed::builder().service_name("N/A").region("N/A").build().expect("valid"),
            )
            .build()
    })
}

/// GetAccountSummary: `users` users, no root keys.
fn summary(users: i32) -> Rule {
    mock!(Client::get_account_summary).then_output(move || {
        GetAccountSummaryOutput::builder()
            .summary_map(SummaryKeyType::Users, users)
            .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
            .build()
    })
}

/// A client answering `rules`, plus GetAccountSummary (`users` users, no root keys) which
/// every crawl calls first. Answers pass through [`ResponseCheck`], as in a real scan.
fn client(users: usize, rules: &[&Rule]) -> Client {
    let summary = summary(users as i32);
    let all: Vec<&Rule> = rules.iter().copied().chain([&summary]).collect();
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, all, |config| config
        .retry_config(
            RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
        )
        .interceptor(ResponseCheck))
}

const OPTIONS: CrawlOptions =
    CrawlOptions { concurrency: 4, last_used_source: LastUsedSource::Api, details: false, deadline: None };

async fn crawl(client: &Client) -> (crate::model::Account, Vec<crate::model::ScanError>) {
    crawl_with(client, &OPTIONS).await
}

async fn crawl_with(
    client: &Client,
    options: &CrawlOptions,
) -> (crate::model::Account, Vec<crate::model::ScanError>) {
    crawl_account(client, &Limiter::new(4), "111122223333".into(), options, &()).await
}

const SEVEN: &[&str] = &["u0", "u1", "u2", "u3", "u4", "u5", "u6"];

#[tokio::test]
async fn follows_list_users_pages_to_the_end() {
    let (users, keys, last_used) = (paged_users(SEVEN), one_key_each(), never_used());
    let (account, errors) = crawl(&client(7, &[&users, &keys, &last_used])).await;
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<_> = account.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, SEVEN);
    assert_eq!(users.num_calls(), 3, "7 users in pages of 3");
    assert_eq!(keys.num_calls(), 7);
    for user in &account.users {
        assert_eq!(user.keys.len(), 1);
        assert_eq!(user.keys[0].access_key_id, key_id(&user.user_name));
        assert_eq!(user.keys[0].status, KeyStatus::Active);
        assert_eq!(user.keys[0].last_used, LastUsed::Never);
    }
}

#[tokio::test]
async fn throttling_is_retried_to_completion() {
    let (users, last_used) = (paged_users(SEVEN), never_used());
    let throttled_twice = throttled_twice_then_no_keys("u3");
    let keys = one_key_each();
    let (account, errors) = crawl(&client(7, &[&users, &throttled_twice, &keys, &last_used])).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(throttled_twice.num_calls(), 3);
    assert_eq!(account.users.len(), 7);
}

#[tokio::test]
async fn a_call_failing_after_retries_is_an_error_never_an_empty_result() {
    let (users, keys) = (paged_users(SEVEN), one_key_each());
    let always_throttled = mock!(Client::get_access_key_last_used)
        .match_requests(|request| request.access_key_id() == Some("AKIAU2"))
        .then_http_response(|| iam_error(400, "Throttling", "Rate exceeded"));
    let denied = mock!(Client::list_access_keys)
        .match_requests(|request| request.user_name() == Some("u5"))
        .then_http_response(|| {
            iam_error(403, "AccessDenied", "not authorized to perform iam:ListAccessKeys")
        });
    let last_used = never_used();
    let (account, errors) = crawl(&client(7, &[&users, &always_throttled, &denied, &keys, &last_used])).await;

    assert_eq!(always_throttled.num_calls(), 3, "retried up to max attempts");
    assert_eq!(denied.num_calls(), 1, "AccessDenied is not retried");
    let mut got: Vec<_> = errors
        .iter()
        .map(|e| (e.operation.as_str(), e.code.as_str(), e.user_name.as_deref(), e.access_key_id.as_deref()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("GetAccessKeyLastUsed", "Throttling", Some("u2"), Some("AKIAU2")),
            ("ListAccessKeys", "AccessDenied", Some("u5"), None),
        ]
    );
    assert!(errors.iter().all(|e| e.account_id.as_deref() == Some("111122223333")));
    let u2 = account.users.iter().find(|u| u.user_name == "u2").expect("u2 kept");
    assert_eq!(u2.keys[0].last_used, LastUsed::Unknown, "not 'never used'");
}

#[tokio::test]
async fn a_failed_list_users_page_is_an_error_and_earlier_pages_are_kept() {
    let keys = one_key_each();
    let last_used = never_used();
    let users = mock!(Client::list_users).then_compute_response(|request| match request.marker() {
        None => MockResponse::Output(
            ListUsersOutput::builder()
                .set_users(Some(vec![iam_user("a"), iam_user("b")]))
                .is_truncated(true)
                .marker("next")
                .build()
                .expect("valid page"),
        ),
        Some(_) => {
            MockResponse::Http(iam_error(403, "AccessDenied", "not authorized to perform iam:ListUsers"))
        }
    });
    let (account, errors) = crawl(&client(3, &[&users, &keys, &last_used])).await;
    assert_eq!(account.users.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].operation.as_str(), errors[0].code.as_str()), ("ListUsers", "AccessDenied"));
    assert_eq!(errors[0].user_name, None);
}

/// STS's error document (Query protocol), as a failed AssumeRole surfaces it.
fn sts_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-2</RequestId></ErrorResponse>"
    );
    Response::new(StatusCode::try_from(status).expect("valid status"), SdkBody::from(body))
}

fn sts_answering(account: &'static str) -> aws_sdk_sts::Client {
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(move || {
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
            .account(account)
            .build()
    });
    mock_client!(aws_sdk_sts, [&rule])
}

#[tokio::test]
async fn an_account_that_cannot_be_reached_is_an_error_row_and_the_others_complete() {
    let (users, keys, last_used) = (paged_users(&["a", "b"]), one_key_each(), never_used());
    let iam = client(2, &[&users, &keys, &last_used]);
    let denied = mock!(aws_sdk_sts::Client::get_caller_identity).then_http_response(|| {
        sts_error(
            403,
            "AccessDenied",
            "User: arn:aws:iam::111111111111:user/auditor is not authorized to perform: sts:AssumeRole on resource: \
             arn:aws:iam::222222222222:role/OrganizationAccountAccessRole",
        )
    });
    let denied_sts = mock_client!(aws_sdk_sts, [&denied]);
    let connect = |id: String| {
        let sts = match id.as_str() {
            "222222222222" => denied_sts.clone(),
            "333333333333" => sts_answering("333333333333"),
            "444444444444" => sts_answering("555555555555"), // the role leads elsewhere
            _ => sts_answering("111111111111"),
        };
        let iam = iam.clone();
        async move { Connection { iam, sts, config: None, limiter: Limiter::new(4), shared: Shared::new(16) } }
    };
    let ids = ["111111111111", "222222222222", "333333333333", "444444444444"].map(String::from).to_vec();
    let (accounts, errors) = scan_accounts("111111111111", ids, connect, &OPTIONS, &(), Some(2)).await;

    let reached: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(reached, ["111111111111", "333333333333"]);
    assert!(accounts.iter().all(|a| a.users.len() == 2), "the reachable accounts are complete");
    let mut got: Vec<(Option<&str>, &str, &str)> =
        errors.iter().map(|e| (e.account_id.as_deref(), e.operation.as_str(), e.code.as_str())).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (Some("222222222222"), "AssumeRole", "AccessDenied"),
            (Some("444444444444"), "AssumeRole", "MismatchedAccount"),
        ]
    );
    assert!(errors.iter().any(|e| e.message.contains("not authorized to perform: sts:AssumeRole")));
    assert_eq!(denied.num_calls(), 1, "AccessDenied is not retried");
}

#[tokio::test]
async fn root_access_keys_come_from_the_account_summary() {
    let (users, keys, last_used) = (paged_users(&["a"]), one_key_each(), never_used());
    let present = mock!(Client::get_account_summary).then_output(|| {
        GetAccountSummaryOutput::builder()
            .summary_map(SummaryKeyType::Users, 1)
            .summary_map(SummaryKeyType::AccountAccessKeysPresent, 1)
            .build()
    });
    let (account, errors) = crawl(&client(1, &[&present, &users, &keys, &last_used])).await;
    assert!(errors.is_empty());
    assert_eq!(account.root.map(|root| root.access_keys_present), Some(true));

    let denied = mock!(Client::get_account_summary).then_http_response(|| {
        iam_error(403, "AccessDenied", "not authorized to perform iam:GetAccountSummary")
    });
    let (account, errors) = crawl(&client(1, &[&denied, &users, &keys, &last_used])).await;
    assert_eq!(account.root, None, "unknown, not 'no root keys'");
    assert_eq!(
        (errors[0].operation.as_str(), errors[0].code.as_str()),
        ("GetAccountSummary", "AccessDenied")
    );
}

#[tokio::test]
async fn every_throttled_attempt_reaches_the_limiter_even_when_the_sdk_retries_it() {
    let limiter = Limiter::new(4);
    let (users, last_used) = (paged_users(&["a", "b", "c"]), never_used());
    let throttled_twice = throttled_twice_then_no_keys("b");
    let keys = one_key_each();
    let summary = summary(3);
    let observer = super::limiter::ThrottleObserver(limiter.clone());
    let iam = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&users, &throttled_twice, &keys, &last_used, &summary],
        |c| c
            .retry_config(
                RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))
            )
            .interceptor(observer.clone())
    );
    let (account, errors) = crawl_account(&iam, &limiter, "111122223333".into(), &OPTIONS, &()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(account.users.len(), 3);
    let stats = limiter.stats();
    assert_eq!(stats.throttled, 2, "both throttled attempts were seen");
    // 1 ListUsers + 3 ListAccessKeys (+2 retries) + 2 GetAccessKeyLastUsed + 1 GetAccountSummary
    assert_eq!(stats.attempts, 9);
    assert!(limiter.rate().is_some(), "throttling switched pacing on");
}

/// ListUsers answering each page from `page(marker)`: (users, IsTruncated, next Marker).
fn list_users_by_marker(
    page: impl Fn(Option<&str>) -> (&'static [&'static str], bool, Option<&'static str>) + Send + Sync + 'static,
) -> Rule {
    mock!(Client::list_users).then_compute_output(move |request| {
        let (names, truncated, marker) = page(request.marker());
        ListUsersOutput::builder()
            .set_users(Some(names.iter().map(|n| iam_user(n)).collect()))
            .is_truncated(truncated)
            .set_marker(marker.map(str::to_string))
            .build()
            .expect("valid page")
    })
}

fn codes(errors: &[crate::model::ScanError]) -> Vec<(&str, &str)> {
    errors.iter().map(|e| (e.operation.as_str(), e.code.as_str())).collect()
}

#[tokio::test]
async fn list_users_pages_that_cannot_be_right_are_errors_never_a_silent_stop_or_a_loop() {
    let (keys, last_used) = (one_key_each(), never_used());
    // Truncated, but no marker to ask for the rest with.
    let no_marker = list_users_by_marker(|_| (&["a", "b"], true, None));
    let (account, errors) = crawl(&client(4, &[&no_marker, &keys, &last_used])).await;
    assert_eq!(account.users.len(), 2, "what was listed is kept");
    assert_eq!(codes(&errors), [("ListUsers", "MalformedResponse")]);

    // m1 -> m2 -> m1: the SDK's paginator would follow this forever.
    let cycle = list_users_by_marker(|marker| match marker {
        None => (&["a"], true, Some("m1")),
        Some("m1") => (&["b"], true, Some("m2")),
        _ => (&["c"], true, Some("m1")),
    });
    let (account, errors) = crawl(&client(4, &[&cycle, &keys, &last_used])).await;
    assert_eq!(cycle.num_calls(), 3);
    assert_eq!(account.users.len(), 3);
    assert_eq!(codes(&errors), [("ListUsers", "PaginationLoop")]);

    // The same marker again: the SDK's paginator stops there as if the listing were complete.
    let repeat = list_users_by_marker(|marker| match marker {
        None => (&["a"], true, Some("m1")),
        _ => (&["b"], true, Some("m1")),
    });
    let (_, errors) = crawl(&client(2, &[&repeat, &keys, &last_used])).await;
    assert_eq!(codes(&errors), [("ListUsers", "PaginationLoop")]);

    // The second page repeats a user of the first: listed once, and an error.
    let overlap = list_users_by_marker(|marker| match marker {
        None => (&["a", "b"], true, Some("m1")),
        _ => (&["b", "c"], false, None),
    });
    let (account, errors) = crawl(&client(3, &[&overlap, &keys, &last_used])).await;
    let names: Vec<_> = account.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(codes(&errors), [("ListUsers", "DuplicateItems")]);
    assert_eq!(keys.num_calls() - 2 - 3 - 2, 3, "b's keys were listed once");

    // Fresh markers forever, each page empty: more pages than 1 user could fill.
    let endless = mock!(Client::list_users).then_compute_output(|request| {
        let next = request.marker().map_or(1, |m| m.parse::<u32>().expect("ours") + 1);
        ListUsersOutput::builder()
            .set_users(Some(vec![]))
            .is_truncated(true)
            .marker(next.to_string())
            .build()
            .expect("valid page")
    });
    let (_, errors) = crawl(&client(1, &[&endless, &keys, &last_used])).await;
    assert_eq!(codes(&errors), [("ListUsers", "TooManyPages")]);
    assert_eq!(endless.num_calls(), 1 + super::EXTRA_LIST_USERS_PAGES);
}

#[tokio::test]
async fn a_last_used_answer_without_access_key_last_used_is_unknown_never_never_used() {
    let (users, keys) = (paged_users(&["a"]), one_key_each());
    let empty = mock!(Client::get_access_key_last_used)
        .then_output(|| GetAccessKeyLastUsedOutput::builder().user_name("a").build());
    let (account, errors) = crawl(&client(1, &[&users, &keys, &empty])).await;
    assert_eq!(account.users[0].keys[0].last_used, LastUsed::Unknown);
    assert_eq!(codes(&errors), [("GetAccessKeyLastUsed", "MalformedResponse")]);
    assert_eq!(errors[0].access_key_id.as_deref(), Some("AKIAA"));
}

/// A 200 answer with this body.
fn ok_body(body: &str) -> Response {
    Response::new(StatusCode::try_from(200).expect("valid status"), SdkBody::from(body.to_string()))
}

#[tokio::test]
async fn an_answer_missing_its_list_is_retried_then_an_error_never_no_keys() {
    let (users, last_used) = (paged_users(&["a", "b"]), never_used());
    // The SDK reads this as a ListAccessKeys answer with no keys.
    let no_list = mock!(Client::list_access_keys)
        .match_requests(|request| request.user_name() == Some("b"))
        .then_http_response(|| {
            ok_body(
                "<ListAccessKeysResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
                 <ListAccessKeysResult><IsTruncated>false</IsTruncated></ListAccessKeysResult>\
                 </ListAccessKeysResponse>",
            )
        });
    let keys = one_key_each();
    let (account, errors) = crawl(&client(2, &[&users, &no_list, &keys, &last_used])).await;
    assert_eq!(no_list.num_calls(), 3, "retried like a dropped connection, up to max attempts");
    assert_eq!(codes(&errors), [("ListAccessKeys", "MalformedResponse")]);
    assert_eq!(errors[0].user_name.as_deref(), Some("b"));
    assert!(errors[0].message.contains("no <AccessKeyMetadata> element"), "{}", errors[0].message);
    assert_eq!(account.users.iter().find(|u| u.user_name == "a").map(|u| u.keys.len()), Some(1));

    // Cut off once, whole the second time: the retry fills the gap, no error.
    let cut_once = mock!(Client::list_users)
        .sequence()
        .http_response(|| {
            ok_body(
                "<ListUsersResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListUsersResult>\
                 <Users><member><UserName>a</UserName>",
            )
        })
        .output(|| {
            ListUsersOutput::builder()
                .set_users(Some(vec![iam_user("a"), iam_user("b")]))
                .is_truncated(false)
                .build()
                .expect("valid page")
        })
        .build();
    let (account, errors) = crawl(&client(2, &[&cut_once, &keys, &last_used])).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(account.users.len(), 2);
}

#[tokio::test]
async fn users_missing_from_the_listing_are_an_error_row() {
    let (users, keys, last_used) = (paged_users(SEVEN), one_key_each(), never_used());
    // The summary counts 9 users, twice: two are not listed.
    let (account, errors) = crawl(&client(9, &[&users, &keys, &last_used])).await;
    assert_eq!(account.users.len(), 7);
    assert_eq!(codes(&errors), [("ListUsers", "UserCountMismatch")]);
    assert!(
        errors[0].message.contains("listed 7 users, but GetAccountSummary counts 9"),
        "{}",
        errors[0].message
    );

    // 6 before, 8 after: users created during the crawl, and 7 listed between the two.
    let growing = mock!(Client::get_account_summary)
        .sequence()
        .output(|| {
            GetAccountSummaryOutput::builder()
                .summary_map(SummaryKeyType::Users, 6)
                .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
                .build()
        })
        .output(|| {
            GetAccountSummaryOutput::builder()
                .summary_map(SummaryKeyType::Users, 8)
                .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
                .build()
        })
        .build();
    let (_, errors) = crawl(&client(0, &[&growing, &users, &keys, &last_used])).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(growing.num_calls(), 2);
}

#[tokio::test]
async fn a_summary_without_its_counts_is_an_error_never_no_root_keys() {
    let (users, keys, last_used) = (paged_users(&["a"]), one_key_each(), never_used());
    let bare = mock!(Client::get_account_summary).then_output(|| GetAccountSummaryOutput::builder().build());
    let (account, errors) = crawl(&client(1, &[&bare, &users, &keys, &last_used])).await;
    assert_eq!(account.root, None);
    assert_eq!(codes(&errors), [("GetAccountSummary", "MalformedResponse")]);
    assert_eq!(account.users.len(), 1);
}

#[tokio::test]
async fn calls_not_done_by_the_deadline_are_error_rows() {
    let (users, keys, last_used) = (paged_users(SEVEN), one_key_each(), never_used());
    let passed = CrawlOptions { deadline: Some(tokio::time::Instant::now()), ..OPTIONS };
    let (account, errors) = crawl_with(&client(7, &[&users, &keys, &last_used]), &passed).await;
    assert!(account.users.is_empty());
    assert_eq!(
        codes(&errors),
        [("GetAccountSummary", "DeadlineExceeded"), ("ListUsers", "DeadlineExceeded")]
    );
    assert_eq!(users.num_calls(), 0);
}

#[tokio::test]
async fn every_iam_client_has_the_attempt_and_operation_timeouts() {
    let connection = super::connect(&super::ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: 2,
        ..Default::default()
    })
    .await;
    let timeouts = connection.iam.config().timeout_config().cloned().expect("a timeout config");
    assert!(timeouts.operation_attempt_timeout().is_some(), "{timeouts:?}");
    assert!(timeouts.operation_timeout().is_some(), "{timeouts:?}");
    assert!(timeouts.connect_timeout().is_some(), "{timeouts:?}");
}

/// A user's crawl waiting for the limiter must not hold an SDK call's future: those are tens
/// of kilobytes each, and an account at a low limit keeps `--concurrency` users waiting (org-40
/// peaked at 167 MiB, 122 of its 135 MB of heap in waiting futures; 68 MiB once calls are
/// made only when they may start). Measured: 25,936 bytes before, 3,248 now; one unpolled
/// SDK call alone is 4,816.
#[test]
fn a_user_waiting_for_the_limiter_is_a_small_future() {
    let iam = client(1, &[]);
    let permits = Limiter::new(4);
    let user = iam_user("alice");
    let waiting = super::crawl_user(&iam, "111122223333", user, &permits, None, None);
    let size = std::mem::size_of_val(&waiting);
    let one_call = std::mem::size_of_val(&iam.get_access_key_last_used().access_key_id("K").send());
    assert!(size < 4096 && size < one_call, "a waiting user's crawl is {size} bytes (one call: {one_call})");
}
