"""Parse YAML files with PyYAML (safe_load) and print them as one JSON array.

Usage: python read_yaml.py FILE...   (exit 1 with the parser's message if one is not YAML)
GitHub's `on:` key, which YAML 1.1 reads as the boolean true, is printed as "on".
"""

import json
import sys

import yaml


def keys_as_text(value):
    if isinstance(value, dict):
        return {("on" if k is True else str(k)): keys_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys_as_text(v) for v in value]
    return value


print(json.dumps([keys_as_text(yaml.safe_load(open(path, encoding="utf-8"))) for path in sys.argv[1:]]))
