//! Users' tags, groups and policies in bulk: GetAccountAuthorizationDetails
//! (`Filter=User,Group,LocalManagedPolicy`, the largest page IAM allows), not a ListUserTags
//! call per user. Same limiter, deadline, checked pagination and error rows as every other
//! call; a failure leaves every user's details unknown (`None`), never empty.

use std::collections::HashMap;

use aws_sdk_iam::types::{EntityType, GroupDetail, ManagedPolicyDetail, UserDetail};
use aws_sdk_iam::Client as IamClient;
use tokio::time::Instant;

use super::pagination::{Page, Walk};
use super::{call, pagination_error, Limiter, Wait};
use crate::crawl::errors::error_row;
use crate::model::{ScanError, UserDetails};
use crate::privilege::{self, Grant, Groups, ManagedDocuments};

const OPERATION: &str = "GetAccountAuthorizationDetails";
/// Entities per page: IAM's maximum.
pub(super) const PAGE_SIZE: i32 = 1000;
/// Beyond the users: IAM's quotas of groups (300) and customer managed policies (5,000) per
/// account, what a page count may have to cover.
const OTHER_ENTITIES: usize = 5300;
const EXTRA_PAGES: usize = 5;

/// One page's entities, named for the walk's duplicate check.
enum Entity {
    User(UserDetail),
    Group(GroupDetail),
    Policy(ManagedPolicyDetail),
}

/// An entity with the name the walk's duplicate check knows it by.
struct Named {
    id: String,
    entity: Entity,
}

impl From<Entity> for Named {
    fn from(entity: Entity) -> Named {
        let id = match &entity {
            Entity::User(user) => format!("user:{}", user.user_name().unwrap_or_default()),
            Entity::Group(group) => format!("group:{}", group.group_name().unwrap_or_default()),
            Entity::Policy(policy) => format!("policy:{}", policy.arn().unwrap_or_default()),
        };
        Named { id, entity }
    }
}

/// Every user's details, by user name. `expected_users` (from the summary) bounds the pages.
pub(super) async fn account_details(
    iam: &IamClient,
    permits: &Limiter,
    account: &str,
    deadline: Option<Instant>,
    expected_users: usize,
) -> Result<HashMap<String, UserDetails>, ScanError> {
    let max_pages = (expected_users + OTHER_ENTITIES).div_ceil(PAGE_SIZE as usize) + EXTRA_PAGES;
    let mut walk = Walk::new(max_pages, format!("{expected_users} users, 300 groups and 5,000 policies"));
    let mut marker: Option<String> = None;
    let (mut users, mut groups, mut policies) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let request = iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Group)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(PAGE_SIZE)
            .set_marker(marker.take());
        // A listing too: in an account whose listings go ahead, a page waiting in turn waited
        // behind every ListAccessKeys, to the end of the crawl (2,001 users without keys: the
        // details read at 4.3 s of 4.5, after the last key listing).
        let page = call(permits, Wait::Listing, deadline, || request.send())
            .await
            .map_err(|e| e.row(Some(account), None, None, OPERATION))?;
        let items: Vec<Named> = page
            .user_detail_list()
            .iter()
            .cloned()
            .map(Entity::User)
            .chain(page.group_detail_list().iter().cloned().map(Entity::Group))
            .chain(page.policies().iter().cloned().map(Entity::Policy))
            .map(Named::from)
            .collect();
        let step = walk
            .page(Page { items, is_truncated: page.is_truncated(), marker: page.marker() }, |named| {
                &named.id
            });
        for named in step.fresh {
            match named.entity {
                Entity::User(user) => users.push(user),
                Entity::Group(group) => groups.push(group),
                Entity::Policy(policy) => policies.push(policy),
            }
        }
        match step.next {
            Ok(Some(next)) => marker = Some(next),
            Ok(None) => break,
            Err(problem) => return Err(pagination_error(account, None, OPERATION, &problem)),
        }
    }
    assemble(account, &users, &groups, &policies)
}

/// Turns the listing into each user's details; an entity without its name is malformed.
#[allow(clippy::result_large_err)] // an error row, made at most once per account
fn assemble(
    account: &str,
    users: &[UserDetail],
    groups: &[GroupDetail],
    policies: &[ManagedPolicyDetail],
) -> Result<HashMap<String, UserDetails>, ScanError> {
    let malformed = |what: &str| {
        error_row(Some(account), None, None, OPERATION, "MalformedResponse", format!("{what} without a name"))
    };
    let mut documents = ManagedDocuments::new();
    for policy in policies {
        let arn = policy.arn().ok_or_else(|| malformed("a policy"))?;
        let default = policy.policy_version_list().iter().find(|version| version.is_default_version());
        // No default version document: unreadable, which `privilege` counts as privileged.
        let document = default.and_then(|version| version.document()).unwrap_or_default();
        documents.insert(arn.to_string(), document.to_string());
    }
    let mut group_grants = Groups::new();
    for group in groups {
        let name = group.group_name().ok_or_else(|| malformed("a group"))?;
        let mut grants = managed(group.attached_managed_policies());
        grants.extend(group.group_policy_list().iter().map(|policy| Grant::Inline {
            name: policy.policy_name().unwrap_or_default().to_string(),
            document: policy.policy_document().unwrap_or_default().to_string(),
        }));
        group_grants.insert(name.to_string(), grants);
    }
    let mut details = HashMap::new();
    for user in users {
        let name = user.user_name().ok_or_else(|| malformed("a user"))?;
        let mut grants = managed(user.attached_managed_policies());
        grants.extend(user.user_policy_list().iter().map(|policy| Grant::Inline {
            name: policy.policy_name().unwrap_or_default().to_string(),
            document: policy.policy_document().unwrap_or_default().to_string(),
        }));
        let user_groups: Vec<String> = user.group_list().to_vec();
        let tags = user.tags().iter().map(|tag| (tag.key().to_string(), tag.value().to_string())).collect();
        let privileged_via = privilege::reasons(&grants, &user_groups, &group_grants, &documents);
        details.insert(name.to_string(), UserDetails { tags, groups: user_groups, privileged_via });
    }
    Ok(details)
}

fn managed(policies: &[aws_sdk_iam::types::AttachedPolicy]) -> Vec<Grant> {
    policies
        .iter()
        .map(|policy| Grant::Managed {
            name: policy.policy_name().unwrap_or_default().to_string(),
            arn: policy.policy_arn().unwrap_or_default().to_string(),
        })
        .collect()
}
