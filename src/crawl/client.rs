//! Building SDK clients from the standard credential chain, with the endpoint override,
//! region fallback, retry and timeout settings in one place.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::Arc;

use aws_sdk_iam::config::retry::{RetryPartition, TokenBucket};

use super::limiter::{Limiter, ThrottleObserver};

use super::errors::scan_error;
use crate::model::ScanError;

/// Where and how to connect. Everything is optional: the SDK's own sources (environment,
/// profile files, SSO, IMDS, `AWS_ENDPOINT_URL[_IAM]`) fill the gaps.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call, first try included.
    pub max_attempts: u32,
    /// The SDK's retry mode. `Adaptive` adds the SDK's own client-side rate limiter on top
    /// of keyaudit's; kept selectable so the benchmark can compare the two.
    pub retry_mode: RetryMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RetryMode {
    #[default]
    Standard,
    Adaptive,
}

/// SDK clients for one account.
#[derive(Clone)]
pub struct Connection {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    /// What the clients were built from (assume-role and Organizations build on it); `None`
    /// for clients made directly (tests).
    pub config: Option<SdkConfig>,
    /// Paces and bounds this account's IAM calls; fed by the IAM client's every attempt.
    pub limiter: Arc<Limiter>,
}

impl Connection {
    pub fn from_config(config: &SdkConfig) -> Connection {
        Connection::for_account(config, "default", DEFAULT_IN_FLIGHT)
    }

    /// Clients whose retry state (token bucket, adaptive limiter) is this account's own.
    /// By default the SDK shares one per service and region across the process, so one
    /// throttled account would slow or starve the others.
    ///
    /// The retry token bucket is unlimited: it exists to stop retry storms against a failing
    /// service, which the limiter already prevents by pacing, and an empty bucket would turn
    /// throttling under load into failed calls (gaps) instead of slower ones.
    pub fn for_account(config: &SdkConfig, account_id: &str, max_in_flight: usize) -> Connection {
        let limiter = Limiter::new(max_in_flight);
        let partition = RetryPartition::custom(format!("keyaudit-iam-{account_id}"))
            .token_bucket(TokenBucket::unlimited())
            .build();
        let iam = aws_sdk_iam::config::Builder::from(config)
            .retry_partition(partition)
            .interceptor(ThrottleObserver(limiter.clone()))
            .interceptor(super::response_check::ResponseCheck)
            .build();
        // STS answers the first call of every scan: when it fails, it is nearly always the
        // endpoint or the credentials, so a few attempts are enough to say so quickly.
        let sts = aws_sdk_sts::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(STS_ATTEMPTS))
            .build();
        Connection {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            config: Some(config.clone()),
            limiter,
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity). Failing here means
    /// nothing can be scanned: bad credentials, an unreachable endpoint, or a denied call.
    pub async fn account_id(&self) -> Result<String, ScanError> {
        match self.sts.get_caller_identity().send().await {
            Ok(identity) => identity.account().map(str::to_string).ok_or_else(|| ScanError {
                account_id: None,
                user_name: None,
                access_key_id: None,
                operation: "GetCallerIdentity".into(),
                code: "MissingAccount".into(),
                message: "STS returned no account id".into(),
            }),
            Err(error) => Err(scan_error(None, None, None, "GetCallerIdentity", &error)),
        }
    }
}

/// Attempts for STS GetCallerIdentity.
const STS_ATTEMPTS: u32 = 3;

/// Calls in flight for clients not built for a crawl (the `keys` commands).
const DEFAULT_IN_FLIGHT: usize = 16;

/// IAM is a global service signed in us-east-1 in the aws partition; STS works there too.
const FALLBACK_REGION: &str = "us-east-1";

pub async fn connect(options: &ConnectOptions) -> Connection {
    let region = RegionProviderChain::first_try(options.region.clone().map(Region::new))
        .or_default_provider()
        .or_else(Region::from_static(FALLBACK_REGION));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(
            match options.retry_mode {
                RetryMode::Standard => RetryConfig::standard(),
                RetryMode::Adaptive => RetryConfig::adaptive(),
            }
            .with_max_attempts(options.max_attempts.max(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(180))
                .build(),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    Connection::from_config(&loader.load().await)
}
