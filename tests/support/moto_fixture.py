"""Start moto's IAM server on 127.0.0.1, seed it from a scenario, backdate keys, then wait.

keyaudit's end-to-end tests run the real binary against a real third-party IAM
implementation. moto has no clock API, so this helper runs moto in-process
(ThreadedMotoServer) where it can reach the backend objects and set each key's
`create_date` and `last_used`, which IAM itself would have recorded over months.

Users and keys are created through the IAM Query API (boto3 against the server), exactly as a
client would; only the timestamps are edited in the backend.

Usage: python moto_fixture.py SCENARIO.json
Prints one JSON line on stdout once the server is ready:
  {"endpoint": "http://127.0.0.1:PORT", "account_id": "...", "keys": {alias: key_id},
   "secrets": [every SecretAccessKey created, so tests can prove none leaks],
   "secret_of": {alias: secret}, so a test can sign requests as a key (which marks it used)}
and serves until stdin is closed (the test process exiting closes it).

Scenario: {"members": [{"name": "dev", "users": [...]}] (optional: an Organization with
  member accounts, reported as "accounts": {name: id}),
  "managed_policies": true (optional: moto loads the AWS managed policies, e.g.
  AdministratorAccess; slower to start),
  "groups": [{"name": "admins", "managed": ["arn:aws:iam::aws:policy/AdministratorAccess"],
              "inline": {"name": {policy document}}}] (optional, created before the users),
  "users": [{"name": "alice", "path": "/eng/", "created": "2024-01-01T00:00:00Z",
  "tags": {"owner": "alice@example.com"}, "groups": ["admins"], "inline": {"name": {document}},
  "keys": [{"alias": "a1", "status": "Active", "created": "2026-01-01T00:00:00Z",
            "last_used": "2026-10-30T00:00:00Z" | null, "service": "s3", "region": "eu-west-1"}]}]}
"""

import json
import logging
import os
import sys
from datetime import datetime, timezone

import boto3
from moto.iam.models import AccessKeyLastUsed, iam_backends
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

ACCOUNT_ID = "123456789012"


def naive_utc(text):
    """moto keeps naive UTC datetimes; parse an RFC 3339 instant into one."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        scenario = json.load(handle)

    if scenario.get("managed_policies"):
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # read when the IAM backend starts
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log in test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    session = dict(endpoint_url=endpoint, region_name="us-east-1")
    seeder = dict(aws_access_key_id="AKIAFIXTURESEEDER000", aws_secret_access_key="fixture-seeder-secret")
    keys, secrets, secret_of, accounts = {}, [], {}, {"management": ACCOUNT_ID}

    def seed(iam, account_id, users, groups=()):
        backend = iam_backends[account_id]["global"]
        for group in groups:
            iam.create_group(GroupName=group["name"])
            for arn in group.get("managed", []):
                iam.attach_group_policy(GroupName=group["name"], PolicyArn=arn)
            for name, document in group.get("inline", {}).items():
                iam.put_group_policy(GroupName=group["name"], PolicyName=name, PolicyDocument=json.dumps(document))
        for user in users:
            tags = [{"Key": k, "Value": v} for k, v in user.get("tags", {}).items()]
            iam.create_user(UserName=user["name"], Path=user.get("path", "/"), **({"Tags": tags} if tags else {}))
            for group in user.get("groups", []):
                iam.add_user_to_group(GroupName=group, UserName=user["name"])
            for name, document in user.get("inline", {}).items():
                iam.put_user_policy(UserName=user["name"], PolicyName=name, PolicyDocument=json.dumps(document))
            if "created" in user:
                backend.users[user["name"]].create_date = naive_utc(user["created"])
            for spec in user.get("keys", []):
                created = iam.create_access_key(UserName=user["name"])["AccessKey"]
                key_id = created["AccessKeyId"]
                secrets.append(created["SecretAccessKey"])
                secret_of[spec["alias"]] = created["SecretAccessKey"]
                keys[spec["alias"]] = key_id
                if spec.get("status", "Active") != "Active":
                    iam.update_access_key(UserName=user["name"], AccessKeyId=key_id, Status=spec["status"])
                key = backend.access_keys[key_id]
                if "created" in spec:
                    key.create_date = naive_utc(spec["created"])
                if spec.get("last_used"):
                    key.last_used = AccessKeyLastUsed(
                        timestamp=naive_utc(spec["last_used"]),
                        service=spec.get("service", "iam"),
                        region=spec.get("region", "us-east-1"),
                    )

    seed(boto3.client("iam", **session, **seeder), ACCOUNT_ID, scenario.get("users", []), scenario.get("groups", []))

    members = scenario.get("members", [])
    if members:
        # An Organization with member accounts; each member's IAM is reached the way keyaudit
        # reaches it: by assuming OrganizationAccountAccessRole there.
        orgs = boto3.client("organizations", **session, **seeder)
        orgs.create_organization(FeatureSet="ALL")
        sts = boto3.client("sts", **session, **seeder)
        for member in members:
            status = orgs.create_account(Email=f"{member['name']}@example.com", AccountName=member["name"])
            account_id = status["CreateAccountStatus"]["AccountId"]
            accounts[member["name"]] = account_id
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
            )["Credentials"]
            iam = boto3.client(
                "iam",
                **session,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            seed(iam, account_id, member.get("users", []))

    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "account_id": ACCOUNT_ID,
                "keys": keys,
                "secrets": secrets,
                "secret_of": secret_of,
                "accounts": accounts,
            }
        ),
        flush=True,
    )
    sys.stdin.read()  # serve until the test closes our stdin (or exits)
    server.stop()


if __name__ == "__main__":
    main()
