"""The `voucher` command (PRODUCT.md §6)."""

import argparse
import json
import sys


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("service.main:app", host=args.host, port=args.port, workers=args.workers,
                log_level="info", access_log=False)
    return 0


def _cmd_migrate(_: argparse.Namespace) -> int:
    from service.db import migrate

    migrate()
    print("database migrated to head")
    return 0


def _cmd_create_key(args: argparse.Namespace) -> int:
    from service.auth import service as auth_service
    from service.auth.principal import SYSTEM
    from service.audit import service as audit
    from service.db import make_engine, run_transaction

    def create(session):
        key, raw = auth_service.create_key(session, role=args.role, name=args.name,
                                           enterprise_id=args.enterprise_id,
                                           provider_id=args.provider_id)
        audit.seal(session)
        return key.id, raw

    key_id, raw = run_transaction(make_engine(), create, info={"principal": SYSTEM})
    print(f"created {args.role} key {key_id} ({args.name}); it is shown once:")
    print(raw)
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
                     choices=["admin", "auditor", "provider", "enterprise"])
    key.add_argument("--name", required=True)
    key.add_argument("--enterprise-id")
    key.add_argument("--provider-id")
    key.set_defaults(func=_cmd_create_key)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - a CLI reports failures as one line
        from service.errors import DomainError

        if isinstance(exc, DomainError):
            print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
