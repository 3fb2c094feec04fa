"""Validate OCSF events (a JSON array per file) against the OCSF schema's source files.

Usage: python validate_ocsf.py SCHEMA_DIR CLASS FILE...
SCHEMA_DIR is a copy of github.com/ocsf/ocsf-schema at a release (tests/fixtures/ has the
files of v1.1.0 that the Findings category needs); CLASS is an event class name such as
`detection_finding`. The class is resolved the way the OCSF server does it: `extends` chains
merged attribute by attribute, `$include` files (profiles count as required only when the event
names them in `metadata.profiles`), attribute types from the dictionary. Every event is checked
for: each required attribute (at every depth, objects resolved the same way), no attribute the
class or object does not define, the data type of each value, enum values, caption/id pairs
(`severity` against `severity_id`), `at_least_one`/`just_one` constraints, and the uids
(category_uid, class_uid = category * 1000 + class, type_uid = class_uid * 100 + activity_id).
Prints one line per problem; exit 1 if any.
"""

import glob
import json
import os
import sys

BASE_TYPES = {"string_t", "integer_t", "long_t", "float_t", "boolean_t", "json_t"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Schema:
    def __init__(self, root):
        self.root = root
        self.dictionary = load(os.path.join(root, "dictionary.json"))
        self.categories = load(os.path.join(root, "categories.json"))["attributes"]
        self.objects = {}
        for path in glob.glob(os.path.join(root, "objects", "*.json")):
            item = load(path)
            self.objects[item["name"]] = item
        self.events = {}
        for path in glob.glob(os.path.join(root, "events", "**", "*.json"), recursive=True):
            item = load(path)
            self.events[item["name"]] = item
        self.types = self.dictionary["types"]["attributes"]

    def attributes(self, item):
        """An event's or object's attributes, with its parents' and includes' merged in."""
        merged = {}
        if item.get("extends"):
            parent = self.events.get(item["extends"]) or self.objects[item["extends"]]
            merged = {name: dict(attr) for name, attr in self.attributes(parent).items()}
        own = dict(item.get("attributes", {}))
        for include in own.pop("$include", []):
            included = load(os.path.join(self.root, include))
            profile = included["name"] if included.get("meta") == "profile" else None
            for name, attr in included["attributes"].items():
                attr = dict(attr)
                if profile:
                    attr["profile"] = profile
                merged.setdefault(name, {}).update(attr)
        for name, attr in own.items():
            merged.setdefault(name, {}).update(attr)
        return merged

    def constraints(self, item):
        found = dict(item.get("constraints", {}))
        if item.get("extends") in self.objects:
            for kind, names in self.constraints(self.objects[item["extends"]]).items():
                found.setdefault(kind, names)
        return found

    def base_type(self, type_name):
        while type_name not in BASE_TYPES:
            type_name = self.types[type_name]["type"]
        return type_name


def check(schema, definition, value, path, profiles, problems):
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object")
        return
    attributes = schema.attributes(definition)
    for name, attr in attributes.items():
        profile = attr.get("profile")
        if attr.get("requirement") == "required" and (profile is None or profile in profiles):
            if name not in value:
                problems.append(f"{path}: missing required {name}")
    for kind, names in schema.constraints(definition).items():
        present = [n for n in names if n in value]
        if kind == "at_least_one" and not present:
            problems.append(f"{path}: needs at least one of {names}")
        if kind == "just_one" and len(present) != 1:
            problems.append(f"{path}: needs exactly one of {names}")
    for name, item in value.items():
        if name not in attributes:
            problems.append(f"{path}: {name} is not an attribute of {definition['name']}")
            continue
        entry = schema.dictionary["attributes"].get(name)
        if entry is None:
            problems.append(f"{path}: {name} is not in the dictionary")
            continue
        attr = {**entry, **attributes[name]}
        if attr.get("is_array"):
            if not isinstance(item, list):
                problems.append(f"{path}.{name}: expected an array")
                continue
            for i, element in enumerate(item):
                check_value(schema, name, attr, element, f"{path}.{name}[{i}]", profiles, problems)
        else:
            check_value(schema, name, attr, item, f"{path}.{name}", profiles, problems)
        enum = attr.get("enum")
        if enum and name.endswith("_id") and isinstance(item, int):
            caption_name = name[: -len("_id")]
            if str(item) not in enum:
                problems.append(f"{path}.{name}: {item} is not one of {sorted(enum)}")
            elif caption_name in value and item != 99 and value[caption_name] != enum[str(item)]["caption"]:
                problems.append(
                    f"{path}.{caption_name}: {value[caption_name]!r} is not the caption of "
                    f"{name} {item} ({enum[str(item)]['caption']!r})"
                )


def check_value(schema, name, attr, value, path, profiles, problems):
    type_name = attr["type"]
    if type_name == "object":
        # OCSF's open object (`unmapped`, `data`): any attributes.
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object")
        return
    if type_name in schema.objects:
        check(schema, schema.objects[type_name], value, path, profiles, problems)
        return
    base = schema.base_type(type_name)
    ok = {
        "string_t": lambda v: isinstance(v, str),
        "integer_t": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long_t": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float_t": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean_t": lambda v: isinstance(v, bool),
        "json_t": lambda v: True,
    }[base](value)
    if not ok:
        problems.append(f"{path}: {value!r} is not a {type_name} ({base})")


def main():
    schema = Schema(sys.argv[1])
    event_class = schema.events[sys.argv[2]]
    category = schema.categories[event_class["category"]]
    class_uid = category["uid"] * 1000 + event_class["uid"]
    problems = []
    for path in sys.argv[3:]:
        events = load(path)
        if not isinstance(events, list):
            problems.append(f"{path}: expected a JSON array of events")
            continue
        for i, event in enumerate(events):
            where = f"{path}[{i}]"
            profiles = set(event.get("metadata", {}).get("profiles", []))
            check(schema, event_class, event, where, profiles, problems)
            if event.get("category_uid") != category["uid"]:
                problems.append(f"{where}: category_uid is not {category['uid']}")
            if event.get("class_uid") != class_uid:
                problems.append(f"{where}: class_uid is not {class_uid}")
            if event.get("type_uid") != class_uid * 100 + event.get("activity_id", -1):
                problems.append(f"{where}: type_uid is not class_uid * 100 + activity_id")
            version = load(os.path.join(sys.argv[1], "version.json"))["version"]
            if event.get("metadata", {}).get("version") != version:
                problems.append(f"{where}: metadata.version is not {version}")
    for problem in problems:
        print(problem)
    print(f"checked {len(sys.argv) - 3} file(s) against OCSF {sys.argv[2]} (class_uid {class_uid})")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
