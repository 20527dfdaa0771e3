"""`buzzline firmware release|status|push|rollback`: build signed releases, and update the
podiums over the network through a running host's operator API (docs/firmware.md)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from buzzline.errors import UserError

NAME = "firmware"
HELP = "firmware releases and network updates: release, status, push, rollback"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fw_cmd", metavar="ACTION", required=True)
    r = sub.add_parser("release", help="build the .mpy tree for a board and store it as a signed release")
    r.add_argument("--board", required=True, choices=("esp32", "picow", "unix"), help="board profile")
    r.add_argument(
        "--version", required=True, dest="fw_version", help="release version, e.g. 0.2.0 (1-16 chars)"
    )
    r.add_argument(
        "--key", required=True, help="the studio key: studio.key or the broker config folder holding it"
    )
    r.add_argument("--store", default="releases", help="release store folder (default ./releases)")
    r.add_argument(
        "--from", dest="checkout", default=None, help="Buzzline checkout to build (default this one)"
    )
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    for name, text in (
        ("status", "each podium's release, update availability, progress and outcome"),
        ("push", "update podiums to a release (idle only: the host refuses during a question)"),
        ("rollback", "switch podiums back to their previous release"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--api", default="http://127.0.0.1:8080", help="the host's operator API (default %(default)s)"
        )
        p.add_argument(
            "--token", default=os.environ.get("BUZZLINE_TOKEN"), help="operator token ($BUZZLINE_TOKEN)"
        )
        p.add_argument("--json", action="store_true", help="print the answer as JSON")
        if name != "status":
            p.add_argument("podiums", nargs="*", help="podium ids (default: every podium that said hello)")
        if name == "push":
            p.add_argument(
                "--release", help="version or manifest digest (default: the newest for each board)"
            )


def _release(args: argparse.Namespace) -> int:
    from buzzline.commands.flash import ROOT, FlashError, build, stage
    from buzzline.ota.release import BOOT_FILES, ReleaseError, ReleaseStore, read_key

    try:
        key = read_key(args.key)
        files = [
            f
            for f in stage(args.board, root=Path(args.checkout) if args.checkout else ROOT)
            if f.dest not in BOOT_FILES
        ]
        with tempfile.TemporaryDirectory(prefix="buzzline-release-") as tmp:
            build(files, Path(tmp))
            manifest, added = ReleaseStore(args.store).add(Path(tmp), args.board, args.fw_version, key)
    except (ReleaseError, FlashError) as e:
        raise UserError("firmware release", str(e)) from None
    digest = manifest.digest
    if args.json:
        out = {
            "digest": digest,
            "board": args.board,
            "version": args.fw_version,
            "files": len(manifest.files),
        }
        print(json.dumps({**out, "bytes": manifest.total(), "bytes_added": added}))
    else:
        print(f"release {args.fw_version} for {args.board}: {digest}")
        print(f"  {len(manifest.files)} files, {manifest.total()} bytes, {added} bytes new in {args.store}")
    return 0


def _api(args: argparse.Namespace, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    url = args.api.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("content-type", "application/json")
    if args.token:
        req.add_header("authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except urllib.error.HTTPError as e:
        try:
            why = json.loads(e.read()).get("error", e.reason)
        except ValueError:
            why = e.reason
        hint = "give --token or set BUZZLINE_TOKEN" if e.code == 401 else ""
        raise UserError(f"firmware {args.fw_cmd}", str(why), hint) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"firmware {args.fw_cmd}",
            f"no host at {args.api}: {reason}",
            "start `buzzline host --http PORT --releases DIR`",
        ) from None


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'podium':<10} {'release':<12} {'step':<11} {'progress':<9} {'outcome':<8} available")
    for r in rows:
        rel = f"{r['ver'] or '?'}" + (f" {r['rel'][:8]}" if r["rel"] else " flashed")
        pct = f"{r['pct']}%" if r["pct"] is not None else ""
        avail = r["available"]
        print(
            f"{r['id']:<10} {rel:<12} {r['step'] or '-':<11} {pct:<9} {r['err'] or '':<8} "
            f"{avail['version'] + ' ' + avail['digest'][:8] if avail else '-'}"
        )


def run(args: argparse.Namespace) -> int:
    if args.fw_cmd == "release":
        return _release(args)
    if args.fw_cmd == "status":
        answer = _api(args, "/api/fleet", None)
    else:
        body: dict[str, Any] = {"podiums": args.podiums}
        if args.fw_cmd == "push" and args.release:
            body["release"] = args.release
        answer = _api(args, f"/api/fleet/{args.fw_cmd}", body)
    if args.json:
        print(json.dumps(answer))
    else:
        print_rows(answer["podiums"])
    return 0
