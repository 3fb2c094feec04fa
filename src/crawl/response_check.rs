//! Checks IAM's raw answers before the SDK's parsed output is trusted.
//!
//! The SDK's XML parser is lenient: a body cut off after the first user parses, and a list
//! the operation always has (`Users`, `AccessKeyMetadata`) comes back as an empty default
//! when the element is missing. Read as is, that is "no users" or "no keys". So, for the
//! operations a scan reads, [`ResponseCheck`] looks at every successful (HTTP 2xx) answer's
//! body: it must end with the operation's closing element and contain the elements the
//! operation always has. Otherwise the attempt fails with [`MalformedResponse`].
//!
//! Retried, on purpose: an interceptor that returns an error fails the call outright (the
//! SDK's `TransientErrorClassifier` only retries response, timeout and I/O errors, and the
//! orchestrator reports an interceptor's error as an `Interceptor` kind). So the check does
//! not return an error: in `modify_before_attempt_completion`, which runs before the retry
//! decision, it replaces the attempt's output with a *response* error. A cut-off body is
//! then retried like a dropped connection (up to `--max-attempts`); one that keeps coming
//! back malformed ends as `SdkError::ResponseError` whose source is [`MalformedResponse`],
//! which `scan_error` reports with code `MalformedResponse`. A retry that succeeds is fine;
//! a gap is not.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The elements each checked operation's answer always has.
///
/// `IsTruncated` is required only of ListUsers: IAM always sends it, but the model makes it
/// optional and moto leaves it out of ListAccessKeys (absent means "not truncated"), whereas
/// a ListUsers page without it could not say whether more pages follow.
const REQUIRED: &[(&str, &[&str])] = &[
    ("ListUsers", &["Users", "IsTruncated"]),
    ("ListAccessKeys", &["AccessKeyMetadata"]),
    ("GetAccessKeyLastUsed", &["AccessKeyLastUsed"]),
    ("GetAccountSummary", &["SummaryMap"]),
    ("GenerateCredentialReport", &["State"]),
    ("GetCredentialReport", &["Content", "GeneratedTime"]),
    ("GetAccountAuthorizationDetails", &["IsTruncated"]),
];

/// A successful answer that cannot be the whole answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {operation} answer: {problem}")]
pub struct MalformedResponse {
    pub operation: String,
    pub problem: String,
}

/// The SDK interceptor; registered on the IAM client (see `Connection::for_account`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseCheck;

impl Intercept for ResponseCheck {
    fn name(&self) -> &'static str {
        "keyaudit-response-check"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = cfg.load::<Metadata>().map(|metadata| metadata.name().to_string()) else {
            return Ok(());
        };
        // Only an output the SDK parsed successfully is in question; errors keep their own.
        if !matches!(context.output_or_error(), Some(Ok(_))) {
            return Ok(());
        }
        let Some(response) = context.response() else { return Ok(()) };
        if !response.status().is_success() {
            return Ok(());
        }
        // The body was read whole before deserialisation; no bytes means nothing to trust.
        let body = response.body().bytes().unwrap_or_default();
        if let Err(malformed) = check(&operation, body) {
            if let Some(outcome) = context.output_or_error_mut() {
                *outcome = Err(OrchestratorError::response(Box::new(malformed)));
            }
        }
        Ok(())
    }
}

/// Checks one successful answer of `operation`; operations not in [`REQUIRED`] pass.
pub fn check(operation: &str, body: &[u8]) -> Result<(), MalformedResponse> {
    let Some((_, elements)) = REQUIRED.iter().find(|(name, _)| *name == operation) else {
        return Ok(());
    };
    let malformed = |problem: String| MalformedResponse { operation: operation.to_string(), problem };
    let closing = format!("</{operation}Response>");
    if !body.trim_ascii_end().ends_with(closing.as_bytes()) {
        return Err(malformed(format!("the body is cut off (it does not end with {closing})")));
    }
    for element in elements.iter() {
        if !has_element(body, element) {
            return Err(malformed(format!("no <{element}> element")));
        }
    }
    Ok(())
}

/// `<name>`, `<name/>` or `<name attr=...>` (any whitespace) somewhere in `body`.
fn has_element(body: &[u8], name: &str) -> bool {
    let open = format!("<{name}");
    body.windows(open.len() + 1).any(|window| {
        let next = window[open.len()];
        window.starts_with(open.as_bytes()) && (next == b'>' || next == b'/' || next.is_ascii_whitespace())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = r#"xmlns="https://iam.amazonaws.com/doc/2010-05-08/""#;

    #[test]
    fn whole_answers_pass_and_other_operations_are_not_checked() {
        let empty = format!(
            "<ListUsersResponse {NS}><ListUsersResult><Users/><IsTruncated>false</IsTruncated>\
             </ListUsersResult></ListUsersResponse>\n"
        );
        assert_eq!(check("ListUsers", empty.as_bytes()), Ok(()));
        let keys = format!(
            "<ListAccessKeysResponse {NS}><ListAccessKeysResult><AccessKeyMetadata>\
             </AccessKeyMetadata></ListAccessKeysResult></ListAccessKeysResponse>"
        );
        assert_eq!(check("ListAccessKeys", keys.as_bytes()), Ok(()));
        assert_eq!(check("CreateAccessKey", b"<CreateAccessKeyResponse>"), Ok(()));
        // Indented, as IAM sends it.
        let indented = "<GetAccountSummaryResponse>\n  <GetAccountSummaryResult>\n    <SummaryMap\n>\n    \
                        </SummaryMap>\n  </GetAccountSummaryResult>\n</GetAccountSummaryResponse>\n";
        assert_eq!(check("GetAccountSummary", indented.as_bytes()), Ok(()));
    }

    #[test]
    fn a_cut_off_body_or_a_missing_element_is_malformed() {
        let cut = format!("<ListUsersResponse {NS}><ListUsersResult><Users><member><UserName>a</UserName>");
        let error = check("ListUsers", cut.as_bytes()).unwrap_err();
        assert!(error.problem.contains("cut off"), "{error}");

        let no_users = format!(
            "<ListUsersResponse {NS}><ListUsersResult><IsTruncated>false</IsTruncated>\
             </ListUsersResult></ListUsersResponse>"
        );
        assert_eq!(check("ListUsers", no_users.as_bytes()).unwrap_err().problem, "no <Users> element");

        // `<UserName>` must not pass for `<Users>`, nor `<AccessKeyLastUsedX>` for the real one.
        let last_used = format!(
            "<GetAccessKeyLastUsedResponse {NS}><GetAccessKeyLastUsedResult><UserName>a</UserName>\
             <AccessKeyLastUsedX/></GetAccessKeyLastUsedResult></GetAccessKeyLastUsedResponse>"
        );
        let error = check("GetAccessKeyLastUsed", last_used.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed GetAccessKeyLastUsed answer: no <AccessKeyLastUsed> element"
        );
    }
}
