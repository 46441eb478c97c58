"""The `voucher` command: migrate, serve, create API keys, fill a demo year, reconcile, verify
the audit chain, close a year. See README.md ("Command line") and docs/operations.md.

DATABASE_URL chooses the database (default sqlite:///./voucher.db, relative to the current
directory). Every command but `migrate` refuses a missing or unmigrated database."""

import argparse
import json
import sys


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service import server

    uvicorn.run("service.main:app", host=args.host, port=args.port, workers=args.workers,
                http=server.HTTP, loop=server.LOOP, log_level="info", access_log=False)
    return 0


def _cmd_migrate(_: argparse.Namespace) -> int:
    from service.kit.db import migrate

    migrate()
    print("database migrated to head")
    return 0


def _cmd_create_key(args: argparse.Namespace) -> int:
    from service.auth import service as auth_service
    from service.auth.principal import SYSTEM
    from service.kit.db import make_engine
    from service.uow import run_write

    def create(session):
        key, raw = auth_service.create_key(session, role=args.role, name=args.name,
                                           enterprise_id=args.enterprise_id,
                                           provider_id=args.provider_id,
                                           review_level=args.review_level,
                                           district=args.district,
                                           expires_in_days=args.expires_in_days)
        return key.id, raw

    def create_replacing(session):
        replaced = auth_service.revoke_named(session, role=args.role, name=args.name) \
            if args.replace else []
        return (*create(session), replaced)

    expires = f", expires in {args.expires_in_days} days" if args.expires_in_days else ""
    key_id, raw, replaced = run_write(make_engine(), create_replacing, principal=SYSTEM)
    for old in replaced:
        print(f"revoked {args.role} key {old} (the previous key named {args.name!r})")
    print(f"created {args.role} key {key_id} ({args.name}{expires}); it is shown once:")
    print(raw)
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from service.kit.db import make_engine, snapshot
    from service.reporting.reconciliation import reconcile

    with Session(snapshot(make_engine())) as session:
        result = reconcile(session, args.year)
    for item in result["checks"]:
        mark = "ok  " if item["ok"] else "FAIL"
        print(f"{mark} {item['name']}: expected {item['expected']}, actual {item['actual']}")
        for d in item["discrepancies"][:20]:
            print(f"       {json.dumps(d, ensure_ascii=False, default=str)}")
    print(f"reconciliation of {args.year}: {'clean' if result['ok'] else 'NOT clean'}")
    return 0 if result["ok"] else 1


def _cmd_verify_audit(_: argparse.Namespace) -> int:
    from sqlmodel import Session

    from service.audit import service as audit
    from service.kit.db import make_engine, run_transaction, snapshot

    engine = make_engine()
    with Session(snapshot(engine)) as session:
        result, last_hash = audit.full_verification(session)
    if result["ok"]:  # reconciliation then rehashes only the events after this checkpoint
        run_transaction(engine, lambda s: audit.record_checkpoint(s, seq=result["checked"],
                                                                  hash=last_hash))
        print(f"audit chain intact: {result['checked']} events; checkpoint recorded")
        return 0
    print(f"audit chain BROKEN at seq {result['first_broken_seq']} "
          f"({result['first_broken_id']}): {result['problem']}")
    return 1


def _cmd_close_year(args: argparse.Namespace) -> int:
    from service.auth.principal import SYSTEM
    from service.kit.db import make_engine
    from service.uow import run_write
    from service.years.closing import close_year

    result = run_write(make_engine(), lambda session: close_year(
        session, year=args.year, force=args.force, reason=args.reason), principal=SYSTEM,
        request_id="cli")
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from service.kit.db import make_engine
    from simulation import run_demo
    from service.reporting.budget import budget

    engine = make_engine()
    summary = run_demo(engine, seed=args.seed)
    with Session(engine) as session:
        figures = budget(session, summary["year"])
    print(json.dumps({k: v for k, v in summary.items() if k != "budget"}, ensure_ascii=False))
    print(f"budget {figures['year']}:")
    for key in ("pool_fen", "issued_fen", "returned_fen", "available_fen", "outstanding_fen",
                "redeemed_fen", "payable_fen", "paid_fen", "clawback_fen", "utilisation_bp",
                "projected_redeemed_fen"):
        print(f"  {key:24} {figures[key]:>16,}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voucher", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API and dashboard")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)

    key = sub.add_parser("create-key", help="create an API key and print it")
    key.add_argument("--role", required=True,
                     choices=["admin", "auditor", "provider", "enterprise", "reviewer"])
    key.add_argument("--name", required=True)
    key.add_argument("--enterprise-id")
    key.add_argument("--provider-id")
    key.add_argument("--review-level", choices=["district", "city", "finance"],
                     help="role reviewer: the level of the review chain it acts at")
    key.add_argument("--district", help="a district-level reviewer: its district")
    key.add_argument("--expires-in-days", type=int, metavar="DAYS",
                     help="the key stops working after this many days (default: never)")
    key.add_argument("--replace", action="store_true",
                     help="revoke the keys of this role and name first (`make run` does)")
    key.set_defaults(func=_cmd_create_key)

    rec = sub.add_parser("reconcile", help="reconcile a year; exit 1 when not clean")
    rec.add_argument("--year", type=int, required=True)
    rec.set_defaults(func=_cmd_reconcile)

    sub.add_parser("verify-audit", help="rehash the whole audit chain, record a checkpoint; "
                   "exit 1 when broken").set_defaults(func=_cmd_verify_audit)

    close = sub.add_parser("close-year", help="close a budget year after its deadline")
    close.add_argument("year", type=int)
    close.add_argument("--force", action="store_true", help="close before the deadline")
    close.add_argument("--reason")
    close.set_defaults(func=_cmd_close_year)

    demo = sub.add_parser("demo", help="fill an empty database with a simulated year")
    demo.add_argument("--seed", type=int, default=2026)
    demo.set_defaults(func=_cmd_demo)

    args = parser.parse_args(argv)
    try:
        if args.command != "migrate":
            from service.kit.db import require_migrated

            require_migrated()
        return args.func(args)
    except Exception as exc:
        from service.kit.errors import DomainError

        if isinstance(exc, DomainError):
            print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
