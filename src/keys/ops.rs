//! The IAM calls behind `keyaudit keys` and `keyaudit remediate`, with their errors sorted
//! into "the user must change something" (exit 2) and "the call failed" (exit 3).

use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::Client as IamClient;

use super::{Refusal, Secret, SecretSink, Step};
use crate::crawl::{self, scan_error, Connection};
use crate::model::{AccessKey, ScanError};

/// Why an operation did not happen.
#[derive(Debug)]
pub enum OpError {
    /// Bad input or a precondition the user must fix (unknown user, two-key limit): exit 2.
    Refused(Refusal),
    /// IAM or the network failed after retries: exit 3.
    Failed(ScanError),
}

impl From<Refusal> for OpError {
    fn from(refusal: Refusal) -> OpError {
        OpError::Refused(refusal)
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Refused(refusal) => write!(f, "{refusal}"),
            OpError::Failed(e) => write!(f, "{} failed ({}): {}", e.operation, e.code, e.message),
        }
    }
}

/// IAM answers that mean the request itself was wrong, not that IAM failed.
fn classify(error: ScanError, user: &str) -> OpError {
    match error.code.as_str() {
        "NoSuchEntity" => OpError::Refused(Refusal(match &error.access_key_id {
            Some(key) => format!("IAM has no access key {key} for user {user} ({})", error.message),
            None => format!("IAM has no user {user} ({})", error.message),
        })),
        "LimitExceeded" => OpError::Refused(Refusal(format!(
            "IAM refused: {} (a user can hold at most two access keys)",
            error.message
        ))),
        _ => OpError::Failed(error),
    }
}

pub struct KeyOps {
    iam: IamClient,
    pub account_id: String,
}

impl KeyOps {
    /// Identifies the account first: bad credentials fail here, before anything else.
    pub async fn new(connection: &Connection) -> Result<KeyOps, OpError> {
        let account_id = connection.account_id(false).await.map_err(OpError::Failed)?;
        Ok(KeyOps { iam: connection.iam.clone(), account_id })
    }

    /// The user's keys with their last use. Any failed call fails the whole listing: a
    /// decision about keys is never taken on a partial list.
    pub async fn list(&self, user: &str) -> Result<Vec<AccessKey>, OpError> {
        let permits = crawl::Limiter::new(2);
        let (keys, errors) = crawl::user_keys(&self.iam, &self.account_id, user, &permits, None).await;
        match errors.into_iter().next() {
            Some(error) => Err(classify(error, user)),
            None => Ok(keys),
        }
    }

    /// Carries out one step and says what was done. A `Create` writes the new secret to
    /// `sink`, which must be present.
    pub async fn apply(
        &self,
        user: &str,
        step: &Step,
        sink: &mut Option<SecretSink>,
    ) -> Result<String, OpError> {
        let account = self.account_id.as_str();
        let fail = |operation: &str, key: Option<&str>, error: &dyn ErrorToScan| {
            classify(error.to_scan(account, user, key, operation), user)
        };
        match step {
            Step::Create => {
                let sink = sink.take().ok_or_else(|| Refusal("no destination for the new secret".into()))?;
                let created = match self.iam.create_access_key().user_name(user).send().await {
                    Ok(output) => output,
                    Err(error) => {
                        sink.discard();
                        return Err(fail("CreateAccessKey", None, &error));
                    }
                };
                let Some(key) = created.access_key() else {
                    sink.discard();
                    return Err(OpError::Failed(ScanError {
                        account_id: Some(account.into()),
                        user_name: Some(user.into()),
                        access_key_id: None,
                        operation: "CreateAccessKey".into(),
                        code: "MalformedResponse".into(),
                        message: "no AccessKey in the answer".into(),
                    }));
                };
                let id = key.access_key_id().to_string();
                let secret = Secret::new(key.secret_access_key().to_string());
                let created_at = key
                    .create_date()
                    .map(|d| crawl::to_chrono(d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default();
                let note = sink.write(user, &id, &secret, &created_at).map_err(|e| {
                    Refusal(format!(
                        "created access key {id} for user {user} but could not save its secret ({e}); \
                         deactivate and delete that key: keyaudit keys delete --user {user} --key {id} --force"
                    ))
                })?;
                Ok(format!("created access key {id} for user {user} (account {account}); {note}"))
            }
            Step::Deactivate(id) | Step::Activate(id) => {
                let (status, verb) = match step {
                    Step::Activate(_) => (StatusType::Active, "activated"),
                    _ => (StatusType::Inactive, "deactivated"),
                };
                self.iam
                    .update_access_key()
                    .user_name(user)
                    .access_key_id(id)
                    .status(status)
                    .send()
                    .await
                    .map_err(|e| fail("UpdateAccessKey", Some(id), &e))?;
                Ok(format!("{verb} access key {id} of user {user} (account {account})"))
            }
            Step::Delete(id) => {
                self.iam
                    .delete_access_key()
                    .user_name(user)
                    .access_key_id(id)
                    .send()
                    .await
                    .map_err(|e| fail("DeleteAccessKey", Some(id), &e))?;
                Ok(format!("deleted access key {id} of user {user} (account {account})"))
            }
        }
    }

    /// Re-reads one key right before acting on it (remediate's safety check).
    pub async fn current(&self, user: &str, key_id: &str) -> Result<Option<AccessKey>, OpError> {
        match self.list(user).await {
            Ok(keys) => Ok(keys.into_iter().find(|key| key.access_key_id == key_id)),
            Err(OpError::Refused(_)) => Ok(None), // the user is gone, so is the key
            Err(error) => Err(error),
        }
    }
}

/// Lets `apply` turn any operation's SDK error into a [`ScanError`] with one closure.
trait ErrorToScan {
    fn to_scan(&self, account: &str, user: &str, key: Option<&str>, operation: &str) -> ScanError;
}

impl<E, R> ErrorToScan for aws_sdk_iam::error::SdkError<E, R>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn to_scan(&self, account: &str, user: &str, key: Option<&str>, operation: &str) -> ScanError {
        scan_error(Some(account), Some(user), key, operation, self)
    }
}
