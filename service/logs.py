"""JSON structured logs, and auditing of authentication throttling."""

import json
import logging
import sys

from fastapi import Request


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            payload = json.loads(message) if message.startswith("{") else {"message": message}
        except ValueError:
            payload = {"message": message}
        payload = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                   "level": record.levelname.lower(), "logger": record.name, **payload}
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(json_logs: bool) -> None:
    root = logging.getLogger("service")
    if getattr(root, "_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    root._configured = True


def record_auth_block(client: str, request: Request) -> None:
    from service.audit import service as audit
    from service.auth.principal import Principal
    from service.uow import run_write

    anonymous = Principal(key_id="anonymous", name="anonymous", role="anonymous")
    run_write(request.app.state.engine, lambda session: audit.record(
        session, action="auth.throttle", object_type="client", object_id=client[:60],
        summary={"path": request.url.path, "reason": "repeated failed authentication"}),
        principal=anonymous, request_id=getattr(request.state, "request_id", None))
