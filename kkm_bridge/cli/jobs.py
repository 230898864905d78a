"""`kkm-bridge jobs`: look at the journal's jobs and record an operator's decision about one.

    kkm-bridge jobs list --config /etc/kkm-bridge/config.toml          # jobs left in_progress (default)
    kkm-bridge jobs list --state failed --state accepted --device kkm1 --json
    kkm-bridge jobs resolve CHK... --done-document 1234 --note "found on the tape, receipt 17"
    kkm-bridge jobs resolve CHK... --failed "paper jammed before printing; customer paid again"

Why: after a crash, recovery compares what the worker recorded before sending a job (the device's last
document number...) with what the device says now. When the two contradict each other (the document counter
went back, another document appeared in between, the totals differ) printing again could duplicate a sale and
failing could lose a printed one, so the worker leaves the job ``in_progress`` and logs "needs an operator".
A person then looks at the device's tape or fiscal storage and says what happened: the job's document is
number N (``--done-document N``), or nothing was printed (``--failed REASON``). The decision is written to the
journal with an audit note (who, when, why), in one transaction.

The journal is the daemon's own file (``<state_dir>/journal.sqlite3``); this command opens it as a second
connection, which SQLite's locking makes safe while the daemon runs. Clients polling the check's status see
the decision at once; a running daemon's worker forgets the parked job on its next start.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kkm_bridge.journal import Job

STATES = ("accepted", "in_progress", "done", "failed")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("jobs", help="List journalled jobs; resolve ones recovery left for an operator.",
                       description="List journalled jobs and record an operator's decision about a job that "
                       "recovery could not decide (left in_progress).")
    actions = p.add_subparsers(dest="jobs_command", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", metavar="FILE", help="TOML configuration (its state_dir holds the journal)")
        q.add_argument("--state-dir", metavar="DIR", help="the daemon's state directory (overrides the config)")

    ls = actions.add_parser("list", help="list jobs (default: in_progress, the ones recovery may leave)")
    common(ls)
    ls.add_argument("--state", action="append", choices=STATES, metavar="STATE",
                    help=f"only jobs in this state ({', '.join(STATES)}); repeat for several (default in_progress)")
    ls.add_argument("--device", metavar="ID", help="only jobs of this device")
    ls.add_argument("--limit", type=int, default=100, metavar="N", help="at most N jobs, newest first (100)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    ls.set_defaults(func=run_list)

    rs = actions.add_parser("resolve", help="record what happened to a job left in_progress")
    common(rs)
    rs.add_argument("job_id", metavar="JOB_ID")
    decision = rs.add_mutually_exclusive_group(required=True)
    decision.add_argument("--done-document", type=int, metavar="N",
                          help="the job's fiscal document is number N on the device: mark it done")
    decision.add_argument("--failed", metavar="REASON", help="nothing was printed for it: mark it failed")
    rs.add_argument("--note", metavar="TEXT", help="more words for the audit trail (e.g. where the document was found)")
    rs.add_argument("--operator", metavar="NAME", help="who decides (default: the login name)")
    rs.set_defaults(func=run_resolve)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _journal_path(args: argparse.Namespace) -> Path:
    """The daemon's journal file: from --state-dir, else the config's state_dir, else the default one."""
    from kkm_bridge.config import default_state_dir, load_config

    if args.state_dir:
        return Path(args.state_dir).expanduser().resolve() / "journal.sqlite3"
    if args.config:
        return load_config(args.config).journal_path
    return default_state_dir() / "journal.sqlite3"


def _open(args: argparse.Namespace) -> Any:
    from kkm_bridge.journal import Journal

    path = _journal_path(args)
    if not path.exists():
        # Opening would create an empty journal: almost certainly the wrong directory.
        raise FileNotFoundError(f"no journal at {path} (check --config / --state-dir)")
    return Journal.open(path)


def _row(job: Job) -> dict[str, Any]:
    preflight = job.preflight
    extra = dict(preflight.extra) if preflight is not None else {}
    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "device_id": job.device_id,
        "state": job.state.value,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(timespec="seconds"),
        "updated_at": job.updated_at.isoformat(timespec="seconds"),
        "preflight_last_document": preflight.last_document_number if preflight is not None else None,
        "expected_kind": extra.get("expected_kind"),
        "expected_total_minor": extra.get("expected_total"),
        "document_number": job.document_number,
        "error_code": job.error_code,
        "error_message": job.error_message,
    }


def run_list(args: argparse.Namespace) -> int:
    from kkm_bridge.journal import JobState, JournalError
    from kkm_bridge.model.errors import ConfigError

    states = [JobState(s) for s in (args.state or ["in_progress"])]
    try:
        with _open(args) as journal:
            jobs = journal.list_jobs(device_id=args.device, state=states, limit=args.limit)
    except (ConfigError, OSError, JournalError) as exc:
        print(f"kkm-bridge jobs list: {exc}", file=sys.stderr)
        return 2
    rows = [_row(job) for job in jobs]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no jobs in state {', '.join(s.value for s in states)}")
        return 0
    columns = ("job_id", "kind", "device_id", "state", "attempts", "updated_at", "preflight_last_document",
               "expected_kind", "expected_total_minor", "error_code")
    table = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in table)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for line in table:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    return 0


def run_resolve(args: argparse.Namespace) -> int:
    from kkm_bridge.journal import InvalidTransition, JobNotFound, JournalError
    from kkm_bridge.model.errors import ConfigError

    failed = args.failed is not None
    extra = (args.note or "").strip()
    if failed:
        reason = args.failed.strip()
        note = f"{reason} - {extra}" if reason and extra else reason or extra
    else:
        note = extra or f"document {args.done_document} identified as the job's by the operator"
    if not note:
        print("kkm-bridge jobs resolve: --failed needs a reason (it goes to the job's audit trail)", file=sys.stderr)
        return 2
    operator = args.operator or _login()
    try:
        with _open(args) as journal:
            job = journal.resolve_by_operator(args.job_id, operator=operator, note=note,
                                              document_number=args.done_document, failed=failed)
    except JobNotFound:
        print(f"kkm-bridge jobs resolve: no job {args.job_id!r} in the journal", file=sys.stderr)
        return 1
    except InvalidTransition as exc:
        print(f"kkm-bridge jobs resolve: job {args.job_id} is {exc.from_state}; only a job left in_progress "
              "can be resolved by an operator", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"kkm-bridge jobs resolve: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, OSError, JournalError) as exc:
        print(f"kkm-bridge jobs resolve: {exc}", file=sys.stderr)
        return 2
    outcome = f"done (document {job.document_number})" if job.state.value == "done" else "failed"
    print(f"job {job.job_id} marked {outcome} by {operator}")
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "operator"
