//! SDK errors -> [`ScanError`] rows.

use std::error::Error;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::model::ScanError;

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
