"""`buzzline adapters list|show`: the adapter kinds installed, and each kind's settings."""

from __future__ import annotations

import argparse
import json
import sys

NAME = "adapters"
HELP = "list the installed adapter kinds (built-in and third-party) and their settings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="adapters_cmd", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every installed adapter kind, with the package that provides it")
    ls.add_argument("--json", action="store_true", help="machine-readable, with each kind's schema")
    show = sub.add_parser("show", help="one kind's settings: type, default, range, choices, help")
    show.add_argument("kind")
    show.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from buzzline.adapters.runner import AdapterError, kind_infos, load_kind

    if args.adapters_cmd == "list":
        infos = kind_infos()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "kind": i.kind,
                            "title": i.title,
                            "package": i.source,
                            "schema": [f.describe() for f in i.schema],
                        }
                        for i in infos
                    ],
                    indent=2,
                )
            )
            return 0
        if not infos:
            print("no adapter kinds installed")
        width = max((len(i.kind) for i in infos), default=4)
        for i in infos:
            print(f"{i.kind:<{width}}  {i.title}  [{i.source}]")
        return 0
    try:
        cls = load_kind(args.kind)
    except AdapterError as e:
        print(f"buzzline adapters show: {e}", file=sys.stderr)
        return 2
    fields = [f.describe() for f in cls.CONFIG_SCHEMA]
    if args.json:
        print(json.dumps({"kind": args.kind, "title": cls.TITLE, "schema": fields}, indent=2))
        return 0
    print(f"{args.kind}: {cls.TITLE or cls.__doc__ or ''}".rstrip())
    if not fields:
        print("  (no settings)")
    for f in fields:
        extra = []
        if f.get("required"):
            extra.append("required")
        else:
            extra.append(f"default {json.dumps(f['default'])}")
        if "min" in f or "max" in f:
            extra.append(f"range {f.get('min', '')}..{f.get('max', '')}")
        if "choices" in f:
            extra.append("one of " + ", ".join(f["choices"]))
        print(f"  {f['name']} ({f['type']}; {'; '.join(extra)})")
        if f["help"]:
            print(f"      {f['help']}")
    return 0
