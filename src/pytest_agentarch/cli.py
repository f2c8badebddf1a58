"""`agentarch`: the project's command-line tool, one subcommand per job that is not a pytest session.

`agentarch html REPORT.json -o OUT.html` renders a JSON report; `agentarch merge SHARD.json... -o REPORT.json` makes the
report of a session split with `--agentarch-shard`, gates judged; `agentarch recording pack|unpack DIR` gzips a
recording or undoes it, and `agentarch recording rekey DIR` rewrites an older recording in the current format;
`agentarch local fetch NAME` fetches and verifies a local model's pinned weights; `agentarch plan [PYTEST ARGS]` prints
the runs a session's gates need without running any. `python -m pytest_agentarch` is the same tool.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PROG = 'agentarch'


def _html(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pydantic import ValidationError

    from .reports.html import write_html
    from .reports.report import Report

    try:
        text = args.report.read_text(encoding='utf-8')
    except OSError as exc:
        parser.error(f'cannot read {args.report}: {exc.strerror or exc}')
    try:
        report = Report.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first['loc']) or '(top level)'
        parser.error(
            f'{args.report} is not a pytest-agentarch JSON report of this version ({exc.error_count()} problem(s); '
            f'first at {where}: {first["msg"]}); write it again with --agentarch-json'
        )
    write_html(report, args.output)
    print(f'HTML report written to {args.output}')
    return 0


def _merge(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .reports.html import write_html
    from .reports.markdown import append_markdown, render_markdown
    from .reports.merge import MergeError, exit_status, merge_reports, write_junit
    from .reports.report import write_json
    from .reports.table import render_session

    try:
        merged = merge_reports(args.shards, baseline=args.baseline)
    except MergeError as exc:
        print(f'agentarch merge: error: {exc}', file=sys.stderr)
        return USAGE_ERROR
    report = merged.report
    if report.metadata is not None:
        outputs = {'json': args.output, 'html': args.html, 'markdown': args.md}
        report.metadata.options.update({k: str(v) if v is not None else None for k, v in outputs.items()})
    write_json(report, args.output)
    if args.html is not None:
        write_html(report, args.html)
    if args.md is not None:
        append_markdown(render_markdown(report), args.md, append=False)
    if args.junitxml is not None:
        write_junit(merged, args.junitxml)
    for line in render_session(report, verbose=False):
        print(line)
    for miss in report.gate_misses:
        print(f'gate missed: {miss}')
    for nodeid in merged.failed_tests:
        print(f'failed in its shard: {nodeid}')
    for item in report.missing:
        print(f'missing: {item.nodeid}: {item.reason}')
    if report.stopped_by:
        print(f'session stopped by {report.stopped_by}; {report.not_run} runs not run')
    status = exit_status(merged)
    print(f'merged {len(args.shards)} shard(s) into {args.output}: exit status {status}')
    return status


def _recording(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .requests.recording import FORMAT_VERSION, RecordingError, pack, rekey, unpack

    if not args.directory.is_dir():
        print(f'error: {args.directory} is not a directory', file=sys.stderr)
        return 2
    try:
        if args.action == 'pack':
            packed = pack(args.directory)
            plain_bytes, packed_bytes = sum(p for _, p, _ in packed), sum(g for _, _, g in packed)
            print(f'packed {len(packed)} file(s) under {args.directory}: {plain_bytes:,} bytes -> {packed_bytes:,}')
        elif args.action == 'rekey':
            done = rekey(args.directory)
            older = sum(r.version != FORMAT_VERSION for r in done)
            print(
                f'rekeyed {len(done)} file(s) under {args.directory} to format version {FORMAT_VERSION} '
                f'({older} of an older version; {sum(r.changed for r in done):,} of {sum(r.exchanges for r in done):,} '
                'exchanges got a new key)'
            )
        else:
            print(f'unpacked {len(unpack(args.directory))} file(s) under {args.directory}')
    except RecordingError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


def _local(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .backends.local import LocalModelError, fetch

    try:
        path = fetch(args.name, cache=args.cache_dir, log=lambda m: print(m, file=sys.stderr))
    except LocalModelError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(path)
    return 0


def _plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import pytest

    return int(pytest.main(['--agentarch-plan', *args.pytest_args]))


USAGE_ERROR = 4
"""The exit status of inputs refused (pytest's for a usage error); argparse's own errors exit 2."""

Command = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; each subcommand's `--help` says what it does and what it takes."""
    from .backends.local import WEIGHTS, cache_dir

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    html = commands.add_parser('html', help='render a JSON report (--agentarch-json) as one HTML file')
    html.add_argument('report', type=Path, help='a JSON report written by --agentarch-json')
    html.add_argument('-o', '--output', type=Path, required=True, help='the HTML file to write')
    html.set_defaults(run=_html)

    merge = commands.add_parser(
        'merge',
        help="the report of a session split with --agentarch-shard, from its shards' JSON reports, gates judged",
        description="Recompute every statistic from the shards' per-run records, judge the gates and the baseline "
        'comparison, write the report, and exit as the unsplit session would have: 0, 1 (a gate missed, a test '
        'failed, an item missing, a budget reached, a regression with --fail-on-regression), 2 (a shard was '
        'interrupted), 4 (shards that do not belong together, with the reason).',
    )
    merge.add_argument('shards', type=Path, nargs='+', metavar='SHARD.json', help='one JSON report per shard')
    merge.add_argument('-o', '--output', type=Path, required=True, help='the merged JSON report to write')
    merge.add_argument('--html', type=Path, default=None, help='also write the HTML report')
    merge.add_argument('--md', type=Path, default=None, help='also write the Markdown summary')
    merge.add_argument('--junitxml', type=Path, default=None, help='also write JUnit XML (one test case per item)')
    merge.add_argument(
        '--baseline', type=Path, default=None, help="compare with this report instead of the shards' baseline"
    )
    merge.set_defaults(run=_merge)

    recording = commands.add_parser('recording', help='pack, unpack or rekey a real-model recording')
    recording.add_argument(
        'action',
        choices=('pack', 'unpack', 'rekey'),
        help='pack: <case>.jsonl -> <case>.jsonl.gz; unpack: the reverse; rekey: rewrite an older format version in '
        'the current one, keys computed again from the stored requests (no model needed)',
    )
    recording.add_argument('directory', type=Path, help='the recording directory (--agentarch-record DIR)')
    recording.set_defaults(run=_recording)

    local = commands.add_parser('local', help="the local LLM backend's weights")
    local_commands = local.add_subparsers(dest='local_command', required=True, metavar='ACTION')
    fetch = local_commands.add_parser('fetch', help='download, assemble and verify pinned weights; prints the path')
    fetch.add_argument('name', choices=sorted(WEIGHTS))
    fetch.add_argument('--cache-dir', type=Path, default=None, help=f'default: {cache_dir()}')
    fetch.set_defaults(run=_local)

    plan = commands.add_parser(
        'plan',
        help='the runs the gates need, without running (pytest --agentarch-plan)',
        description='Everything after `plan` is passed to pytest with --agentarch-plan, e.g. '
        '`agentarch plan --arch all --runs 20 --min-determinism 0.9`.',
    )
    plan.add_argument('pytest_args', nargs=argparse.REMAINDER, help='pytest options and paths')
    plan.set_defaults(run=_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit status (2 for a usage error, as argparse does)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # Everything after `plan` is pytest's: argparse would take its options (`--runs 40`) for unknown ones of ours.
    if argv[:1] == ['plan'] and argv[1:2] not in (['-h'], ['--help']):
        return _plan(argparse.Namespace(pytest_args=argv[1:]), parser)
    args = parser.parse_args(argv)
    run: Command = args.run
    return run(args, parser)
