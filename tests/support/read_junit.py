"""Read JUnit XML files with Python's own XML parser (xml.etree) and check their structure.

Usage: python read_junit.py FILE...
Checks, per file: the root is <testsuites>; every <testsuite>'s tests, failures, errors and
skipped attributes equal the counts of its <testcase> children by outcome, and the root's
equal the sums; every testcase has a name and a classname, and names are unique within a
suite; a testcase has at most one outcome element. Prints the parsed suites as JSON (for the
caller's own assertions) and one line per problem on stderr; exit 1 if any.
"""

import json
import sys
import xml.etree.ElementTree as ET

OUTCOMES = ("failure", "error", "skipped")


def main():
    problems = []
    files = []
    for path in sys.argv[1:]:
        root = ET.parse(path).getroot()
        if root.tag != "testsuites":
            problems.append(f"{path}: root is <{root.tag}>, not <testsuites>")
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suites = []
        for suite in root.findall("testsuite"):
            cases = []
            for case in suite.findall("testcase"):
                found = [child for child in case if child.tag in OUTCOMES]
                if len(found) > 1:
                    problems.append(f"{path}: {case.get('name')!r} has {len(found)} outcomes")
                if not case.get("name") or not case.get("classname"):
                    problems.append(f"{path}: a testcase without name or classname")
                outcome = found[0] if found else None
                out = case.find("system-out")
                cases.append({
                    "name": case.get("name"),
                    "classname": case.get("classname"),
                    "outcome": outcome.tag if outcome is not None else "passed",
                    "message": outcome.get("message") if outcome is not None else None,
                    "system_out": out.text if out is not None else None,
                })
            counts = {
                "tests": len(cases),
                "failures": sum(c["outcome"] == "failure" for c in cases),
                "errors": sum(c["outcome"] == "error" for c in cases),
                "skipped": sum(c["outcome"] == "skipped" for c in cases),
            }
            for key, count in counts.items():
                if suite.get(key) != str(count):
                    problems.append(f"{path}: suite {suite.get('name')!r} says {key}={suite.get(key)}, has {count}")
                totals[key] += count
            names = [c["name"] for c in cases]
            if len(set(names)) != len(names):
                problems.append(f"{path}: suite {suite.get('name')!r} repeats test names")
            suites.append({"name": suite.get("name"), **counts, "cases": cases})
        for key, count in totals.items():
            if root.get(key) != str(count):
                problems.append(f"{path}: <testsuites> says {key}={root.get(key)}, its suites have {count}")
        files.append({"path": path, "suites": suites})
    for problem in problems:
        print(problem, file=sys.stderr)
    print(json.dumps(files))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
