"""python -m seqlib.data list | info NAME | fetch NAME|all  (see seqlib.data)."""

from __future__ import annotations

import argparse
import sys

from seqlib.data import registry
from seqlib.data.cache import ChecksumError, DatasetUnavailable


def _print_info(d: dict, indent: str = "") -> None:
    for k, v in d.items():
        if isinstance(v, list):
            print(f"{indent}{k}:")
            for item in v:
                print(f"{indent}  -")
                _print_info(item, indent + "    ")
        elif isinstance(v, dict):
            print(f"{indent}{k}: " + ", ".join(f"{a}={b:,}" if isinstance(b, int) else f"{a}={b}" for a, b in v.items()))
        else:
            print(f"{indent}{k}: {v}")


def main(argv: list[str] | None = None) -> int:
    """python -m seqlib.data list | info NAME | fetch NAME; returns the exit status.

    Bad input (an unknown name) and a dataset that cannot be fetched or is damaged end the
    command with a message naming the argument, status 1; argparse's usage errors exit with 2.
    """
    p = argparse.ArgumentParser(prog="python -m seqlib.data", description="The course's named datasets.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every dataset, with its size and whether it is cached")
    pi = sub.add_parser("info", help="source, licence, citation, size, split and checksums")
    pi.add_argument("name")
    pi.add_argument("--quick", action="store_true", help="do not build the dataset (no content checksum, no split sizes)")
    pf = sub.add_parser("fetch", help="download and verify the archives, then build once")
    pf.add_argument("name", help="a dataset name, or 'all'")
    args = p.parse_args(argv)
    prog = f"{p.prog} {args.command}"

    if args.command != "list" and not (args.command == "fetch" and args.name == "all"):
        try:
            registry.get(args.name)
        except KeyError as e:  # the registry's message lists the known names
            print(f"{prog}: name: {e.args[0]}" + (", or 'all'" if args.command == "fetch" else ""), file=sys.stderr)
            return 1
    try:
        if args.command == "list":
            for name in registry.names():
                ds = registry.get(name)
                ready = all(a.path(name).exists() for a in ds.archives)
                state = "no download" if not ds.archives else ("cached" if ready else "not fetched")
                print(f"{name:15s} {ds.returns:17s} {state:12s} {ds.summary}")
        elif args.command == "info":
            _print_info(registry.info(args.name, compute=not args.quick))
        else:
            targets = registry.names() if args.name == "all" else [args.name]
            for name in targets:
                paths = registry.fetch(name)
                for path in paths:
                    print(f"{name}: {path} (SHA-256 verified)")
                print(f"{name}: ready, content SHA-256 {registry.info(name)['content_sha256']}")
    except (DatasetUnavailable, ChecksumError) as e:  # a source out of reach or a damaged file: what to run is in e
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
