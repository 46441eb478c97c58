"""Which DomainErrors a route's handler can raise, read from the code
(tests/contract/test_declared_errors.py).

From the handler, follow every function, class and method it names — through lambdas, group
functions passed as arguments and methods called on objects of its module's classes — and collect
each `raise SomeError(...)` of a DomainError subclass. An over-approximation by design: a name
that is only passed along counts as called. The request machinery (authentication, the unit of
work, the database runner, the problem renderers) is not followed: what it can answer is the
same for every route and is declared for all of them (`ambient`)."""

import ast
import functools
import inspect
import sys
import textwrap
import types

from service.kit.errors import DomainError

MACHINERY = ("service.api", "service.uow", "service.kit.db", "service.problems",
             "service.middleware", "service.heavy", "service.metrics", "service.logs")


def _source_tree(obj) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None


def _ours(obj) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module.startswith("service") and not module.startswith(MACHINERY)


def _resolve(node: ast.AST, scope: dict):
    """The object an ast.Name or a dotted ast.Attribute names in `scope`, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        if isinstance(base, (types.ModuleType, type)):
            return getattr(base, node.attr, None)
    return None


def _methods_named(module, name: str) -> list:
    return [getattr(cls, name) for cls in vars(module).values()
            if isinstance(cls, type) and cls.__module__ == module.__name__
            and isinstance(getattr(cls, name, None), types.FunctionType)]


@functools.cache
def raisable(fn) -> frozenset:
    """The DomainError subclasses `fn` (a function or a class) can raise or answer with (a
    group function answers a write with a refusal it constructs instead of raising it)."""
    return frozenset(_walk(fn, set()))


def codes(errors) -> set[str]:
    """The codes of these error classes (a class with several, such as XmlRefused, lists them
    in `codes`)."""
    return {code for e in errors for code in getattr(e, "codes", (e.code,))}


def _walk(fn, seen: set) -> set:
    if fn in seen or not _ours(fn):
        return set()
    seen.add(fn)
    if isinstance(fn, type):
        if issubclass(fn, DomainError):
            return set()
        return set().union(*(_walk(m, seen) for m in vars(fn).values()
                             if isinstance(m, types.FunctionType)))
    tree = _source_tree(fn)
    if tree is None:
        return set()
    module = sys.modules[fn.__module__]
    scope = {**vars(module), **(inspect.getclosurevars(fn).nonlocals
                                 if isinstance(fn, types.FunctionType) else {})}
    return _visit(tree, scope, module, seen)


def _visit(node: ast.AST, scope: dict, module, seen: set) -> set:
    """What a piece of code can raise or answer with; a `try` whose handler swallows an error
    (does not use the caught exception) keeps that error in."""
    if isinstance(node, ast.Try):
        found = set().union(*(_visit(n, scope, module, seen) for n in node.body))
        for handler in node.handlers:
            caught = _resolve(handler.type, scope) if handler.type is not None else BaseException
            if isinstance(caught, type) and not _uses(handler):
                found = {e for e in found if not issubclass(e, caught)}
        rest = [*node.handlers, *node.orelse, *node.finalbody]
        return found.union(*(_visit(n, scope, module, seen) for n in rest))
    found = set()
    if isinstance(node, (ast.Name, ast.Attribute)):
        named = _resolve(node, scope)
        if isinstance(named, type) and issubclass(named, DomainError) and named is not DomainError:
            found.add(named)
        elif isinstance(named, (types.FunctionType, type)):
            found |= _walk(named, seen)
        elif named is None and isinstance(node, ast.Attribute):
            for method in _methods_named(module, node.attr):
                found |= _walk(method, seen)
    for child in ast.iter_child_nodes(node):
        found |= _visit(child, scope, module, seen)
    return found


def _uses(handler: ast.ExceptHandler) -> bool:
    """Whether an except clause passes the error on (re-raises it, or uses the caught name)."""
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise) and node.exc is None:
            return True
        if handler.name and isinstance(node, ast.Name) and node.id == handler.name:
            return True
    return False
