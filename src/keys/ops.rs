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
    /// IAM created a key but its secret could not be stored; the message says whether the
    /// key was deleted again or still exists. Something happened in IAM: exit 3, never 2.
    SecretNotStored(String),
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
            OpError::SecretNotStored(message) => f.write_str(message),
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
        let account_id = connection.account_id(false, None).await.map_err(OpError::Failed)?;
        Ok(KeyOps { iam: connection.iam.clone(), account_id })
    }

    #[cfg(test)]
    pub(crate) fn with_client(iam: IamClient, account_id: &str) -> KeyOps {
        KeyOps { iam, account_id: account_id.to_string() }
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
                match sink.write(user, &id, &secret, &created_at) {
                    Ok(note) => Ok(format!("created access key {id} for user {user} (account {account}); {note}")),
                    // A key whose secret is lost is useless and a liability: take it back.
                    Err(e) => Err(OpError::SecretNotStored(
                        match self.iam.delete_access_key().user_name(user).access_key_id(&id).send().await {
                            Ok(_) => format!(
                                "IAM created access key {id} for user {user}, but its secret could not be saved \
                                 ({e}); keyaudit deleted that key again, so it no longer exists"
                            ),
                            Err(undo) => format!(
                                "IAM created access key {id} for user {user}, but its secret could not be saved \
                                 ({e}), and deleting the key again failed ({}): access key {id} exists in IAM, \
                                 active, and nobody has its secret; delete it: keyaudit keys delete --user {user} \
                                 --key {id} --force",
                                fail("DeleteAccessKey", Some(&id), &undo)
                            ),
                        },
                    )),
                }
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

#[cfg(test)]
pub(crate) mod tests {
    //! The paths moto cannot produce: a secret that cannot be stored after IAM created the
    //! key, and a delete that fails right after.

    use aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput;
    use aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput;
    use aws_sdk_iam::types::{AccessKey as IamAccessKey, StatusType};
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    pub(crate) const NEW_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYNEWSECRET1";

    /// IAM's error document, as the Query protocol sends it.
    pub(crate) fn iam_error(code: &str) -> Response {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>no</Message></Error>\
             <RequestId>r</RequestId></ErrorResponse>"
        );
        Response::new(StatusCode::try_from(403).expect("valid status"), SdkBody::from(body))
    }

    pub(crate) fn ops(rules: &[&Rule]) -> KeyOps {
        KeyOps::with_client(mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules), "111122223333")
    }

    fn created() -> Rule {
        mock!(Client::create_access_key).then_output(|| {
            let key = IamAccessKey::builder()
                .user_name("alice")
                .access_key_id("AKIANEWKEY")
                .status(StatusType::Active)
                .secret_access_key(NEW_SECRET)
                .build()
                .expect("valid key");
            CreateAccessKeyOutput::builder().access_key(key).build()
        })
    }

    /// A secret file that takes no writes: opened read-only.
    fn unwritable_sink(dir: &tempfile::TempDir) -> SecretSink {
        let path = dir.path().join("secret.json");
        std::fs::write(&path, "").unwrap();
        SecretSink::File { file: std::fs::File::open(&path).unwrap(), path }
    }

    async fn create_with_unwritable_sink(delete: &Rule) -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let create = created();
        let mut sink = Some(unwritable_sink(&dir));
        let error = ops(&[&create, delete]).apply("alice", &Step::Create, &mut sink).await.unwrap_err();
        assert!(matches!(error, OpError::SecretNotStored(_)), "{error}");
        assert_eq!(create.num_calls(), 1);
        assert_eq!(delete.num_calls(), 1, "the new key is deleted again");
        let message = error.to_string();
        assert!(!message.contains(NEW_SECRET), "the secret never shows: {message}");
        assert!(!dir.path().join("secret.json").exists(), "no partial secret file is left");
        (message, dir)
    }

    #[tokio::test]
    async fn a_secret_that_cannot_be_stored_takes_the_new_key_back() {
        let delete = mock!(Client::delete_access_key)
            .match_requests(|request| request.access_key_id() == Some("AKIANEWKEY"))
            .then_output(|| DeleteAccessKeyOutput::builder().build());
        let (message, _dir) = create_with_unwritable_sink(&delete).await;
        assert!(
            message.contains("created access key AKIANEWKEY") && message.contains("deleted that key again"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn if_taking_the_key_back_fails_too_its_id_and_state_are_named() {
        let delete = mock!(Client::delete_access_key).then_http_response(|| iam_error("AccessDenied"));
        let (message, _dir) = create_with_unwritable_sink(&delete).await;
        for expected in ["AKIANEWKEY", "DeleteAccessKey", "exists in IAM, active", "--key AKIANEWKEY --force"]
        {
            assert!(message.contains(expected), "{expected}: {message}");
        }
    }
}
