"""A docker credential helper for tests: the real protocol, with its store in a JSON file.

Run as ``docker-credential-testhelper <store|get|erase|list>``; the store is the file named by
``TESTHELPER_STORE``. With ``TESTHELPER_FAIL`` set, every action prints the stored secrets (as a
careless helper might) and fails, so tests can check that no secret reaches an error message.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NOT_FOUND = "credentials not found in native keychain"


def main() -> int:
    store_path = Path(os.environ["TESTHELPER_STORE"])
    store = json.loads(store_path.read_text()) if store_path.exists() else {}
    action = sys.argv[1] if len(sys.argv) == 2 else ""
    data = sys.stdin.read()
    if os.environ.get("TESTHELPER_FAIL"):
        leak = " ".join(entry["Secret"] for entry in store.values())
        print(f"backend exploded: {leak} {data}")
        print(f"stderr too: {leak} {data}", file=sys.stderr)
        return 1
    if action == "get":
        if data not in store:
            print(NOT_FOUND)
            return 1
        print(json.dumps(store[data]))
    elif action == "store":
        creds = json.loads(data)
        if not creds.get("ServerURL"):
            print("no credentials server URL")
            return 1
        if not creds.get("Username"):
            print("no credentials username")
            return 1
        store[creds["ServerURL"]] = creds
    elif action == "erase":
        if store.pop(data, None) is None:
            print(NOT_FOUND)
            return 1
    elif action == "list":
        print(json.dumps({url: entry["Username"] for url, entry in store.items()}))
    else:
        print(f"unknown action: {action}")
        return 1
    store_path.write_text(json.dumps(store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
