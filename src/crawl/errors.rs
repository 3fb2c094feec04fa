//! SDK errors -> [`ScanError`] rows.

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::model::ScanError;

pub(crate) fn scan_error<E, R>(
    account_id: Option<&str>,
    user_name: Option<&str>,
    access_key_id: Option<&str>,
    operation: &str,
    error: &SdkError<E, R>,
) -> ScanError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
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
        SdkError::ServiceError(context) => context
            .err()
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(error).to_string()),
        _ => DisplayErrorContext(error).to_string(),
    };
    ScanError {
        account_id: account_id.map(str::to_string),
        user_name: user_name.map(str::to_string),
        access_key_id: access_key_id.map(str::to_string),
        operation: operation.to_string(),
        code,
        message,
    }
}
