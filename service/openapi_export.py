"""Write the OpenAPI document to openapi/openapi.json: `python -m service.openapi_export`
(or `make openapi`). A test fails when the committed file differs from the app."""

import json
import sys
from pathlib import Path

from sqlalchemy import create_engine

OUTPUT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def render() -> str:
    from service.app import create_app

    # The document does not depend on the database; an unused in-memory engine keeps the
    # export from touching (or needing) DATABASE_URL.
    app = create_app(create_engine("sqlite://"))
    return json.dumps(app.openapi(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
