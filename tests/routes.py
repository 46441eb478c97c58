"""The app's routes as the route-enumerating suites read them."""

from fastapi.routing import APIRoute


def walk(routes, prefix: str = ""):
    """(full path, route) for app.routes, with included routers opened up (FastAPI >= 0.16x
    keeps them nested)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from walk(included.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route
