"""A griffe extension for the docs site: Sphinx roles in numpydoc docstrings become cross-references.

The docstrings follow numpydoc, which is written for Sphinx, so they cross-reference with roles such as
``:class:`~hfcore.types.Batch``` or ``:meth:`gv```. mkdocstrings renders Markdown and would print those
roles as they are. This extension, loaded by mkdocstrings' Python handler (``mkdocs.yml``), rewrites each
role into an autorefs link to the object's page before the docstring is parsed:

- the target is resolved as Sphinx does: as a full path, else from the scope of the documented object
  (its members, its module's imports, its parents);
- ``~`` shows only the last component, and functions and methods get ``()``, as in Sphinx;
- the link is *optional*: an object that no page renders (a private helper, another library) shows as
  code instead of a broken link;
- a role whose target does not exist at all is a stale reference, reported as a warning, so
  ``mkdocs build --strict`` fails on it;
- a literal-block marker ``::`` at the end of a line becomes ``:``, as Sphinx prints it.

The source files are not changed: ``help()`` and IDEs still show the numpydoc text.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?P<role>func|meth|class|mod|data|attr|exc|obj|const):`(?P<target>[^`]+)`")
_TYPE_LINE = re.compile(r"^\s*\**\w+(?:, \**\w+)* : .*$", re.MULTILINE)
_LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)
_CALLABLE_ROLES = {"func", "meth"}


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` once the whole package is loaded (so every target exists)."""
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = self._rewrite(obj, obj.docstring.value, loader.modules_collection)
                # The parsed sections are cached; drop any parsed before this point.
                obj.docstring.__dict__.pop("parsed", None)

    def _rewrite(self, obj: griffe.Object, text: str, collection: griffe.ModulesCollection) -> str:
        def link(match: re.Match[str]) -> str:
            role, written = match["role"], match["target"]
            shorten = written.startswith("~")
            target = written.lstrip("~.").removesuffix("()")
            shown = target.rsplit(".", 1)[-1] if shorten else target
            if role in _CALLABLE_ROLES:
                shown += "()"
            path = _resolve(obj, target, collection)
            code = f"<code>{html.escape(shown)}</code>"
            if path is None:
                griffe.logger.warning(
                    "%s:%s: %s: the docstring's :%s:`%s` names nothing that exists",
                    obj.relative_filepath, obj.docstring.lineno, obj.path, role, written,
                )
                return code
            return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

        def plain(match: re.Match[str]) -> str:
            return f"``{match['target'].lstrip('~')}``"

        # A role in a parameter's type (``x : see :func:`f```) is shown as escaped text there: keep it code.
        text = _TYPE_LINE.sub(lambda line: _ROLE.sub(plain, line[0]), text)
        text = _ROLE.sub(link, text)
        return _LITERAL_MARKER.sub(":", text)


def _walk(obj: griffe.Object) -> Any:
    """The object and its own members, recursively, without following aliases (imports)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _lookup(path: str, collection: griffe.ModulesCollection) -> str | None:
    """The canonical path of ``path`` if it names a loaded object, else None."""
    try:
        found = collection[path]
        return found.canonical_path if not found.is_alias else found.final_target.path
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _inherited(obj: griffe.Object, name: str) -> str | None:
    """The path of ``name`` as a member of the nearest enclosing class, inherited members included.

    griffe's own scope resolution sees only the members a class defines; Sphinx also finds inherited ones.
    """
    scope: griffe.Object | None = obj
    while scope is not None and not scope.is_module:
        if scope.is_class:
            try:
                member = scope.all_members.get(name)
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                member = None
            if member is not None:
                return member.path if not member.is_alias else member.target_path
        scope = scope.parent
    return None


def _resolve(obj: griffe.Object, target: str, collection: griffe.ModulesCollection) -> str | None:
    """The full path of a role's target, written in ``obj``'s docstring; None when it names nothing."""
    found = _lookup(target, collection)
    if found is not None:
        return found
    first, _, rest = target.partition(".")
    base = _inherited(obj, first)
    if base is None:
        try:
            base = obj.resolve(first)
        except griffe.NameResolutionError:
            base = None
    if base is not None:
        full = f"{base}.{rest}" if rest else base
        found = _lookup(full, collection)
        if found is not None:
            return found
        if full.split(".", 1)[0] not in collection.members:
            return full  # a name imported from a package that this build did not load: keep its path
    if "." in target and target.split(".", 1)[0] not in collection.members:
        return target  # a full path into a package this build did not load (numpy, or a plugin): unverified
    return None
