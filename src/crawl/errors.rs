//! SDK errors -> [`ScanError`] rows.

use std::error::Error;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::response_check::MalformedResponse;
use crate::model::ScanError;

/// The code of an error row for a call the scan's `--deadline` cut short.
pub(crate) const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";

/// Why one IAM call gave no answer to use.
#[derive(Debug)]
pub(crate) enum CallError<E> {
    Sdk(Box<SdkError<E, HttpResponse>>),
    /// The scan's `--deadline` passed before the call was done (or began).
    DeadlineExceeded,
}

impl<E> CallError<E>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    /// The error row for this failed call.
    pub(crate) fn row(
        &self,
        account_id: Option<&str>,
        user_name: Option<&str>,
        access_key_id: Option<&str>,
        operation: &str,
    ) -> ScanError {
        match self {
            CallError::Sdk(error) => scan_error(account_id, user_name, access_key_id, operation, error),
            CallError::DeadlineExceeded => {
                let mut row = deadline_row(account_id, operation);
                row.user_name = user_name.map(str::to_string);
                row.access_key_id = access_key_id.map(str::to_string);
                row
            }
        }
    }
}

/// The error row for `operation`, not done when the scan's `--deadline` passed.
pub(crate) fn deadline_row(account_id: Option<&str>, operation: &str) -> ScanError {
    error_row(
        account_id,
        None,
        None,
        operation,
        DEADLINE_EXCEEDED,
        "not done when the scan's --deadline passed".into(),
    )
}

/// An error row keyaudit finds itself (a malformed answer, a deadline), not the SDK.
pub(crate) fn error_row(
    account_id: Option<&str>,
    user_name: Option<&str>,
    access_key_id: Option<&str>,
    operation: &str,
    code: &str,
    message: String,
) -> ScanError {
    ScanError {
        account_id: account_id.map(str::to_string),
        user_name: user_name.map(str::to_string),
        access_key_id: access_key_id.map(str::to_string),
        operation: operation.to_string(),
        code: code.to_string(),
        message,
    }
}

pub(crate) fn scan_error<E, R>(
    account_id: Option<&str>,
    user_name: Option<&str>,
    access_key_id: Option<&str>,
    operation: &str,
    error: &SdkError<E, R>,
) -> ScanError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug,
{
    let code = match error {
        // The answer came but failed `ResponseCheck` on every attempt.
        _ if is_malformed(error.source()) => "MalformedResponse".to_string(),
        SdkError::ServiceError(context) => context.err().code().unwrap_or("Unknown").to_string(),
        SdkError::TimeoutError(_) => "Timeout".to_string(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_string(),
        SdkError::ResponseError(_) => "ResponseError".to_string(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".to_string(),
        _ => "Unknown".to_string(),
    };
    let message = match error {
        SdkError::ServiceError(context) => {
            context.err().message().map(str::to_string).unwrap_or_else(|| cause_chain(error))
        }
        _ => cause_chain(error),
    };
    ScanError {
        account_id: account_id.map(str::to_string),
        user_name: user_name.map(str::to_string),
        access_key_id: access_key_id.map(str::to_string),
        operation: operation.to_string(),
        code,
        // One line, so it reads in a table cell, a CSV field and a log line alike.
        message: message
            .split('\n')
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn is_malformed(source: Option<&(dyn Error + 'static)>) -> bool {
    let mut next = source;
    while let Some(cause) = next {
        if cause.is::<MalformedResponse>() {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Each cause's Display, outermost first, without the Debug dumps `DisplayErrorContext`
/// adds: "dispatch failure: io error: ...: Connection refused (os error 111)".
fn cause_chain(error: &dyn Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}
