//! The credentials a scan reached each account with, kept for a later step that must act *in*
//! those accounts: publishing to Security Hub, which takes a finding (default product) only
//! from the account the finding belongs to.
//!
//! A live scan hands over the configuration it crawled each account with: the caller's own,
//! or the assumed role's with its own identity cache, which still holds the role's
//! credentials. Reusing it costs no second AssumeRole per account (the SDK's
//! `SharedCredentialsProvider` carries its cache partition, so every client built from the
//! same configuration shares the cached credentials; the end-to-end test counts the
//! AssumeRole calls). A saved inventory brings no credentials: its accounts are reached only
//! as the caller's own (asked of STS) or, when `--role-name` is given, by assuming that role.

use std::collections::BTreeMap;

use aws_config::SdkConfig;

use super::org::{assumed_config, AccountsOptions};
use super::{Connection, Shared};

/// How to reach each account of an inventory.
#[derive(Clone, Default)]
pub struct Sessions {
    /// The caller's own configuration; `None` for connections made without one (tests).
    base: Option<SdkConfig>,
    /// The account the caller's credentials belong to, or why that is unknown.
    caller: Option<Result<String, String>>,
    /// The configuration each account was crawled with.
    reached: BTreeMap<String, SdkConfig>,
    /// For accounts not reached by a crawl: the role to assume there.
    role: Option<AccountsOptions>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("caller", &self.caller)
            .field("reached", &self.reached.keys().collect::<Vec<_>>())
            .field("role", &self.role.as_ref().map(|role| &role.role_name))
            .finish()
    }
}

impl Sessions {
    /// A crawl's: the caller and the configuration each account was crawled with.
    pub(crate) fn of_crawl(
        base: Option<SdkConfig>,
        caller: Result<String, String>,
        reached: BTreeMap<String, SdkConfig>,
    ) -> Sessions {
        Sessions { base, caller: Some(caller), reached, role: None }
    }

    /// For a saved inventory: the caller's configuration and, if given, the role to assume in
    /// every other account. Which account the caller is, [`Sessions::identify`] asks.
    pub fn of_caller(base: SdkConfig, role: Option<AccountsOptions>) -> Sessions {
        Sessions { base: Some(base), caller: None, reached: BTreeMap::new(), role }
    }

    /// Asks STS (GetCallerIdentity) which account the caller's credentials belong to, unless
    /// that is known already.
    pub async fn identify(&mut self) {
        let (Some(base), None) = (&self.base, &self.caller) else { return };
        let caller =
            Connection::for_account(base, "default", 1, &Shared::new(1)).account_id(false, None).await;
        self.caller = Some(caller.map_err(|e| {
            format!("cannot tell which account the credentials belong to: {}: {}", e.code, e.message)
        }));
    }

    /// The caller's own configuration.
    pub fn base(&self) -> Option<&SdkConfig> {
        self.base.as_ref()
    }

    /// The configuration to act in `account_id` with, or why there is none. Building one for
    /// a role makes no call: the role is assumed at the first request, where a failure shows.
    pub async fn config_for(&self, account_id: &str) -> Result<SdkConfig, String> {
        if let Some(config) = self.reached.get(account_id) {
            return Ok(config.clone());
        }
        let base = self.base.as_ref().ok_or("no AWS configuration")?;
        let caller = match &self.caller {
            Some(Ok(caller)) => Some(caller.as_str()),
            Some(Err(why)) if self.role.is_none() => return Err(why.clone()),
            _ => None,
        };
        if caller == Some(account_id) {
            return Ok(base.clone());
        }
        match &self.role {
            Some(role) => Ok(assumed_config(base, account_id, role).await),
            None => Err(match caller {
                Some(caller) => format!(
                    "no credentials for it: the caller's are account {caller}'s, and a saved inventory brings none \
                     (give --role-name to reach the other accounts through that role, as `scan --org` does)"
                ),
                None => "no credentials for it".to_string(),
            }),
        }
    }
}
