"""`buzzline audience ...`: the audience's NATS cluster for a trial, and the phone page as files.

``cluster`` writes one nats-server config per node (routes, JetStream, a WebSocket listener,
the show and audience accounts) plus ``cluster.json`` and ``audience.toml`` (the audience
adapter's settings), then runs the nodes until Ctrl-C (``--write-only``: just the files).
``page`` copies the phone page with a ``config.json`` naming the nodes, for any static server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from buzzline.errors import UserError, port_number

NAME = "audience"
HELP = "the audience's NATS cluster (configs, a local trial) and the phone page as static files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audience_cmd", metavar="ACTION", required=True)
    c = sub.add_parser(
        "cluster",
        help="write NATS configs for N nodes and run them here until Ctrl-C",
        description=__doc__,
    )
    c.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    c.add_argument("--dir", type=Path, help="where configs and stores go (default: a new temporary one)")
    c.add_argument("--host", default="127.0.0.1", help="address every node listens on (default 127.0.0.1)")
    c.add_argument("--base-port", type=port_number, help="ports from here, 4 a node (default: free ones)")
    c.add_argument("--code", default="", help="join code written into audience.toml (default: a new one)")
    c.add_argument("--write-only", action="store_true", help="write the files and exit")
    p = sub.add_parser("page", help="write the phone page as static files with its config.json")
    p.add_argument("--out", type=Path, required=True, help="directory to write into (created if missing)")
    p.add_argument("--cluster", type=Path, required=True, help="the cluster.json `audience cluster` wrote")


def run(args: argparse.Namespace) -> int:
    if args.audience_cmd == "page":
        return _page(args.out, args.cluster)
    return _cluster(args)


def _cluster(args: argparse.Namespace) -> int:
    from buzzline.adapters.audience_cluster import AudienceCluster, ClusterError, ClusterPlan
    from buzzline.adapters.audience_rules import new_code

    try:
        plan = ClusterPlan.free(args.nodes, args.host, args.base_port)
        workdir = args.dir or Path(tempfile.mkdtemp(prefix="buzzline-audience-"))
        cluster = AudienceCluster(plan, workdir)
        paths = cluster.write()
    except ClusterError as e:
        raise UserError("audience cluster", str(e), "see buzzline audience cluster --help") from None
    except OSError as e:
        raise UserError(
            "audience cluster", f"{args.dir}: {e.strerror or e}", "choose another --dir"
        ) from None
    toml = workdir / "audience.toml"
    toml.write_text(adapter_settings(plan.describe(), args.code or new_code()), encoding="utf-8")
    toml.chmod(0o600)
    for path in (*paths, workdir / "cluster.json", toml):
        print(f"wrote {path}")
    if args.write_only:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        cluster.start()
    except ClusterError as e:
        cluster.stop()
        raise UserError("audience cluster", str(e), "is a port taken? try another --base-port") from None
    print(f"{len(plan.nodes)} NATS nodes up: {', '.join(plan.client_urls())}")
    print(f"phones (WebSocket): {', '.join(plan.ws_urls())}")
    print(f"run the show's side with: buzzline adapter run audience --config {toml} (Ctrl-C stops the nodes)")
    sys.stdout.flush()
    try:
        while all(cluster.alive()):
            time.sleep(0.5)
        down = [n.name for n, up in zip(plan.nodes, cluster.alive(), strict=True) if not up]
        print(f"node {', '.join(down)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


def adapter_settings(info: dict[str, object], code: str) -> str:
    """The audience adapter's TOML settings for a cluster (``buzzline adapter run --config``)."""

    def strings(key: str) -> str:
        value = info[key]
        assert isinstance(value, list)
        return json.dumps([str(v) for v in value])

    return (
        "# the audience adapter's settings, written by buzzline audience cluster\n"
        f"servers = {strings('client_urls')}\n"
        f'user = "{info["show_user"]}"\n'
        f'password = "{info["show_password"]}"\n'
        f'code = "{code}"\n'
        f"replicas = {min(3, len(info['client_urls']))}\n"  # type: ignore[arg-type]
        f"ws_urls = {strings('ws_urls')}\n"
        f"monitor = {strings('monitor_urls')}\n"
        'questions = ["Which planet is largest? | Mars | *Jupiter | Venus | Earth"]\n'
    )


def page_config(info: dict[str, object]) -> dict[str, object]:
    """What the phone page reads from config.json: where to connect, and as whom (public)."""
    return {"servers": info["ws_urls"], "user": info["audience_user"], "password": info["audience_password"]}


def _page(out: Path, cluster_json: Path) -> int:
    try:
        info = json.loads(cluster_json.read_text(encoding="utf-8"))
        config = page_config(info)
    except OSError as e:
        raise UserError(
            "audience page", f"{cluster_json}: {e.strerror or e}", "run buzzline audience cluster"
        ) from None
    except (ValueError, KeyError) as e:
        raise UserError("audience page", f"{cluster_json}: not a cluster.json ({e})", "") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        static = resources.files("buzzline.web") / "static" / "audience"
        with resources.as_file(static) as src:
            shutil.copytree(src, out, dirs_exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise UserError("audience page", f"{out}: {e.strerror or e}", "choose another --out") from None
    print(f"wrote the phone page to {out} (serve it as static files; index.html is the page)")
    return 0
