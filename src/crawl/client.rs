//! Building SDK clients from the standard credential chain, with the endpoint override,
//! region fallback, retry and timeout settings in one place.

use std::time::Duration;

use tokio::time::Instant;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::Arc;

use aws_sdk_iam::config::retry::{RetryPartition, TokenBucket};

use super::limiter::{Budget, Limiter, PacedRetry, ThrottleObserver};

use super::errors::{deadline_row, scan_error};
use super::within;
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
    /// Calls in flight across every account at once (0: [`DEFAULT_TOTAL_IN_FLIGHT`]).
    pub total_concurrency: usize,
}

/// What every account's clients of one scan share: the budget of calls in flight (and so of
/// connections, since all clients share one HTTP connection pool), and STS's limiter (STS
/// counts the caller's AssumeRole and GetCallerIdentity calls against one quota).
#[derive(Debug, Clone)]
pub struct Shared {
    pub budget: Arc<Budget>,
    pub sts: Arc<Limiter>,
}

impl Shared {
    pub fn new(total_in_flight: usize) -> Shared {
        let total = if total_in_flight == 0 { DEFAULT_TOTAL_IN_FLIGHT } else { total_in_flight };
        Shared { budget: Budget::new(total), sts: Limiter::open(STS_IN_FLIGHT) }
    }
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
    pub shared: Shared,
}

impl Connection {
    pub fn from_config(config: &SdkConfig, shared: Shared) -> Connection {
        Connection::for_account(config, "default", DEFAULT_IN_FLIGHT, &shared)
    }

    /// Clients whose retry state (token bucket, adaptive limiter) is this account's own.
    /// By default the SDK shares one per service and region across the process, so one
    /// throttled account would slow or starve the others.
    ///
    /// The retry token bucket is unlimited: it exists to stop retry storms against a failing
    /// service, which the limiter already prevents by pacing, and an empty bucket would turn
    /// throttling under load into failed calls (gaps) instead of slower ones.
    pub fn for_account(
        config: &SdkConfig,
        account_id: &str,
        max_in_flight: usize,
        shared: &Shared,
    ) -> Connection {
        let limiter = Limiter::with_budget(max_in_flight, Some(shared.budget.clone()));
        let partition = RetryPartition::custom(format!("keyaudit-iam-{account_id}"))
            .token_bucket(TokenBucket::unlimited())
            .build();
        let iam = aws_sdk_iam::config::Builder::from(config)
            .retry_partition(partition)
            .interceptor(ThrottleObserver(limiter.clone()))
            .retry_classifier(PacedRetry)
            .interceptor(super::response_check::ResponseCheck)
            .build();
        // STS answers the first call of every scan: when it fails, it is nearly always the
        // endpoint or the credentials, so a few attempts are enough to say so quickly.
        let sts_partition =
            RetryPartition::custom("keyaudit-sts").token_bucket(TokenBucket::unlimited()).build();
        let sts = aws_sdk_sts::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(STS_ATTEMPTS))
            .retry_partition(sts_partition)
            .interceptor(ThrottleObserver(shared.sts.clone()))
            .retry_classifier(PacedRetry)
            .build();
        Connection {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            config: Some(config.clone()),
            limiter,
            shared: shared.clone(),
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity). Failing here means
    /// nothing can be scanned: bad credentials, an unreachable endpoint, or a denied call.
    ///
    /// Paced by STS's limiter. With assumed-role credentials this call is also what makes the
    /// credentials provider call AssumeRole (its own STS client, which keyaudit cannot
    /// observe), so `assumed` takes a second paced place for it, both at once.
    ///
    /// Bounded by `deadline` (the scan's `--deadline`), the wait for STS's limiter included:
    /// past it the account is a `DeadlineExceeded` row, named after the call that would have
    /// come first (AssumeRole for an assumed role).
    pub async fn account_id(&self, assumed: bool, deadline: Option<Instant>) -> Result<String, ScanError> {
        let answer = within(deadline, async {
            let _permit = self.shared.sts.acquire_many(if assumed { 2 } else { 1 }).await;
            self.sts.get_caller_identity().send().await
        })
        .await;
        let Some(answer) = answer else {
            let operation = if assumed { "AssumeRole" } else { "GetCallerIdentity" };
            return Err(deadline_row(None, operation));
        };
        match answer {
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

/// Calls in flight across all accounts of a scan, by default: at IAM's ~50 ms that is up to
/// ~5,000 calls a second over at most this many connections, far beyond any account's limit,
/// and it keeps a 1,000-account scan within the machine's sockets.
pub const DEFAULT_TOTAL_IN_FLIGHT: usize = 256;

/// STS calls in flight (GetCallerIdentity and the AssumeRole behind it, per account). This
/// also staggers the accounts' starts: at 64, a 1,000-account scan started every account
/// within 4 s and took 27.8 s and 420 MiB on 2 cores; at 16, 16.5 s and 222 MiB (measured).
const STS_IN_FLIGHT: usize = 16;

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
    let loader = loader.http_client(shared_http_client());
    Connection::from_config(&loader.load().await, Shared::new(options.total_concurrency))
}

/// One HTTPS client for every SDK client of the process, built as the SDK builds its default
/// one (rustls with aws-lc, proxy settings from the environment). Left to themselves, the
/// SDK's clients each make their own, so an Organization of 1,000 accounts would open 1,000
/// connection pools; shared, every account's calls reuse the same connections, which the
/// [`Budget`] bounds.
fn shared_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(move |settings, runtime_components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
