"""Validate SARIF files against the SARIF 2.1.0 JSON schema (draft-07).

Usage: python validate_sarif.py SCHEMA FILE...
Prints one line per problem and exits 1 if any file is invalid.
The schema in tests/fixtures/ is the OASIS sarif-schema-2.1.0.json as shipped in the
serde-sarif 0.8.0 crate (src/schema.json, sha256 af47e7b6...5cea).
"""

import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    bad = 0
    for path in sys.argv[2:]:
        for error in validator.iter_errors(json.load(open(path, encoding="utf-8"))):
            bad += 1
            print(f"{path}: {'/'.join(map(str, error.path))}: {error.message}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
