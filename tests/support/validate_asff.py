"""Validate ASFF files (JSON arrays of findings) against Security Hub's own API model.

Usage: python validate_asff.py FILE...
Each file must be a valid `Findings` list of a BatchImportFindings request as botocore's
service model for Security Hub describes it (the model the AWS SDKs are generated from):
every required member, no unknown member, types, enums, length and size limits, at any
depth. On top of the model, the attributes the Security Hub user guide lists as required for
every finding ("Required top-level ASFF attributes": the model leaves Severity and Types
optional for the API), the length limits the API reference states, and timestamp formats. Prints one line per problem; exit 1 if any.
"""

import json
import re
import sys

import botocore.session

# Security Hub user guide, "Required top-level ASFF attributes".
REQUIRED_TOP_LEVEL = [
    "AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn",
    "Resources", "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt",
]
# Limits the API reference (AwsSecurityFinding) states and the model does not carry.
DOC_LIMITS = {
    ("Id",): 512, ("GeneratorId",): 512, ("Title",): 256, ("Description",): 1024,
    ("Remediation", "Recommendation", "Text"): 512, ("Note", "Text"): 512,
    ("Resources",): 32, ("Types",): 50, ("ProductFields",): 50,
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")
TIMESTAMP_FIELDS = {"CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"}


def check(shape, value, path, problems):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object")
            return
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}: missing required {name}")
        for name, item in value.items():
            if name not in shape.members:
                problems.append(f"{path}: unknown member {name}")
                continue
            check(shape.members[name], item, f"{path}.{name}", problems)
            if name in TIMESTAMP_FIELDS and not TIMESTAMP.match(str(item)):
                problems.append(f"{path}.{name}: not an ASFF timestamp: {item!r}")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        limits(shape, len(value), path, problems)
        for i, item in enumerate(value):
            check(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map")
            return
        limits(shape, len(value), path, problems)
        for key, item in value.items():
            check(shape.key, key, f"{path} key {key!r}", problems)
            check(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string")
            return
        limits(shape, len(value), path, problems)
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not one of {shape.enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(f"{path}: {value!r} does not match {pattern}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer")
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: expected a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean")
    else:
        problems.append(f"{path}: unhandled shape type {kind}")


def limits(shape, size, path, problems):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.append(f"{path}: size {size} under the minimum {low}")
    if high is not None and size > high:
        problems.append(f"{path}: size {size} over the maximum {high}")


def main():
    model = botocore.session.get_session().get_service_model("securityhub")
    findings_shape = model.operation_model("BatchImportFindings").input_shape.members["Findings"]
    problems = []
    for path in sys.argv[1:]:
        findings = json.load(open(path, encoding="utf-8"))
        check(findings_shape, findings, path, problems)
        for i, finding in enumerate(findings if isinstance(findings, list) else []):
            for name in REQUIRED_TOP_LEVEL:
                if name not in finding:
                    problems.append(f"{path}[{i}]: missing {name} (required by the user guide)")
            for keys, limit in DOC_LIMITS.items():
                value = finding
                for key in keys:
                    value = value.get(key) if isinstance(value, dict) else None
                if value is not None and len(value) > limit:
                    problems.append(f"{path}[{i}].{'.'.join(keys)}: {len(value)} over the limit {limit}")
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
