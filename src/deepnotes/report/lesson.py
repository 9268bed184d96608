"""The lesson's parts of a book section: the code, read from the package, and the math.

`excerpt("deepnotes.arith.conv_output_size")` finds the function or class by its dotted name
and reads its source and first line at build time, so the page shows the code as it is, not
a copy that could drift from it. `highlight` colours it with Pygments, numbering the lines
as in the file. `typeset` turns a LaTeX formula into MathML (latex2mathml), which the
browser draws with its own fonts: no script, no font and nothing else from a network.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from latex2mathml.converter import convert
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import deepnotes
from deepnotes.errors import UserError

PACKAGE_ROOT = Path(deepnotes.__file__).resolve().parent.parent  # holds the `deepnotes` folder


@dataclass(frozen=True)
class Excerpt:
    """The source of one function or class: its dotted name, `file:line` and text."""

    name: str
    file: str  # relative to the folder that holds the package, e.g. "deepnotes/arith.py"
    line: int
    source: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def resolve(dotted: str) -> object:
    """The object a dotted name names: the longest importable module prefix, then its
    attributes ("deepnotes.nn.batchnorm.BatchNorm2d.forward")."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found: object = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is None or not f"{module}.".startswith(f"{error.name}."):
                raise  # a module that exists failed to import one of its own
            continue
        for attribute in parts[cut:]:
            try:
                found = getattr(found, attribute)
            except AttributeError:
                raise UserError(f"{dotted}: {attribute} not found") from None
        return found
    raise UserError(f"{dotted}: no such module")


def excerpt(dotted: str) -> Excerpt:
    """The source of the function or class `dotted`, with where it starts in its file."""
    found = inspect.unwrap(resolve(dotted))
    lines, first = inspect.getsourcelines(found)
    file = Path(inspect.getsourcefile(found)).resolve()
    return Excerpt(dotted, file.relative_to(PACKAGE_ROOT).as_posix(), first, "".join(lines))


@dataclass(frozen=True)
class Definition:
    """A public function or class of the package, for the book's reference page."""

    name: str  # dotted, "deepnotes.arith.conv_output_size"
    kind: str  # "function" or "class"
    signature: str
    summary: str  # the first line of its docstring
    where: str  # file:line


@functools.cache
def public_definitions() -> tuple[Definition, ...]:
    """Every public function and class the package defines (the command line aside), module
    by module: what a reader can import and call. Read once per process (1.6 s), since the
    package's source does not change under a running program."""
    found = []
    for module in package_modules(deepnotes, leave_out={"deepnotes.cli"}):
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if name.startswith("_") or not defined_here:
                continue
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            doc = inspect.getdoc(value) or ""
            try:
                code = excerpt(f"{module.__name__}.{name}")
            except (OSError, TypeError):  # made at run time: no source to point to
                continue
            found.append(
                Definition(
                    code.name,
                    "class" if inspect.isclass(value) else "function",
                    signature_text(value),
                    doc.splitlines()[0] if doc else "",
                    code.where,
                )
            )
    return tuple(found)


def package_modules(package: ModuleType, leave_out: set[str]) -> list[ModuleType]:
    """The public modules of `package` and its subpackages, imported, depth first; the
    packages in `leave_out` are not imported at all (`pkgutil.walk_packages` would)."""
    modules = [package]
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        if info.name in leave_out or info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        modules += package_modules(module, leave_out) if info.ispkg else [module]
    return modules


class AnnotationText:
    """An annotation kept as the text it was written as (`from __future__ import
    annotations`), shown without the quotes `inspect` puts around a string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def signature_text(value: object) -> str:
    """`(i: int, k: int, s: int = 1) -> int`; empty where Python cannot read a signature."""
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return ""

    def shown(annotation: object) -> object:
        return AnnotationText(annotation) if isinstance(annotation, str) else annotation

    def default(value: object) -> object:  # a function by its name, not its address
        named = value is not inspect.Parameter.empty and (
            inspect.isroutine(value) or inspect.isclass(value)
        )
        return AnnotationText(value.__qualname__) if named else value

    parameters = [
        p.replace(annotation=shown(p.annotation), default=default(p.default))
        for p in signature.parameters.values()
    ]
    return str(
        signature.replace(
            parameters=parameters, return_annotation=shown(signature.return_annotation)
        )
    )


FORMATTER_OPTIONS = {"cssclass": "code", "linenos": "inline", "wrapcode": True}


def highlight(code: Excerpt) -> str:
    """The excerpt as highlighted HTML, its lines numbered as in its file."""
    formatter = HtmlFormatter(**FORMATTER_OPTIONS, linenostart=code.line)
    return pygments_highlight(code.source, PythonLexer(), formatter)


def highlight_styles() -> str:
    """The CSS of the highlighting: Pygments' light style, and a dark one for a dark system."""
    light = HtmlFormatter(**FORMATTER_OPTIONS, style="default").get_style_defs(".code")
    dark = HtmlFormatter(**FORMATTER_OPTIONS, style="monokai").get_style_defs(".code")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


def typeset(latex: str) -> str:
    """A display formula as MathML (no namespace URL: HTML needs none, and the page names no
    address outside itself)."""
    mathml = convert(latex, display="block")
    return mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "", 1)
