"""Mixed load: searches (wrk, in the background) while documents are
uploaded, replaced and deleted; afterwards every document must be intact.

usage: mixed.py URL DATA_DIR SECONDS BODIES_FILE LUA_SCRIPT

Uploads copies of the files in DATA_DIR under new names (`load-<round>-<name>`),
replaces some with changed content, deletes a few, and at the end checks
through the API that: every expected document is listed with the right byte
count; its full text, fetched with /api/passage, equals what was uploaded;
deleted ones are gone; the original documents are unchanged. Cleans up its
uploads. Exit status 1 when anything is wrong. Standard library only.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

KEY = os.environ.get("TINGWEN_API_KEY", "")


def call(url, method="GET", body=None, timeout=300):
    headers = {"Authorization": f"Bearer {KEY}"} if KEY else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.load(response)


def upload(base, name, data):
    return call(f"{base}/api/documents?name={urllib.parse.quote(name)}", "POST", data)


def full_text(base, doc_id, length):
    query = urllib.parse.urlencode({"doc_id": doc_id, "start": 0, "end": length, "context": 0})
    return call(f"{base}/api/passage?{query}")[1]["text"]


def main():
    base, data_dir, seconds, bodies, lua = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    originals = {}
    for name in sorted(os.listdir(data_dir)):
        with open(os.path.join(data_dir, name), "rb") as handle:
            originals[name] = handle.read()

    env = dict(os.environ, LOAD_PATH="/api/search", LOAD_BODIES=bodies)
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c4", f"-d{seconds}s", "--latency", "-s", lua, base],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )

    expected, deleted, failures, timings = {}, set(), [], []
    deadline = time.monotonic() + seconds
    round_number = 0
    while time.monotonic() < deadline:
        for name, data in originals.items():
            if time.monotonic() >= deadline:
                break
            doc_id = f"load-{round_number}-{name}"
            content = data + f"\n\nload test round {round_number}\n".encode()
            started = time.monotonic()
            try:
                status, summary = upload(base, doc_id, content)
                timings.append(time.monotonic() - started)
                if summary.get("status") != "added":
                    failures.append(f"{doc_id}: first upload was {summary.get('status')}")
                expected[doc_id] = content
                if round_number % 2 == 1:  # replace it with different content
                    content = content + b"replaced\n"
                    status, summary = upload(base, doc_id, content)
                    if summary.get("status") != "replaced":
                        failures.append(f"{doc_id}: re-upload was {summary.get('status')}")
                    expected[doc_id] = content
                if round_number % 3 == 2:  # and delete some
                    call(f"{base}/api/documents/{urllib.parse.quote(doc_id)}", "DELETE")
                    deleted.add(doc_id)
                    expected.pop(doc_id)
            except (urllib.error.URLError, OSError, ValueError) as error:
                failures.append(f"{doc_id}: {error}")
        round_number += 1
    wrk_output, _ = wrk.communicate()

    listing = {doc["doc_id"]: doc for doc in call(f"{base}/api/documents")[1]["documents"]}
    checked = 0
    for doc_id, content in list(expected.items()) + list(originals.items()):
        text = content.decode("utf-8")
        doc = listing.get(doc_id)
        if doc is None:
            failures.append(f"{doc_id}: missing from the list")
            continue
        if doc.get("bytes") is not None and doc["bytes"] != len(text.encode()):
            failures.append(f"{doc_id}: listed with {doc['bytes']} bytes, uploaded {len(content)}")
        if full_text(base, doc_id, len(text.encode())) != text:
            failures.append(f"{doc_id}: stored text differs from the upload")
        checked += 1
    for doc_id in deleted:
        if doc_id in listing:
            failures.append(f"{doc_id}: deleted but still listed")
    for doc_id in expected:  # clean up
        call(f"{base}/api/documents/{urllib.parse.quote(doc_id)}", "DELETE")

    result = [line for line in wrk_output.splitlines() if line.startswith("RESULT")]
    print("\n".join(result) if result else wrk_output)
    timings.sort()
    if timings:
        print(f"UPLOADS count={len(timings)} p50_ms={1000 * timings[len(timings) // 2]:.1f} "
              f"max_ms={1000 * timings[-1]:.1f} rounds={round_number}")
    print(f"INTEGRITY documents_checked={checked} deleted_checked={len(deleted)} failures={len(failures)}")
    for failure in failures[:20]:
        print("  FAIL", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
