"""What a caller trusts when loading a model: pickles, and which types a skops file may hold.

Loading a pickle (or cloudpickle) file runs whatever code the file says, so
labtrack loads one only when the caller says so: ``trust_pickle=True`` or
``LABTRACK_TRUST_PICKLE=1``. skops files hold no code, only names of types and
functions to rebuild; labtrack rebuilds the classes of scikit-learn, NumPy and
SciPy (and those a flavor adds, e.g. LightGBM's) and nothing else unless the
caller lists it in ``trusted_types``. The list of trusted types an ``MLmodel``
file carries is not used: a file cannot vouch for itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from labtrack.errors import PermissionDenied

__all__ = ["TRUST_PICKLE_ENV", "Trust", "UntrustedModelError", "load_skops", "skops_untrusted"]

TRUST_PICKLE_ENV = "LABTRACK_TRUST_PICKLE"
#: Packages whose classes a skops file may hold without being listed by the caller.
DEFAULT_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")


class UntrustedModelError(PermissionDenied):
    """A model file needs more trust than the caller gave (a pickle, or an unknown type)."""


@dataclass(frozen=True)
class Trust:
    """What the caller of a load trusts.

    ``pickle``: pickle and cloudpickle files may be loaded. ``types``: fully qualified
    names of extra types and functions a skops file may hold. ``everything``: the
    files were just written by this process (reading back a model while saving it).
    """

    pickle: bool = False
    types: tuple[str, ...] = ()
    everything: bool = False

    @classmethod
    def from_args(
        cls, trust_pickle: bool | None = None, trusted_types: Iterable[str] | None = None
    ) -> Trust:
        if trust_pickle is None:
            from labtrack.config import settings

            trust_pickle = bool(settings.get("trust_pickle"))
        names = tuple(t if isinstance(t, str) else _qualified_name(t) for t in trusted_types or ())
        return cls(pickle=bool(trust_pickle), types=names)

    def require_pickle(self, file: str, what: str) -> None:
        """Raise unless pickles are trusted; ``file`` is the model file, ``what`` its format."""
        if self.pickle or self.everything:
            return
        raise UntrustedModelError(
            f"Refusing to load {file}: it is a {what} file, and loading one runs any code "
            "the file contains. Load it only if you trust where the model comes from: pass "
            f"trust_pickle=True to load_model, or set {TRUST_PICKLE_ENV}=1."
        )


def _qualified_name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def _is_trusted_class(name: str, packages: tuple[str, ...]) -> bool:
    """True for a class (not a function) defined in one of ``packages``."""
    module_name, _, attr = name.rpartition(".")
    if not module_name or module_name.split(".")[0] not in packages:
        return False
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return isinstance(getattr(module, attr, None), type)


def skops_untrusted(
    file: str, trust: Trust, extra_packages: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """(types this trust allows, types it does not) among those skops does not trust itself."""
    import skops.io

    packages = DEFAULT_TRUSTED_PACKAGES + extra_packages
    allowed, refused = [], []
    for name in skops.io.get_untrusted_types(file=file):
        if trust.everything or name in trust.types or _is_trusted_class(name, packages):
            allowed.append(name)
        else:
            refused.append(name)
    return allowed, refused


def load_skops(file: str, trust: Trust, extra_packages: tuple[str, ...] = ()) -> object:
    """Load a skops file, rebuilding only the types ``trust`` allows."""
    from labtrack.models._dependencies import require

    require(
        "skops.io",
        purpose=f"Loading {file} (a skops file)",
        install='pip install "labtrack[sklearn]" (or pip install skops)',
    )
    import skops.io

    allowed, refused = skops_untrusted(file, trust, extra_packages)
    if refused:
        packages = ", ".join(DEFAULT_TRUSTED_PACKAGES + extra_packages)
        raise UntrustedModelError(
            f"Refusing to load {file}: it holds types that are not trusted by default "
            f"(classes of {packages}): {refused}. If you trust where the model comes from, "
            f"pass them to load_model: trusted_types={refused!r}"
        )
    return skops.io.load(file, trusted=allowed)
