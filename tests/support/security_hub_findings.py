"""Print every finding in moto's Security Hub as a JSON array (GetFindings, every page).

Usage: python security_hub_findings.py ENDPOINT ACCESS_KEY_ID
An independent reader for keyaudit's end-to-end tests: boto3, not keyaudit's own client,
signs as the given key (moto keeps Security Hub's state per account and region) in us-east-1.
"""

import json
import sys

import boto3


def main():
    endpoint, key_id = sys.argv[1], sys.argv[2]
    client = boto3.client(
        "securityhub",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key="test-reader",
    )
    findings = []
    for page in client.get_paginator("get_findings").paginate():
        findings.extend(page["Findings"])
    json.dump(findings, sys.stdout)


main()
