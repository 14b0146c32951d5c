"""Command line: parse, then call the library. No logic lives here.

    sigreport run [CONFIG_OR_PRESET] [--set KEY=VALUE]... [--out DIR] [--standalone] [--force]
    sigreport sweep SWEEP [--scheduler ADDRESS] [--workers N] [--out DIR] [--force]
    sigreport site build [--reports DIR] [--out DIR]
    sigreport site serve [--port N]
    sigreport datasets
    sigreport presets

Bad input ends with one line on stderr and exit status 2; a sweep with failed runs
ends with status 1.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sigreport import __version__
from sigreport.errors import SigreportError, printable

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE,
                  printable(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def _build_parser() -> argparse.ArgumentParser:
    from sigreport.sweep import MAX_RUNS

    parser = _Parser(prog="sigreport", description="Activation-path signatures of trained "
                     "classifiers, measured and published as static HTML reports.")
    parser.add_argument("--version", action="version", version=f"sigreport {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="train, measure and write one report")
    run.add_argument("config", nargs="?", default=None,
                     help="a .toml experiment file or a preset name (default: mnist-1-7)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a key; VALUE is a TOML value, e.g. data.classes=[1,3,7]")
    run.add_argument("--out", default="site/reports", metavar="DIR",
                     help="folder that receives <name>/ (default: site/reports)")
    run.add_argument("--standalone", action="store_true",
                     help="inline BokehJS: one self-contained HTML file")
    run.add_argument("--force", action="store_true", help="recompute cached stages")

    sweep = sub.add_parser("sweep", help="run a grid of experiments on a Dask cluster")
    sweep.add_argument("sweep", help="a .toml sweep file or a shipped sweep (see presets)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tcp://host:8786 (default: an "
                       "embedded cluster on this machine)")
    sweep.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes of the embedded cluster (default: one per core)")
    sweep.add_argument("--out", default="site/reports", metavar="DIR",
                       help="folder that receives a <name>/ per run (default: site/reports)")
    sweep.add_argument("--force", action="store_true",
                       help=f"run a grid of more than {MAX_RUNS} runs (the limit without it)")

    site = sub.add_parser("site", help="build or serve the MkDocs site of all reports")
    site_sub = site.add_subparsers(dest="site_command", required=True, parser_class=_Parser)
    build = site_sub.add_parser("build", help="generate pages and build the site into public/")
    build.add_argument("--reports", default="site/reports", metavar="DIR")
    build.add_argument("--out", default="public", metavar="DIR")
    serve = site_sub.add_parser("serve", help="build, then serve the site on 127.0.0.1")
    serve.add_argument("--reports", default="site/reports", metavar="DIR")
    serve.add_argument("--out", default="public", metavar="DIR")
    serve.add_argument("--port", type=int, default=8000)

    sub.add_parser("datasets", help="list the data sources and whether each is available here")
    sub.add_parser("presets", help="list the shipped experiment presets")
    return parser


def _say(line: str) -> None:
    """One line on stderr, with control characters shown as escapes."""
    print(printable(line), file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> None:
    from sigreport.config import load_config
    from sigreport.data import check_data

    config = load_config(args.config, args.overrides)
    check_data(config.data)  # answered before JAX and the stages are imported
    from sigreport.library import prepare_process

    prepare_process()
    from sigreport.pipeline import run

    result = run(config, out=Path(args.out), standalone=args.standalone, force=args.force,
                 progress=True, log=_say)
    print(printable(str(result.folder / "index.html")))


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sigreport.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep, force=args.force)
    outcome = run_sweep(sweep, Path(args.out), scheduler=args.scheduler, n_workers=args.workers,
                        progress=True, log=lambda line: print(line, file=sys.stderr))
    peak = (f"; worker peak memory {max(outcome.worker_peak_mb.values()):,.0f} MB"
            if outcome.worker_peak_mb else "")
    n_runs = f"{len(sweep.runs)} run{'s' if len(sweep.runs) != 1 else ''}"
    print(f"{n_runs}: {len(outcome.done)} done, {len(outcome.skipped)} already "
          f"finished, {len(outcome.failed)} failed{peak}; index {outcome.index}")
    if outcome.failed:
        print(f"sigreport: {len(outcome.failed)} of {len(sweep.runs)} runs failed; the others "
              "are written", file=sys.stderr)
        return 1
    return 0


def _cmd_site(args: argparse.Namespace) -> None:
    from sigreport.report import build_site

    index = build_site(Path(args.reports), out_dir=Path(args.out),
                       warn=lambda msg: _say(f"sigreport: warning: {msg}"))
    print(printable(str(index)))
    if args.site_command == "serve":
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(Path(args.out)))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            print(f"serving {printable(args.out)} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
            server.serve_forever()


def _cmd_datasets(_args: argparse.Namespace) -> None:
    from sigreport.data import describe_sources

    for row in describe_sources():
        print(f"{row['name']:<15} {row['available']:<4} {row['description']}: {row['where']}")


def _cmd_presets(_args: argparse.Namespace) -> None:
    from sigreport.config import list_presets, load_config
    from sigreport.sweep import list_sweep_presets, load_sweep

    for name in list_presets():
        print(f"{name:<18} {load_config(name).title}")
    for name in list_sweep_presets():
        sweep = load_sweep(name, force=True)
        print(f"{name:<18} sweep of {len(sweep.runs)} runs: {sweep.title}")


_COMMANDS = {"run": _cmd_run, "sweep": _cmd_sweep, "site": _cmd_site, "datasets": _cmd_datasets,
             "presets": _cmd_presets}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sigreport`` and ``python -m sigreport``; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        status = _COMMANDS[args.command](args) or 0
    except SigreportError as exc:
        _say(f"sigreport: error: {exc}")
        return EXIT_USAGE
    except OSError as exc:  # the machine's answer (disk full, permissions) after the checks
        from sigreport.store import os_error_line

        _say(f"sigreport: error: {os_error_line(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        kept = ("finished runs are kept; the same command resumes" if args.command == "sweep"
                else "any earlier report is left as it was")
        print(f"sigreport: interrupted; {kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    # What is left is freed at exit without a last traversal of every object (about 1 s
    # after a run).
    gc.freeze()
    return status


if __name__ == "__main__":
    sys.exit(main())
