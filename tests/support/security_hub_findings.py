"""Print every finding in moto's Security Hub as a JSON array (GetFindings, every page).

Usage: python security_hub_findings.py ENDPOINT ACCESS_KEY_ID [ACCOUNT_ID] [--import]
An independent reader for keyaudit's end-to-end tests: boto3, not keyaudit's own client,
signs as the given key (moto keeps Security Hub's state per account and region) in us-east-1.
With ACCOUNT_ID, it first assumes OrganizationAccountAccessRole there and reads as that
account: what that account's own Security Hub holds. With --import, it first imports the
JSON array of findings on stdin (BatchImportFindings) as that account.
"""

import json
import sys

import boto3


def main():
    args = [arg for arg in sys.argv[1:] if arg != "--import"]
    endpoint, key_id = args[0], args[1]
    session = dict(endpoint_url=endpoint, region_name="us-east-1")
    credentials = dict(aws_access_key_id=key_id, aws_secret_access_key="test-reader")
    if len(args) > 2:
        role = f"arn:aws:iam::{args[2]}:role/OrganizationAccountAccessRole"
        assumed = boto3.client("sts", **session, **credentials).assume_role(RoleArn=role, RoleSessionName="reader")
        assumed = assumed["Credentials"]
        credentials = dict(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
        )
    client = boto3.client("securityhub", **session, **credentials)
    if "--import" in sys.argv:
        answer = client.batch_import_findings(Findings=json.load(sys.stdin))
        assert answer["FailedCount"] == 0, answer
    findings = []
    for page in client.get_paginator("get_findings").paginate():
        findings.extend(page["Findings"])
    json.dump(findings, sys.stdout)


main()
