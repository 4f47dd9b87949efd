"""Reading a git repository's files without running git: the work tree that holds a path,
HEAD's commit and branch (loose and packed refs, linked work trees), and the remote URL
from the config file.

Parsed files are cached by their stat signature (:mod:`._file_cache`), so a second run in
the same repository costs a few ``stat`` calls. Repositories whose refs are in the binary
reftable format are read by running git (:func:`._git_state.read_head_reftable`).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from labtrack.tracking.context import _file_cache

_OID_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_PER_WORKTREE_REF_PREFIXES = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")


@dataclass(frozen=True)
class Repo:
    """A git work tree and where its git files are."""

    worktree: str  # top directory of the work tree
    gitdir: str  # this work tree's git directory (HEAD, index)
    commondir: str  # the git directory shared by all work trees (refs, packed-refs, config)


def find_repo_for(entry_path: str | None) -> Repo | None:
    """The work tree holding the entry point, else the one holding the working directory."""
    starts: list[str] = []
    if entry_path:
        starts.append(entry_path if os.path.isdir(entry_path) else os.path.dirname(entry_path))
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted
        cwd = None
    if cwd and cwd not in starts:
        starts.append(cwd)
    for start in starts:
        repo = _find_repo(start)
        if repo is not None:
            return repo
    return None


def _find_repo(start: str) -> Repo | None:
    directory = os.path.abspath(start)
    while True:
        dotgit = os.path.join(directory, ".git")
        try:
            mode: int | None = os.stat(dotgit).st_mode
        except OSError:
            mode = None
        if mode is not None:
            gitdir: str | None = None
            if stat.S_ISDIR(mode):
                gitdir = dotgit
            elif stat.S_ISREG(mode):  # a linked work tree or submodule: "gitdir: <path>"
                content = _file_cache.read_small(dotgit) or ""
                if content.startswith("gitdir:"):
                    target = content[len("gitdir:") :].strip()
                    gitdir = os.path.normpath(os.path.join(directory, target))
            if gitdir and os.path.isfile(os.path.join(gitdir, "HEAD")):
                return Repo(directory, gitdir, _common_dir(gitdir))
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _common_dir(gitdir: str) -> str:
    target = _file_cache.read_small(os.path.join(gitdir, "commondir"))
    if not target:
        return gitdir
    return os.path.normpath(os.path.join(gitdir, target))


def is_oid(text: str) -> bool:
    return _OID_RE.fullmatch(text) is not None


def uses_reftable(repo: Repo) -> bool:
    """Whether the refs are in reftable files, which :func:`read_head` cannot read."""
    return os.path.isdir(os.path.join(repo.commondir, "reftable"))


def read_head(repo: Repo) -> tuple[str | None, str | None]:
    """(commit, branch) of HEAD; branch is None when HEAD is detached."""
    head = _file_cache.read_small(os.path.join(repo.gitdir, "HEAD"))
    if not head:
        return None, None
    if is_oid(head):
        return head, None
    if not head.startswith("ref:"):
        return None, None
    ref = head[len("ref:") :].strip()
    branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
    return _resolve_ref(repo, ref), branch


def _resolve_ref(repo: Repo, ref: str) -> str | None:
    for _ in range(5):  # a symbolic ref may point to another one
        parts = ref.split("/")
        if not ref.startswith("refs/") or any(p in ("", ".", "..") for p in parts):
            return None
        base = repo.gitdir if ref.startswith(_PER_WORKTREE_REF_PREFIXES) else repo.commondir
        content = _file_cache.read_small(os.path.join(base, *parts))
        if content is None:  # not a loose ref: look in packed-refs
            packed = _file_cache.cached_parse(
                os.path.join(repo.commondir, "packed-refs"), _parse_packed_refs
            )
            return packed.get(ref) if packed else None
        if content.startswith("ref:"):
            ref = content[len("ref:") :].strip()
            continue
        return content if is_oid(content) else None
    return None


def _parse_packed_refs(text: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in "#^":  # header, or the peeled target of the tag above
            continue
        oid, _, name = line.partition(" ")
        if name and is_oid(oid):
            refs[name.strip()] = oid
    return refs


def remote_url(repo: Repo) -> str | None:
    """The URL of remote "origin", else of the first remote (MLflow takes the first one)."""
    urls = _file_cache.cached_parse(os.path.join(repo.commondir, "config"), _parse_remote_urls)
    if not urls:
        return None
    url = urls.get("origin") or next(iter(urls.values()))
    return strip_url_credentials(url)


def strip_url_credentials(url: str) -> str:
    """Drop the user name and password from a URL: ``https://u:t@host/x`` -> ``https://host/x``.

    Like MLflow, only URLs with a scheme are changed; ``git@host:org/repo.git`` is returned
    as is.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return url
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    netloc = rest[:end]
    if "@" not in netloc:
        return url
    return f"{scheme}://{netloc.rpartition('@')[2]}{rest[end:]}"


def _parse_remote_urls(text: str) -> dict[str, str]:
    """``{remote name: first url}`` in the order of the config file."""
    urls: dict[str, str] = {}
    for section, subsection, key, value in _parse_git_config(text):
        if section == "remote" and key == "url" and subsection is not None:
            urls.setdefault(subsection, value)
    return urls


_CONFIG_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


def _parse_git_config(text: str) -> list[tuple[str, str | None, str, str]]:
    """(section, subsection, key, value) of each variable in a git config file.

    Section and key names are lowercased; subsections keep their case. Includes are not
    followed.
    """
    entries: list[tuple[str, str | None, str, str]] = []
    lines = text.splitlines()
    section, subsection = "", None
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if line.startswith("["):
            header = _parse_section_header(line)
            if header is None:
                section, subsection = "", None
                continue
            section, subsection, line = header
            line = line.strip()
        if not line or line[0] in "#;":
            continue
        match = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*(=?)", line)
        if match is None:
            continue
        key = match.group(1).lower()
        if not match.group(2):
            value = "true"  # "key" alone is a boolean
        else:
            value, index = _parse_config_value(line[match.end() :], lines, index)
        if section:
            entries.append((section, subsection, key, value))
    return entries


def _parse_section_header(line: str) -> tuple[str, str | None, str] | None:
    """Parse ``[name "sub"]`` / ``[name.sub]`` / ``[name]``; returns (name, sub, rest of line)."""
    match = re.match(r"\[([A-Za-z0-9.-]+)", line)
    if match is None:
        return None
    name, position = match.group(1), match.end()
    subsection: str | None = None
    if position < len(line) and line[position] in " \t":
        position += len(line[position:]) - len(line[position:].lstrip(" \t"))
        if position >= len(line) or line[position] != '"':
            return None
        position += 1
        chars: list[str] = []
        while position < len(line) and line[position] != '"':
            if line[position] == "\\" and position + 1 < len(line):
                position += 1
            chars.append(line[position])
            position += 1
        if position >= len(line):
            return None
        subsection = "".join(chars)
        position += 1
    elif "." in name:  # deprecated [section.subsection] syntax
        name, _, subsection = name.partition(".")
        subsection = subsection.lower()
    if position >= len(line) or line[position] != "]":
        return None
    return name.lower(), subsection, line[position + 1 :]


def _parse_config_value(rest: str, lines: list[str], index: int) -> tuple[str, int]:
    out: list[str] = []
    pending_space = ""
    in_quotes = False
    rest = rest.lstrip()
    position = 0
    while True:
        if position >= len(rest):
            break
        char = rest[position]
        if char == "\\":
            if position + 1 >= len(rest):  # line continuation
                if index >= len(lines):
                    break
                rest, position, index = lines[index], 0, index + 1
                continue
            out.append(pending_space)
            pending_space = ""
            following = rest[position + 1]
            out.append(_CONFIG_ESCAPES.get(following, following))
            position += 2
            continue
        if char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char in "#;":
            break
        elif not in_quotes and char in " \t":
            pending_space += char
        else:
            out.append(pending_space)
            pending_space = ""
            out.append(char)
        position += 1
    return "".join(out), index
